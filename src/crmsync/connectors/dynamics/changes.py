"""`changes()`: change tracking (full tracked read → delta links), with a `modifiedon` polling fallback.

Cursor (opaque JSON) modes:

- ``full``: a tracked full read in progress; ``link`` is its next page (restart from scratch if it fails).
- ``delta``: ``link`` is the delta link (or the next page of a delta read, with ``restart`` the delta link
  that produced it, re-read whole if the page link fails).
- ``poll``: the delta token expired (or the table has no change tracking): poll ``modifiedon ge stamp``
  ordered by (modifiedon, id), skipping rows already delivered at ``stamp`` (``ids``: id → the version
  delivered, so a row edited again within the same second is delivered again); then continue with
  ``after`` (a delta link taken *before* polling began, so nothing between the two is missed).

A delta link keeps the ``$select`` it was taken with; one that lacks a column this read asks for (a field
mapped since) is replaced as an expired token is, so the new column's values and edits are read.

Every cursor remembers the highest ``modifiedon`` delivered (``stamp``) so an expired token can fall back
to polling from ``stamp - lookback``. Deletes made while a token was expired cannot be recovered from
Dataverse (only a full reconciliation finds them); everything else is delivered at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import orjson

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone
from crmsync.connectors.dynamics.errors import DeltaTokenExpiredError
from crmsync.connectors.dynamics.merges import absorbed_ids, with_merged_ids
from crmsync.connectors.dynamics.records import (
    MODIFIED,
    page_rows,
    parse_stamp,
    prefer_header,
    select_for,
    stamp_text,
    to_change,
)
from crmsync.connectors.dynamics.settings import DynamicsSettings, TableInfo
from crmsync.errors import ConfigError, VendorResponseError

_SLICE = 250  # rows converted between yields to the event loop
GetJson = Callable[[str, list[tuple[str, str]] | None, str, str], Awaitable[Any]]
Fetch = Callable[[TableInfo, Sequence[str], Sequence[str] | None], Awaitable[list[RemoteRecord | Tombstone]]]
Mode = Literal["full", "delta", "poll"]


@dataclass(slots=True)
class CursorState:
    mode: Mode
    link: str | None = None
    restart: str | None = None
    after: str | None = None
    stamp: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # id -> version delivered at `stamp` (poll mode)

    def encode(self) -> Cursor:
        data: dict[str, Any] = {"v": 1, "mode": self.mode, "stamp": self.stamp}
        for name in ("link", "restart", "after"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.mode == "poll":
            data["ids"] = self.ids
        return Cursor(orjson.dumps(data).decode())

    @classmethod
    def decode(cls, cursor: Cursor, context: str) -> CursorState:
        try:
            data = orjson.loads(cursor)
            mode = data["mode"]
            if data.get("v") != 1 or mode not in ("full", "delta", "poll"):
                raise ValueError(mode)
            ids = data.get("ids", {})
            if not isinstance(ids, dict) or not all(isinstance(v, str) for v in ids.values()):
                raise ValueError("ids")
            values = [data.get(n) for n in ("link", "restart", "after", "stamp")]
            if not all(v is None or isinstance(v, str) for v in values):
                raise ValueError("links")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{context}: the cursor was not issued by the Dataverse connector") from exc
        return cls(mode, values[0], values[1], values[2], values[3], dict(ids))

    def advance(self, when: datetime, delivered: dict[str, str]) -> None:
        """Raise the high-water stamp to `when` (and, while polling, remember the rows delivered at it)."""
        text = stamp_text(when)
        if self.stamp is None or text > self.stamp:
            self.stamp = text
            self.ids = dict(delivered) if self.mode == "poll" else {}
        elif text == self.stamp and self.mode == "poll":
            self.ids.update(delivered)


def _link_selects(link: str | None, select: str | None) -> bool:
    """Whether a delta link reads every column of `select` (None: all columns)."""
    if link is None:
        return True
    taken = parse_qs(urlsplit(link).query).get("$select")
    if taken is None:
        return True
    if select is None:
        return False
    have = {column for value in taken for column in value.split(",")}
    return set(select.split(",")) <= have


class ChangeReader:
    def __init__(self, settings: DynamicsSettings, get_json: GetJson, connection: str, fetch: Fetch) -> None:
        self.settings = settings
        self.get_json = get_json
        self.connection = connection
        self.fetch = fetch

    async def changes(
        self, table: TableInfo, cursor: Cursor | None, fields: Sequence[str] | None
    ) -> AsyncIterator[ChangePage]:
        context = f"{self.connection}: dynamics {table.logical_name} changes"
        state = CursorState.decode(cursor, context) if cursor is not None else CursorState("full")
        select = select_for(table, fields)
        if state.mode == "full":
            pages = self._full(table, state, select, context)
        elif state.mode == "delta" and state.restart is None and not _link_selects(state.link, select):
            # A delta link keeps the $select it was taken with: a column mapped since would never be read
            # (its edits lost, crmsync's writes to it read back as blank). Take a link with this read's
            # $select and poll what changed since the last stamp, as when a token expires.
            pages = self._expired(table, state, select, context)
        elif state.mode == "delta":
            pages = self._delta(table, state, select, context)
        else:
            pages = self._poll(table, state, select, context)
        async for page in pages:
            if table.mergeable and self.settings.merged_ids and any(t.merged_into for t in page.tombstones):
                page = await self._with_survivors(table, page, fields, context)
            yield page

    async def _with_survivors(
        self, table: TableInfo, page: ChangePage, fields: Sequence[str] | None, context: str
    ) -> ChangePage:
        """A page holding merges also carries each survivor, with the ids it absorbed in `merged_ids`."""
        survivors = {t.merged_into for t in page.tombstones if t.merged_into}
        absorbed = await absorbed_ids(self.settings, self.get_json, table, survivors, context)
        upserts: list[RemoteRecord] = [
            r for r in with_merged_ids(page.upserts, absorbed) if isinstance(r, RemoteRecord)
        ]
        missing = sorted(survivors - {r.id for r in upserts})
        if missing:
            upserts.extend(r for r in await self.fetch(table, missing, fields) if isinstance(r, RemoteRecord))
        return dataclasses.replace(page, upserts=tuple(upserts))

    # ---- modes ------------------------------------------------------------------------------
    async def _full(
        self, table: TableInfo, state: CursorState, select: str | None, context: str
    ) -> AsyncIterator[ChangePage]:
        link = state.link
        prefer = prefer_header(table, self.settings.page_size, track_changes=True)
        if link is not None:
            try:
                body = await self.get_json(link, None, prefer, context)
            except ConfigError:
                link = None  # the page link is gone: a tracked read restarts (duplicates, never gaps)
        if link is None:
            state = CursorState("full", stamp=state.stamp)
            params = [("$select", select)] if select else []
            try:
                body = await self.get_json(self._set_url(table), params, prefer, context)
            except ConfigError as exc:
                if "track" not in str(exc).lower():
                    raise
                # No change tracking on this table: poll by modifiedon from the beginning, for good.
                async for page in self._poll(table, CursorState("poll", stamp=state.stamp), select, context):
                    yield page
                return
        async with contextlib.aclosing(self._follow(body, prefer, context)) as pages:
            async for rows, next_link, delta_link in pages:
                upserts, tombstones = await self._convert(table, rows, state, context)
                if next_link is not None:
                    state.link = next_link
                    yield ChangePage(upserts, tombstones, state.encode(), more=True)
                    continue
                if delta_link is None:
                    raise VendorResponseError(f"{context}: the last page of a tracked read has no @odata.deltaLink")
                done = CursorState("delta", link=delta_link, stamp=state.stamp)
                yield ChangePage(upserts, tombstones, done.encode(), more=False)

    async def _delta(
        self, table: TableInfo, state: CursorState, select: str | None, context: str
    ) -> AsyncIterator[ChangePage]:
        prefer = prefer_header(table, self.settings.page_size)
        assert state.link is not None
        restart = state.restart or state.link
        try:
            body = await self.get_json(state.link, None, prefer, context)
        except DeltaTokenExpiredError:
            async for page in self._expired(table, state, select, context):
                yield page
            return
        except ConfigError:
            if state.restart is None:
                raise
            body = await self.get_json(restart, None, prefer, context)  # the page link is gone
        async with contextlib.aclosing(self._follow(body, prefer, context)) as pages:
            async for rows, next_link, delta_link in pages:
                upserts, tombstones = await self._convert(table, rows, state, context)
                if next_link is not None:
                    state.link, state.restart = next_link, restart
                    yield ChangePage(upserts, tombstones, state.encode(), more=True)
                    continue
                if delta_link is None:
                    raise VendorResponseError(f"{context}: the last page of a delta read has no @odata.deltaLink")
                done = CursorState("delta", link=delta_link, stamp=state.stamp)
                yield ChangePage(upserts, tombstones, done.encode(), more=False)

    async def _expired(
        self, table: TableInfo, state: CursorState, select: str | None, context: str
    ) -> AsyncIterator[ChangePage]:
        """Take a new delta link first (ids only, nothing delivered), then poll from the old high-water mark."""
        after = await self._fresh_delta_link(table, select, context)
        since: str | None = None
        if state.stamp is not None:
            since = stamp_text(parse_stamp(state.stamp) - timedelta(seconds=self.settings.lookback_s))
        polling = CursorState("poll", after=after, stamp=since)
        async for page in self._poll(table, polling, select, context):
            yield page

    async def _fresh_delta_link(self, table: TableInfo, select: str | None, context: str) -> str:
        # The delta link keeps this read's $select, so it must be the caller's (rows are not delivered).
        prefer = prefer_header(table, self.settings.page_size, track_changes=True)
        params = [("$select", select)] if select else []
        body = await self.get_json(self._set_url(table), params, prefer, context)
        while True:
            _, next_link, delta_link = page_rows(body, context)
            if next_link is None:
                if delta_link is None:
                    raise VendorResponseError(f"{context}: the last page of a tracked read has no @odata.deltaLink")
                return delta_link
            body = await self.get_json(next_link, None, prefer, context)

    async def _poll(
        self, table: TableInfo, state: CursorState, select: str | None, context: str
    ) -> AsyncIterator[ChangePage]:
        prefer = prefer_header(table, self.settings.page_size)
        params: list[tuple[str, str]] = []
        if select:
            params.append(("$select", select))
        if state.stamp is not None:
            params.append(("$filter", f"{MODIFIED} ge {state.stamp}"))
        params.append(("$orderby", f"{MODIFIED} asc,{table.primary_id} asc"))
        boundary, seen = state.stamp, dict(state.ids)
        body = await self.get_json(self._set_url(table), params, prefer, context)
        async with contextlib.aclosing(self._follow(body, prefer, context)) as pages:
            async for rows, next_link, _ in pages:
                upserts, tombstones = await self._convert(table, rows, state, context, skip=(boundary, seen))
                if next_link is not None:
                    # A page of nothing but rows delivered before is not yielded: the first page a resumed
                    # run yields always makes progress, however many rows share the boundary stamp.
                    if upserts or tombstones:
                        yield ChangePage(upserts, tombstones, state.encode(), more=True)
                    continue
                final = CursorState("delta", link=state.after, stamp=state.stamp) if state.after else state
                yield ChangePage(upserts, tombstones, final.encode(), more=False)

    # ---- helpers ----------------------------------------------------------------------------
    async def _follow(
        self, body: Any, prefer: str, context: str
    ) -> AsyncGenerator[tuple[list[Any], str | None, str | None], None]:
        """Pages from `body` on, following nextLinks; the next page is fetched while this one is processed."""
        while True:
            rows, next_link, delta_link = page_rows(body, context)
            ahead = asyncio.ensure_future(self.get_json(next_link, None, prefer, context)) if next_link else None
            try:
                yield rows, next_link, delta_link
                if ahead is None:
                    return
                body = await ahead
                ahead = None
            finally:
                if ahead is not None:  # the caller stopped early: drop the page read ahead
                    ahead.cancel()
                    ahead.add_done_callback(_consume)

    def _set_url(self, table: TableInfo) -> str:
        return f"{self.settings.api_root}/{table.entity_set}"

    @staticmethod
    async def _convert(
        table: TableInfo,
        rows: list[Any],
        state: CursorState,
        context: str,
        skip: tuple[str | None, dict[str, str]] | None = None,
    ) -> tuple[tuple[RemoteRecord, ...], tuple[Tombstone, ...]]:
        """Parse a whole page before touching the cursor: a bad row fails the page, never half-advances it.

        Rows are converted in slices with a yield to the event loop in between, so the page read ahead
        gets onto the wire while this one is converted (and nothing else on the loop starves).
        """
        changes: list[RemoteRecord | Tombstone] = []
        for start in range(0, len(rows), _SLICE):
            if start:
                await asyncio.sleep(0)
            changes.extend(to_change(table, row, context) for row in rows[start : start + _SLICE])
        boundary = parse_stamp(skip[0]) if skip is not None and skip[0] is not None else None
        seen = skip[1] if skip is not None else {}
        upserts: list[RemoteRecord] = []
        tombstones: list[Tombstone] = []
        top: datetime | None = None
        at_top: dict[str, str] = {}
        for change in changes:
            if isinstance(change, RemoteRecord):
                when: datetime | None = change.modified_at
                version = change.version or ""
            else:
                when, version = change.deleted_at, ""
            if when is not None:
                if boundary is not None and when == boundary and seen.get(change.id) == version:
                    continue  # this version was delivered at the boundary stamp by the previous run
                if top is None or when > top:
                    top, at_top = when, {change.id: version}
                elif when == top:
                    at_top[change.id] = version
            if isinstance(change, RemoteRecord):
                upserts.append(change)
            else:
                tombstones.append(change)
        if top is not None:
            state.advance(top, at_top)
        return tuple(upserts), tuple(tombstones)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a dropped read-ahead's outcome so asyncio never reports it as unhandled."""
    if not task.cancelled():
        task.exception()
