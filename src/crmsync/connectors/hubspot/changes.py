"""Change detection: full reads over the list endpoint, incremental reads over search in windows under
HubSpot's 10,000-result cap, tombstones from the archived listing and from merges.

Search pages are read by offset with a one-record overlap: when the first record of a page is not the
last of the previous one, the result list shifted under the offsets (a record before the offset was
edited or deleted), and the read restarts from the newest stamp delivered instead of skipping. When a
window reaches the cap it restarts the same way; when a whole window shares one stamp, that stamp is
read in `hs_object_id` order with `GT last id`. Ids delivered in the lookback window are remembered in
the cursor with their stamp and a fingerprint of their properties, so re-reading the window (for search's
eventual consistency) does not deliver them again, yet a record edited again within the same stamp is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from crmsync.connectors.base import ChangePage, RemoteRecord, Tombstone
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot.cursor import HubSpotCursor, fingerprint, prune
from crmsync.connectors.hubspot.links import read_links
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.records import (
    merge_tombstones,
    next_after,
    parse_record,
    parse_time,
    results_of,
    stamp_ms,
)
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.limits import Priority
from crmsync.errors import VendorResponseError

# Event-loop turns the prefetch needs to put its request on the wire (limiter, token, httpx layers).
_HANDOFFS = 2


class ChangeReader:
    """Reads one object's changes for one `changes()` call."""

    def __init__(
        self,
        http: VendorHttp,
        search_http: VendorHttp,
        settings: HubSpotSettings,
        info: ObjectInfo,
        properties: Sequence[str],
    ) -> None:
        self.http = http
        self.search_http = search_http
        self.settings = settings
        self.info = info
        self.properties = list(dict.fromkeys([*properties, info.modprop, "hs_merged_object_ids", "hs_object_id"]))
        self.lookback_ms = int(settings.lookback_s * 1000)
        self.links = settings.read_links and bool(info.links)

    def _print(self, record: RemoteRecord) -> int:
        """The fingerprint of the properties read (list and search answer with different extras)."""
        return fingerprint({name: record.fields.get(name) for name in self.properties})

    def _context(self, what: str) -> str:
        return f"hubspot {self.info.name} {what}"

    # ---- full read --------------------------------------------------------------------------
    async def _list(self, after: str | None, *, archived: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.settings.page_size, "archived": "true" if archived else "false"}
        if archived:
            # An archived merge survivor carries the ids it absorbed: those are the ones crmsync may link.
            params["properties"] = "hs_object_id,hs_merged_object_ids"
        else:
            params["properties"] = ",".join(self.properties)
            if self.links:
                params["associations"] = ",".join(role.target for role in self.info.links)
        if after is not None:
            params["after"] = after
        what = "list archived" if archived else "list"
        response = await self.http.request(
            "GET", f"/crm/v3/objects/{self.info.name}", context=self._context(what), params=params,
            priority=Priority.BACKFILL,
        )  # fmt: skip
        body = parse_json(response, f"{self.http.connection}: {self._context(what)}")
        if not isinstance(body, dict):
            raise VendorResponseError(f"{self.http.connection}: {self._context(what)}: the body is not an object")
        return body

    async def latest_stamp(self) -> int:
        """The newest modification stamp now: a full read continues incrementally from here."""
        body = await self._search([], sort=self.info.modprop, descending=True, limit=1, properties=[self.info.modprop])
        context = f"{self.search_http.connection}: {self._context('search')}"
        found = results_of(body, context)
        return stamp_ms(parse_record(found[0], self.info, context).modified_at) if found else 0

    async def full(self, resume: HubSpotCursor | None) -> AsyncIterator[ChangePage]:
        start = resume.stamp if resume is not None else await self.latest_stamp()
        context = f"{self.http.connection}: {self._context('list')}"
        # Records at the start stamp's lookback window are remembered, so the first incremental read
        # does not deliver them again.
        floor = start - self.lookback_ms
        seen: dict[str, int] = {}
        prints: dict[str, int] = {}
        # The next page is requested while this one is parsed and consumed (at most two pages in memory).
        task = asyncio.ensure_future(self._list(resume.after if resume is not None else None))
        try:
            while True:
                body = await task
                after = next_after(body, context)
                if after is not None:
                    task = asyncio.ensure_future(self._list(after))
                    for _ in range(_HANDOFFS):  # let the request go out before parsing this page
                        await asyncio.sleep(0)
                records = [parse_record(raw, self.info, context) for raw in results_of(body, context)]
                tombstones = [t for r in records for t in merge_tombstones(r)]
                for record in records:
                    if (stamp := stamp_ms(record.modified_at)) >= floor:
                        seen[record.id] = stamp
                        prints[record.id] = self._print(record)
                if after is not None:
                    cursor = HubSpotCursor(self.info.name, "full", start, after=after)
                else:
                    kept = prune(seen, floor, start)
                    cursor = HubSpotCursor(
                        self.info.name, "incr", start, kept, deleted=start, prints={k: prints[k] for k in kept}
                    )
                yield ChangePage(tuple(records), tuple(tombstones), cursor.encode(), more=after is not None)
                if after is None:
                    return
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ---- incremental ------------------------------------------------------------------------
    async def _search(
        self,
        filters: list[dict[str, Any]],
        *,
        sort: str,
        descending: bool = False,
        after: int = 0,
        limit: int | None = None,
        properties: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}],
            "properties": list(properties if properties is not None else self.properties),
            "limit": limit or self.settings.search_page_size,
        }
        if after:
            body["after"] = str(after)
        context = self._context("search")
        response = await self.search_http.request(
            "POST", f"/crm/v3/objects/{self.info.name}/search", context=context, json=body
        )
        found = parse_json(response, f"{self.search_http.connection}: {context}")
        if not isinstance(found, dict):
            raise VendorResponseError(f"{self.search_http.connection}: {context}: the body is not an object")
        return found

    def _filter(self, operator: str, stamp: int) -> dict[str, Any]:
        return {"propertyName": self.info.modprop, "operator": operator, "value": str(stamp)}

    async def _with_links(self, records: list[RemoteRecord]) -> list[RemoteRecord]:
        if not self.links or not records:
            return records
        links = await read_links(
            self.http, self.info, [r.id for r in records], batch_size=self.settings.association_batch_size
        )
        return [
            RemoteRecord(r.object, r.id, r.fields, r.modified_at, r.version, links[r.id], r.merged_ids) for r in records
        ]

    async def incremental(self, resume: HubSpotCursor) -> AsyncIterator[ChangePage]:
        state = _Window(resume, self.lookback_ms, self._print)
        context = f"{self.search_http.connection}: {self._context('search')}"
        cap, size = self.settings.search_result_cap, self.settings.search_page_size
        start, operator, after, anchor = max(resume.stamp - self.lookback_ms, 0), "GTE", 0, None
        lowest = reached = start  # stamps of the first and the last record of the current query so far
        while True:
            body = await self._search([self._filter(operator, start)], sort=self.info.modprop, after=after)
            raw = results_of(body, context)
            if anchor is not None and (not raw or str(raw[0].get("id")) != anchor):
                # The list shifted under the offsets: restart where this query got to, skipping nothing.
                start, operator, after, anchor = reached, "GTE", 0, None
                lowest = reached
                continue
            records = [parse_record(r, self.info, context) for r in raw]
            if records:
                if after == 0:
                    lowest = stamp_ms(records[0].modified_at)
                reached = stamp_ms(records[-1].modified_at)
            page = state.take(records[1:] if anchor is not None else records)
            following = next_after(body, context)
            single_stamp: int | None = None
            last = following is None
            if following is not None:
                # Pages may be short or empty while more follow: continue from the offset HubSpot gives.
                position = after + len(raw) - 1 if raw else _offset(following, context)
                if position + size > cap:
                    # A window's worth read: go on from its last stamp. A window that is one stamp only
                    # cannot move on that way; that stamp is walked by id.
                    single_stamp = reached if lowest == reached else None
                    operator = "GT" if single_stamp is not None else "GTE"
                    start, after, anchor, lowest = reached, 0, None, reached
                elif raw:
                    after, anchor = position, str(raw[-1].get("id"))
                else:
                    after, anchor = position, None
            if page or last:
                yield await self._page(page, state, more=not last or self.settings.read_deletes)
            if single_stamp is not None:
                async for stamp_page in self._one_stamp(single_stamp, state, context):
                    yield stamp_page
            if last:
                break
        if self.settings.read_deletes:
            async for tombstone_page in self._archived(state):
                yield tombstone_page

    async def _one_stamp(self, stamp: int, state: _Window, context: str) -> AsyncIterator[ChangePage]:
        """More records share one stamp than a search can page through: walk them by id."""
        last_id: str | None = None
        while True:
            filters = [self._filter("EQ", stamp)]
            if last_id is not None:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": last_id})
            body = await self._search(filters, sort="hs_object_id")
            raw = results_of(body, context)
            page = state.take([parse_record(r, self.info, context) for r in raw])
            if page:
                yield await self._page(page, state, more=True)
            if not raw or next_after(body, context) is None:
                return
            last_id = str(raw[-1].get("id"))

    async def _page(self, records: list[RemoteRecord], state: _Window, *, more: bool) -> ChangePage:
        records = await self._with_links(records)
        tombstones = [t for r in records for t in merge_tombstones(r)]
        return ChangePage(tuple(records), tuple(tombstones), state.cursor(self.info.name).encode(), more=more)

    async def _archived(self, state: _Window) -> AsyncIterator[ChangePage]:
        """Archived records since the delete watermark (HubSpot lists them all, in creation order).

        Merged-away ids are never listed as archived; when their merge survivor is archived, they are
        gone with it, so each absorbed id gets a tombstone too (a merged record archived before any read
        is known to crmsync only by those ids).
        """
        context = f"{self.http.connection}: {self._context('list archived')}"
        floor = max(state.deleted - self.lookback_ms, 0)
        newest = state.deleted
        after: str | None = None
        while True:
            body = await self._list(after, archived=True)
            tombstones: list[Tombstone] = []
            for raw in results_of(body, context):
                record_id = str(raw.get("id", ""))
                archived_at = parse_time(raw.get("archivedAt")) or parse_time(raw.get("updatedAt"))
                if not record_id or archived_at is None:
                    raise VendorResponseError(f"{context}: record {record_id or '?'} has no id or archivedAt")
                at = stamp_ms(archived_at)
                newest = max(newest, at)
                if at >= floor and state.dseen.get(record_id) != at:
                    state.dseen[record_id] = at
                    absorbed = [i for i in _merged_ids(raw, context, record_id) if i != record_id]
                    tombstones += [Tombstone(self.info.name, i, deleted_at=archived_at) for i in [record_id, *absorbed]]
            after = next_after(body, context)
            if after is None:
                # Only a complete listing moves the delete watermark.
                state.deleted = newest
                state.dseen = prune(state.dseen, newest - self.lookback_ms, newest)
                yield ChangePage((), tuple(tombstones), state.cursor(self.info.name).encode(), more=False)
                return
            if tombstones:
                yield ChangePage((), tuple(tombstones), state.cursor(self.info.name).encode(), more=True)


