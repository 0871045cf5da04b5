"""`POST /crm/v3/objects/{type}/search`: offset paging over a result list computed once per query."""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.params import json_object, object_type_param, str_list
from crmsync.emulators.hubspot.render import RecordView
from crmsync.emulators.hubspot.routes_objects import OBJECT_PREFIXES
from crmsync.emulators.hubspot.schema import ObjectType
from crmsync.emulators.hubspot.search import compile_search, run

MAX_LIMIT = 200
MAX_RESULTS = 10_000
_CACHE_SIZE = 64


class SearchRoutes:
    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx
        # (type, query without paging) -> (write counter when computed, ordered ids, when a hidden write shows)
        self._cache: OrderedDict[tuple[str, bytes], tuple[int, list[str], int | None]] = OrderedDict()

    def routes(self) -> list[BaseRoute]:
        return [Route(f"{p}/{{object_type}}/search", self.search, methods=["POST"]) for p in OBJECT_PREFIXES]

    def clear(self) -> None:
        self._cache.clear()

    async def search(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.search")
        body = await json_object(request)
        limit = _int(body.get("limit"), "limit", 10)
        if limit < 0 or limit > MAX_LIMIT:
            raise errors.validation(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
        after = _int(body.get("after"), "after", 0)
        if after < 0:
            raise errors.validation("after must not be negative")
        if after >= MAX_RESULTS:
            raise errors.validation(
                f"Paging past {MAX_RESULTS} results is not supported (after={after}); narrow the query."
            )
        properties = body.get("properties")
        view = RecordView(self.ctx.portal, ot, None if properties is None else str_list(properties, "properties"))
        ids = self._result_ids(ot, body)
        page_ids = ids[after : after + limit]
        coll = self.ctx.portal.collection(ot)
        records = [coll.records[i] for i in page_ids]
        note(request, records=len(records))
        result: dict[str, Any] = {"total": len(ids), "results": [view.render(r) for r in records]}
        if after + limit < len(ids):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(result)

    def _result_ids(self, ot: ObjectType, body: dict[str, Any]) -> list[str]:
        key_body = {k: v for k, v in body.items() if k in ("filterGroups", "sorts", "query")}
        key = (ot.name, orjson.dumps(key_body, option=orjson.OPT_SORT_KEYS))
        writes = self.ctx.portal.writes[ot.name]
        lag = self.ctx.config.search_index_lag_ms
        now = self.ctx.portal.store.clock.now_ms() if lag else 0
        cached = self._cache.get(key)
        if cached is not None and cached[0] == writes and (cached[2] is None or now < cached[2]):
            self._cache.move_to_end(key)
            return cached[1]
        compiled = compile_search(ot, self.ctx.portal.catalog.of(ot), body)
        coll = self.ctx.portal.collection(ot)
        candidates: Iterable[StoredRecord]
        if compiled.since_ms is not None:
            # An incremental read ("modified since T") walks the change log, not the whole collection.
            candidates = coll.changed_since(compiled.since_ms)
        else:
            candidates = coll.scan()
        pending: list[int] = []
        if lag:
            candidates = _indexed(candidates, lag, now, pending)
        ids = run(compiled, ot, candidates)  # run() skips archived records
        self._cache[key] = (writes, ids, min(pending) if pending else None)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return ids


def index_delay_ms(record: StoredRecord, lag_ms: int) -> int:
    """How long after its stamp this write reaches the search index: a share of the lag that varies per
    write, so writes are indexed out of stamp order, as HubSpot's eventually consistent index does."""
    return zlib.crc32(f"{record.id}:{record.version}".encode()) % (lag_ms + 1)


def _indexed(records: Iterable[StoredRecord], lag_ms: int, now_ms: int, pending: list[int]) -> Iterator[StoredRecord]:
    """The records whose last write the index holds by now; when each of the others will show goes in `pending`
    (a write not indexed yet hides the record, as a new one is hidden: its old version has an older stamp)."""
    for record in records:
        shows = record.modified_ms + index_delay_ms(record, lag_ms)
        if shows <= now_ms:
            yield record
        else:
            pending.append(shows)


def _int(raw: Any, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise errors.validation(f"Invalid input JSON: {name} must be a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise errors.validation(f"Invalid input JSON: {name} must be a number, got {raw!r}")
