"""SOQL query execution with query locators: results are snapshotted once and paged by position."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.org import Org
from crmsync.emulators.salesforce.soql_exec import Compiler, id_filter, modstamp_floor
from crmsync.emulators.salesforce.soql_parse import parse

DEFAULT_BATCH = 2000
MAX_OPEN_LOCATORS = 1000


@dataclass(slots=True)
class Locator:
    """A snapshot of one query's result ids, paged by offset until it expires."""

    object_name: str
    ids: list[str]
    render: Callable[[StoredRecord], dict[str, Any]]
    batch: int
    expires_ms: int
    endpoint: str
    version: str


class QueryEngine:
    def __init__(self, org: Org, ttl_s: int) -> None:
        self.org = org
        self.ttl_ms = ttl_s * 1000
        self.locators: dict[str, Locator] = {}
        self._counter = itertools.count(1)

    def reset(self) -> None:
        self.locators.clear()

    def run(self, text: str, *, include_deleted: bool, version: str, batch: int, endpoint: str) -> dict[str, Any]:
        query = parse(text)
        org = self.org
        obj = org.object(query.sobject)
        if obj is None:
            raise SfError(
                400,
                "INVALID_TYPE",
                f"\n{text}\n{' ' * max(text.lower().find(query.sobject.lower()), 0)}^\nERROR at Row:1:Column:"
                f"{text.lower().find(query.sobject.lower()) + 1}\nsObject type '{query.sobject}' is not supported. "
                "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        today = org.store.clock.now().date()
        compiler = Compiler(org, obj, today)
        render = compiler.projection(query.fields, version) if not query.count else None
        predicate = compiler.predicate(query.where) if query.where is not None else None
        for item in query.order:
            compiler.resolve(item.path)  # field errors surface before any work
        candidates = self._candidates(obj.name, query.where, include_deleted)
        start = query.offset or 0
        stop = None if query.limit is None else start + query.limit
        if query.order:
            matched = [r for r in candidates if predicate is None or predicate(r)]
            compiler.sort(matched, query)
            ids = [r.id for r in matched[start:stop]]
        else:
            ids = []
            seen = 0
            for record in candidates:
                if predicate is not None and not predicate(record):
                    continue
                seen += 1
                if seen > start:
                    ids.append(record.id)
                if stop is not None and seen >= stop:
                    break
        if query.count:
            return {"totalSize": len(ids), "done": True, "records": []}
        assert render is not None
        locator = Locator(obj.name, ids, render, batch, org.store.clock.now_ms() + self.ttl_ms, endpoint, version)
        return self._page(locator, None, 0)

    def more(self, locator_id: str, offset: int) -> dict[str, Any]:
        locator = self.locators.get(locator_id)
        now = self.org.store.clock.now_ms()
        if locator is None or locator.expires_ms <= now or offset < 0 or offset > len(locator.ids):
            self.locators.pop(locator_id, None)
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        locator.expires_ms = now + self.ttl_ms
        return self._page(locator, locator_id, offset)

    def _page(self, locator: Locator, locator_id: str | None, offset: int) -> dict[str, Any]:
        ids = locator.ids
        end = min(offset + locator.batch, len(ids))
        stored = self.org.coll(locator.object_name).records  # deleted ones too: the snapshot decides
        render = locator.render
        records = []
        for rid in ids[offset:end]:
            record = stored.get(rid)
            if record is not None:
                records.append(render(record))
        page: dict[str, Any] = {"totalSize": len(ids), "done": end >= len(ids)}
        if end < len(ids):
            if locator_id is None:
                locator_id = self._new_locator_id()
                self._remember(locator_id, locator)
            page["nextRecordsUrl"] = f"/services/data/{locator.version}/{locator.endpoint}/{locator_id}-{end}"
        elif locator_id is not None:
            self.locators.pop(locator_id, None)
        page["records"] = records
        return page

    def _remember(self, locator_id: str, locator: Locator) -> None:
        if len(self.locators) >= MAX_OPEN_LOCATORS:
            oldest = next(iter(self.locators))
            del self.locators[oldest]
        self.locators[locator_id] = locator

    def _new_locator_id(self) -> str:
        n = next(self._counter)
        return f"0r8dM{n:010d}AAA"[:15] + "AAA" if n < 10**10 else f"0r8{n}"

    def _candidates(self, name: str, where: Any, include_deleted: bool) -> Iterator[StoredRecord]:
        coll = self.org.coll(name)
        ids = id_filter(where)
        if ids is not None:
            for rid in ids:
                record = coll.get(rid, include_deleted=include_deleted)
                if record is not None:
                    yield record
            return
        floor = modstamp_floor(where)
        if floor is not None:
            stamp, inclusive = floor
            for record in coll.changed_since(stamp, inclusive=inclusive):
                if include_deleted or not record.deleted:
                    yield record
            return
        yield from coll.scan(include_deleted=include_deleted)
