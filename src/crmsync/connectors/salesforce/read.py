"""Reads: the change stream (queryAll by SystemModstamp, Id), fetch by id, and deal -> contact role lookups."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from crmsync.connectors.base import ObjectSchema, RemoteRecord, Tombstone
from crmsync.connectors.limits import Priority
from crmsync.connectors.salesforce.api import SalesforceApi
from crmsync.connectors.salesforce.cursor import StreamState, fingerprint
from crmsync.connectors.salesforce.links import JUNCTION, link_fields
from crmsync.connectors.salesforce.records import (
    SYSTEM_FIELDS,
    is_id,
    soql_datetime,
    soql_ids,
    soql_string,
    stamp_ms,
    to_change,
    to_id18,
)
from crmsync.errors import ConfigError, VendorResponseError

Change = RemoteRecord | Tombstone
IN_CHUNK = 500  # ids per `IN (...)` so a GET query stays well under Salesforce's 16 KB URI limit
IN_TEXT = 6_000  # characters of quoted values per `IN (...)` of a look-up: the URI limit again, once percent-encoded
_SKIP_TYPES = frozenset({"address", "other"})  # compound fields repeat their parts; base64/location are not synced


def select_fields(schema: ObjectSchema, fields: Sequence[str] | None, connection: str) -> list[str]:
    """What a read selects: the requested fields (all scalar fields when None) plus system and link fields."""
    if fields is None:
        chosen = [f.name for f in schema.fields.values() if f.type not in _SKIP_TYPES]
    else:
        unknown = [f for f in fields if f not in schema.fields]
        if unknown:
            raise ConfigError(f"{connection}: salesforce {schema.name}: unknown fields {unknown}")
        chosen = list(fields)
    extra = [*SYSTEM_FIELDS, *link_fields(schema.name)]
    if "MasterRecordId" in schema.fields:
        extra.append("MasterRecordId")
    return list(dict.fromkeys([*extra, *chosen]))


def when(change: Change) -> datetime:
    """The stamp a change was read at (to_change always sets it)."""
    moment = change.modified_at if isinstance(change, RemoteRecord) else change.deleted_at
    assert moment is not None
    return moment


async def stream(
    api: SalesforceApi,
    obj: str,
    select: Sequence[str],
    state: StreamState,
    *,
    lookback_ms: int,
    cap: int,
    context: str,
    priority: Priority,
) -> AsyncIterator[tuple[list[tuple[Change, dict[str, Any]]], StreamState, bool]]:
    """Pages of (change, row) since `state`, with the state to resume after each page and whether it was the last.

    A page's state is computed only after every row of the page parsed, so a bad page never advances it.
    """
    where = "" if state.stamp is None else f" WHERE SystemModstamp >= {soql_datetime(state.stamp - lookback_ms)}"
    soql = f"SELECT {', '.join(select)} FROM {obj}{where} ORDER BY SystemModstamp, Id"
    skip_stamp = state.stamp
    skip = state.seen if state.stamp is not None and not state.overflow else {}
    cur = state.copy()
    async for page in api.query(soql, all_rows=True, context=context, priority=priority):
        out: list[tuple[Change, dict[str, Any]]] = []
        pending: dict[str, dict[str, Any]] = {}
        for row in page.records:
            change = to_change(obj, row, f"{api.http.connection}: {context}")
            ms = stamp_ms(when(change))
            if ms == skip_stamp and skip:
                seen = skip.get(change.id)
                if seen is not None and seen == fingerprint(row):
                    continue  # delivered before, unchanged since
            if cur.stamp is None or ms > cur.stamp:
                cur = StreamState(ms)
                pending = {}
            if ms == cur.stamp and not cur.overflow:
                pending[change.id] = row
                if len(cur.seen) + len(pending) > cap:
                    cur.overflow, cur.seen, pending = True, {}, {}
            out.append((change, row))
        for rid, row in pending.items():
            cur.seen[rid] = fingerprint(row)
        yield out, cur.copy(), page.done


async def rows_of(api: SalesforceApi, queries: Sequence[str], *, all_rows: bool, context: str) -> list[Any]:
    """Every row of a few small queries: one query pages directly, several share one /composite call."""
    rows: list[Any] = []
    if len(queries) == 1:
        async for page in api.query(queries[0], all_rows=all_rows, context=context):
            rows.extend(page.records)
        return rows
    resource = "/queryAll" if all_rows else "/query"
    bodies = await api.composite_get([api.path(f"{resource}?q={quote(q)}") for q in queries], context=context)
    for body in bodies:
        page = api.page(body, context)
        rows.extend(page.records)
        while not page.done and page.next_url is not None:
            page = api.page(await api.call("GET", page.next_url, context=context), context)
            rows.extend(page.records)
    return rows


async def find_by(
    api: SalesforceApi, obj: str, field: str, values: Sequence[str], select: Sequence[str], *, context: str
) -> list[RemoteRecord]:
    """Live records whose `field` is one of `values`: `WHERE field IN (...)` (SOQL compares text without regard to
    case), in as many queries as the URI limit needs, all of them in one /composite call."""
    literals = [soql_string(v) for v in dict.fromkeys(values)]
    queries: list[str] = []
    chunk: list[str] = []
    for literal in literals:
        if chunk and sum(len(x) + 1 for x in chunk) + len(literal) > IN_TEXT:
            queries.append(_in_query(obj, field, chunk, select))
            chunk = []
        chunk.append(literal)
    if chunk:
        queries.append(_in_query(obj, field, chunk, select))
    where = f"{api.http.connection}: {context}"
    found: dict[str, RemoteRecord] = {}
    for row in await rows_of(api, queries, all_rows=False, context=context) if queries else []:
        change = to_change(obj, row, where)
        if isinstance(change, RemoteRecord):
            found.setdefault(change.id, change)
    if "MasterRecordId" in select and found:  # as `fetch` does: the ids each survivor absorbed (one call more)
        _, absorbed = await recycle_bin(api, obj, [], list(found), master=True, context=context)
        return [with_merged_ids(record, absorbed.get(record.id, ())) for record in found.values()]
    return list(found.values())


def _in_query(obj: str, field: str, literals: Sequence[str], select: Sequence[str]) -> str:
    return f"SELECT {', '.join(select)} FROM {obj} WHERE {field} IN ({','.join(literals)}) ORDER BY CreatedDate, Id"


async def deal_contacts(api: SalesforceApi, opp_ids: Sequence[str], *, context: str) -> dict[str, tuple[str, ...]]:
    """Contacts of each opportunity through its OpportunityContactRole rows (one API call per 12,500 deals)."""
    found: dict[str, list[str]] = {rid: [] for rid in opp_ids}
    if not opp_ids:
        return {}
    queries = [
        f"SELECT OpportunityId, ContactId FROM {JUNCTION} WHERE OpportunityId IN "
        f"{soql_ids(list(opp_ids[i : i + IN_CHUNK]))} ORDER BY OpportunityId, Id"
        for i in range(0, len(opp_ids), IN_CHUNK)
    ]
    for row in await rows_of(api, queries, all_rows=False, context=context):
        opp, contact = (row.get("OpportunityId"), row.get("ContactId")) if isinstance(row, dict) else (None, None)
        if not isinstance(opp, str) or not isinstance(contact, str):
            raise VendorResponseError(f"{api.http.connection}: {context}: a contact role row lacks its ids")
        found.setdefault(opp, []).append(contact)
    return {rid: tuple(dict.fromkeys(contacts)) for rid, contacts in found.items()}


async def with_deal_contacts(api: SalesforceApi, changes: list[Change], *, context: str) -> list[Change]:
    records = [c for c in changes if isinstance(c, RemoteRecord)]
    contacts = await deal_contacts(api, [r.id for r in records], context=context)
    return [
        dataclasses.replace(c, links={**c.links, "contact": contacts.get(c.id, ())})
        if isinstance(c, RemoteRecord)
        else c
        for c in changes
    ]


async def fetch(
    api: SalesforceApi, obj: str, ids: Sequence[str], select: Sequence[str], *, batch: int, context: str
) -> list[Change]:
    """Current state by id (collections retrieve). Missing ids are looked up with queryAll to tell merges from
    deletes, and survivors of mergeable objects get `merged_ids`, both in one extra call (none when neither
    applies)."""
    where = f"{api.http.connection}: {context}"
    by_position: list[Change | None] = []
    for start in range(0, len(ids), batch):
        chunk = list(ids[start : start + batch])
        valid = [rid for rid in chunk if is_id(rid)]
        body = (
            await api.call("POST", f"/composite/sobjects/{obj}", context=context, json={"ids": valid, "fields": select})
            if valid
            else []
        )
        if not isinstance(body, list) or len(body) != len(valid):
            raise VendorResponseError(f"{where}: the retrieve response does not list one entry per id")
        rows = iter(body)
        for rid in chunk:
            row = next(rows) if is_id(rid) else None
            by_position.append(None if row is None else to_change(obj, row, where))
    missing = [rid for rid, found in zip(ids, by_position, strict=True) if found is None and is_id(rid)]
    # Survivors of mergeable objects list the ids they absorbed: one recycle-bin query serves both lookups.
    master = "MasterRecordId" in select
    survivors = [c.id for c in by_position if isinstance(c, RemoteRecord)] if master else []
    gone, absorbed = await recycle_bin(api, obj, missing, survivors, master=master, context=context)
    out: list[Change] = []
    for rid, found in zip(ids, by_position, strict=True):
        if isinstance(found, RemoteRecord):
            out.append(with_merged_ids(found, absorbed.get(found.id, ())))
        elif found is not None:
            out.append(found)
        else:
            out.append(gone.get(to_id18(rid), Tombstone(obj, to_id18(rid) if is_id(rid) else rid)))
    return out


def with_merged_ids(record: RemoteRecord, victims: Sequence[str]) -> RemoteRecord:
    if not victims:
        return record
    return dataclasses.replace(record, merged_ids=tuple(dict.fromkeys([*record.merged_ids, *victims])))


async def recycle_bin(
    api: SalesforceApi, obj: str, missing: list[str], survivors: list[str], *, master: bool, context: str
) -> tuple[dict[str, Tombstone], dict[str, list[str]]]:
    """One queryAll over the recycle bin: Tombstones of the missing ids (deleted, or merged away when they carry
    MasterRecordId; ids not found are simply gone) and, per survivor, the ids merged into it."""
    gone: dict[str, Tombstone] = {}
    absorbed: dict[str, list[str]] = {}
    if not missing and not survivors:
        return gone, absorbed
    select = "Id, IsDeleted, SystemModstamp" + (", MasterRecordId" if master else "")
    # Each query holds at most IN_CHUNK ids across its IN lists (the URI limit); all of them share one call.
    queries: list[str] = []
    pending = [("Id", rid) for rid in missing] + [("MasterRecordId", rid) for rid in survivors]
    for start in range(0, len(pending), IN_CHUNK):
        chunk = pending[start : start + IN_CHUNK]
        by_id = [rid for field, rid in chunk if field == "Id"]
        by_master = [rid for field, rid in chunk if field == "MasterRecordId"]
        terms = ([f"Id IN {soql_ids(by_id)}"] if by_id else []) + (
            [f"MasterRecordId IN {soql_ids(by_master)}"] if by_master else []
        )
        where = terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})"
        queries.append(f"SELECT {select} FROM {obj} WHERE {where} AND IsDeleted = true")
    wanted = {to_id18(rid) for rid in missing}
    asked = set(survivors)
    where_ctx = f"{api.http.connection}: {context}"
    for row in await rows_of(api, queries, all_rows=True, context=context):
        change = to_change(obj, row, where_ctx)
        if not isinstance(change, Tombstone):
            continue
        if change.id in wanted:
            gone[change.id] = change
        if change.merged_into is not None and change.merged_into in asked:
            absorbed.setdefault(change.merged_into, []).append(change.id)
    return gone, absorbed