def _merged_ids(raw: dict[str, Any], context: str, record_id: str) -> list[str]:
    props = raw.get("properties", {})
    merged = props.get("hs_merged_object_ids") if isinstance(props, dict) else None
    if merged is None or merged == "":
        return []
    if not isinstance(merged, str):
        raise VendorResponseError(f"{context}: record {record_id}: `hs_merged_object_ids` is not a string")
    return [i for i in merged.split(";") if i]


def _offset(after: str, context: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise VendorResponseError(f"{context}: search paging offset {after!r} is not a number") from None


class _Window:
    """The incremental read's progress: newest stamp delivered and ids delivered in the lookback window."""

    def __init__(self, resume: HubSpotCursor, lookback_ms: int, print_of: Callable[[RemoteRecord], int]) -> None:
        self.high = resume.stamp
        self.seen = dict(resume.seen)
        self.prints = dict(resume.prints)
        self.deleted = resume.deleted
        self.dseen = dict(resume.dseen)
        self.lookback_ms = lookback_ms
        self.print_of = print_of

    def take(self, records: list[RemoteRecord]) -> list[RemoteRecord]:
        """The records not yet delivered in their current state; remembers them.

        A record is skipped only when it was delivered at a later stamp, or at this stamp with the same
        content: an edit within the stamp of the last read (HubSpot stamps are milliseconds) is not lost.
        """
        fresh = []
        for record in records:
            stamp = stamp_ms(record.modified_at)
            delivered = self.seen.get(record.id, -1)
            if delivered > stamp:
                continue
            content = self.print_of(record)
            if delivered == stamp and self.prints.get(record.id) == content:
                continue
            self.seen[record.id] = stamp
            self.prints[record.id] = content
            self.high = max(self.high, stamp)
            fresh.append(record)
        if fresh:
            self.seen = prune(self.seen, self.high - self.lookback_ms, self.high)
            self.prints = {k: v for k, v in self.prints.items() if k in self.seen}
        return fresh

    def cursor(self, object: str) -> HubSpotCursor:
        return HubSpotCursor(
            object, "incr", self.high, dict(self.seen), self.deleted, dict(self.dseen), prints=dict(self.prints)
        )
