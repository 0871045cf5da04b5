"""Collection reads: filtering, ordering, `$top`, `$count`, and paging by cookie without re-scanning."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.odata_filter import getter
from crmsync.emulators.dynamics.options import QueryOptions, make_skiptoken, parse_skiptoken
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import DataverseState

COUNT_CAP = 5000


@dataclass(slots=True)
class Page:
    records: list[StoredRecord]
    next_skiptoken: str | None
    count: int | None = None
    count_capped: bool = False
    carry: str = ""  # travels unchanged in every cookie of one paged read (the track-changes start token)


def _matches(state: DataverseState, table: Table, options: QueryOptions) -> Iterator[StoredRecord]:
    """Matching live records: from the change log when a top-level `modifiedon gt/ge` allows it."""
    collection = state.collection(table)
    compiled = options.filter
    if compiled is None:
        yield from collection.scan()
        return
    predicate = compiled.predicate
    if compiled.modified_since is not None:
        since, inclusive = compiled.modified_since
        found = [
            r for r in collection.changed_since(since, inclusive=inclusive) if r.deleted_ms is None and predicate(r)
        ]
        found.sort(key=lambda r: r.id)
        yield from found
        return
    for record in collection.scan():
        if predicate(record):
            yield record


def sorted_ids(state: DataverseState, table: Table, options: QueryOptions) -> list[str]:
    records = list(_matches(state, table, options))
    # Stable multi-pass sort, last key first; NULLs first ascending as SQL Server sorts them.
    for column, descending in reversed(options.orderby):
        get = getter(column)
        text = column.type in ("String", "Memo", "EntityName")

        def key(record: StoredRecord, get: Any = get, text: bool = text) -> tuple[int, Any]:
            value = get(record)
            if value is None:
                return (0, 0)
            return (1, value.lower() if text else value)

        records.sort(key=key, reverse=descending)
    return [r.id for r in records]


def _count(state: DataverseState, table: Table, options: QueryOptions) -> tuple[int, bool]:
    if options.filter is None:
        total = len(state.collection(table))
        return min(total, COUNT_CAP), total > COUNT_CAP
    total = 0
    for _ in _matches(state, table, options):
        total += 1
        if total > COUNT_CAP:
            return COUNT_CAP, True
    return total, False


def read_page(state: DataverseState, table: Table, options: QueryOptions, page_size: int, *, tracking: bool) -> Page:
    collection = state.collection(table)
    page_number = 1
    payload: str | None = None
    carry = ""
    if options.skiptoken is not None:
        page_number, payload = parse_skiptoken(options.skiptoken)
        payload, _, carry = payload.partition("~")
    count: int | None = None
    capped = False
    if options.count:
        count, capped = _count(state, table, options)
    if options.top is not None:
        limit = min(options.top, COUNT_CAP)
        ids = sorted_ids(state, table, options) if options.orderby else None
        if ids is not None:
            chosen = [collection.get(i) for i in ids[:limit]]
            return Page([r for r in chosen if r is not None], None, count, capped)
        records: list[StoredRecord] = []
        for record in _matches(state, table, options):
            if len(records) >= limit:
                break
            records.append(record)
        return Page(records, None, count, capped)
    if options.orderby or (options.filter is not None and options.filter.modified_since is not None):
        page = _snapshot_page(state, table, options, page_size, page_number, payload, count, capped, tracking)
    else:
        page = _positional_page(state, table, options, page_size, page_number, payload, count, capped, tracking)
    page.carry = carry
    return page


def with_carry(token: str | None, carry: str) -> str | None:
    """Re-issue a cookie with the carried value appended to its payload."""
    if token is None or not carry:
        return token
    page_number, payload = parse_skiptoken(token)
    return make_skiptoken(page_number, f"{payload}~{carry}", 'istracking="True"' in token)


def _positional_page(
    state: DataverseState,
    table: Table,
    options: QueryOptions,
    page_size: int,
    page_number: int,
    payload: str | None,
    count: int | None,
    capped: bool,
    tracking: bool,
) -> Page:
    position = 0
    if payload is not None:
        if not payload.startswith("p") or not payload[1:].isdigit():
            errors.query_error("The $skiptoken value is not a valid paging cookie.")
        position = int(payload[1:])
    predicate = options.filter.predicate if options.filter is not None else None
    records: list[StoredRecord] = []
    next_token: str | None = None
    for index, record in state.collection(table).scan_from(position):
        if predicate is not None and not predicate(record):
            continue
        if len(records) == page_size:
            next_token = make_skiptoken(page_number + 1, f"p{index}", tracking)
            break
        records.append(record)
    return Page(records, next_token, count, capped)


def _snapshot_page(
    state: DataverseState,
    table: Table,
    options: QueryOptions,
    page_size: int,
    page_number: int,
    payload: str | None,
    count: int | None,
    capped: bool,
    tracking: bool,
) -> Page:
    offset = 0
    ids: list[str] | None = None
    snapshot_id = ""
    if payload is not None:
        snapshot_id, _, offset_text = payload.partition(":")
        if not offset_text.isdigit():
            errors.query_error("The $skiptoken value is not a valid paging cookie.")
        offset = int(offset_text)
        ids = state.snapshot(snapshot_id)
    if ids is None:
        # First page, or a snapshot evicted from the cache: the query is deterministic, so re-run it.
        ids = sorted_ids(state, table, options)
        snapshot_id = state.keep_snapshot(ids)
    collection = state.collection(table)
    records: list[StoredRecord] = []
    position = offset
    while position < len(ids) and len(records) < page_size:
        record = collection.get(ids[position])
        position += 1
        if record is not None:
            records.append(record)
    next_token = None
    if position < len(ids):
        next_token = make_skiptoken(page_number + 1, f"{snapshot_id}:{position}", tracking)
    return Page(records, next_token, count, capped)
