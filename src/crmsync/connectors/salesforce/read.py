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
    stamp_ms,
    to_change,
    to_id18,
)
from crmsync.errors import ConfigError, VendorResponseError

Change = RemoteRecord | Tombstone
IN_CHUNK = 500  # ids per `IN (...)` so a GET query stays well under Salesforce's 16 KB URI limit
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
    rows: list[Any] = []
    if len(queries) == 1:
        async for page in api.query(queries[0], context=context):
            rows.extend(page.records)
    else:
        bodies = await api.composite_get([api.path(f"/query?q={quote(q)}") for q in queries], context=context)
        for body in bodies:
            page = api.page(body, context)
            rows.extend(page.records)
            while not page.done and page.next_url is not None:
                page = api.page(await api.call("GET", page.next_url, context=context), context)
                rows.extend(page.records)
    for row in rows:
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
    """Current state by id (collections retrieve); a missing id is looked up with queryAll to tell merges apart."""
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
    master = "MasterRecordId" in select
    gone = await _tombstones(api, obj, missing, master=master, context=context) if missing else {}
    return [
        found if found is not None else gone.get(to_id18(rid), Tombstone(obj, to_id18(rid) if is_id(rid) else rid))
        for rid, found in zip(ids, by_position, strict=True)
    ]


async def _tombstones(
    api: SalesforceApi, obj: str, ids: list[str], *, master: bool, context: str
) -> dict[str, Tombstone]:
    """Deleted (and merged-away) rows still in the recycle bin; ids missing here are simply gone."""
    select = "Id, IsDeleted, SystemModstamp" + (", MasterRecordId" if master else "")
    out: dict[str, Tombstone] = {}
    for start in range(0, len(ids), IN_CHUNK):
        soql = f"SELECT {select} FROM {obj} WHERE Id IN {soql_ids(ids[start : start + IN_CHUNK])}"
        async for page in api.query(soql, all_rows=True, context=context):
            for row in page.records:
                change = to_change(obj, row, f"{api.http.connection}: {context}")
                if isinstance(change, Tombstone):
                    out[change.id] = change
    return out
