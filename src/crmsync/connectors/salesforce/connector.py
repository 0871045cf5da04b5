"""SalesforceConnector: the Connector Protocol over the REST API (describe, changes, fetch, apply)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from crmsync.connectors.base import ChangePage, Cursor, ObjectSchema, RemoteRecord, Tombstone, WriteOp, WriteResult
from crmsync.connectors.http import VendorHttp
from crmsync.connectors.limits import Priority, RateLimiter
from crmsync.connectors.salesforce import read, soap_merge
from crmsync.connectors.salesforce.api import SalesforceApi
from crmsync.connectors.salesforce.auth import SalesforceAuth
from crmsync.connectors.salesforce.cursor import SalesforceCursor, StreamState, fingerprint
from crmsync.connectors.salesforce.errors import QueryLocatorExpired, classify
from crmsync.connectors.salesforce.limits import build_limiter
from crmsync.connectors.salesforce.links import JUNCTION, supported_roles
from crmsync.connectors.salesforce.merges import MergeTracker
from crmsync.connectors.salesforce.records import stamp_ms, to_change
from crmsync.connectors.salesforce.schema import parse_describe
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.connectors.salesforce.write import Writer
from crmsync.errors import ConfigError, CrmSyncError

Sleep = Callable[[float], Awaitable[None]]

# Objects the connector syncs (others work too when they have Id/SystemModstamp/IsDeleted).
OBJECTS = ("Account", "Contact", "Opportunity", "Task", "Event")
BOUNDARY_IDS_CAP = 5000  # ids listed in a cursor for one stamp; beyond, the stamp's rows are re-delivered
MAX_LOCATOR_RESTARTS = 3
ROLE_SELECT = ("Id", "OpportunityId", "SystemModstamp", "IsDeleted")


class SalesforceConnector:
    """One Salesforce org behind the Connector Protocol.

    Objects: vendor names ("Account", "Contact", "Opportunity", "Task", "Event"; custom objects work
    too). Links (see `links.py`): Contact/Opportunity `company` (AccountId); Opportunity `contact`
    (OpportunityContactRole rows: writing an id adds a role, None removes the deal's roles); Task/Event
    `contact` (WhoId), `company`/`deal` (WhatId). Merge victims come back as Tombstone(merged_into=master).
    """

    vendor_name = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        connection: str,
        client: httpx.AsyncClient,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        self._connection = connection
        self.auth = SalesforceAuth(settings, connection=connection, client=client)
        self.limiter = build_limiter(settings, connection)
        self.http = VendorHttp(
            connection=connection,
            client=client,
            auth=self.auth.provider,
            classify=classify,
            limiter=self.limiter,
            sleep=sleep,
            base_url=self.auth.base_url,
        )
        self.api = SalesforceApi(self.http, settings.api_version, settings.query_batch_size, sleep or asyncio.sleep)
        self.writer = Writer(
            self.api,
            batch=settings.write_batch_size,
            item_retries=settings.item_retries,
            external_ids=dict(settings.external_id_fields),
            sleep=sleep or asyncio.sleep,
        )
        self._schemas: dict[str, ObjectSchema] = {}
        self.boundary_ids_cap = BOUNDARY_IDS_CAP

    @property
    def connection(self) -> str:
        return self._connection

    def write_batch_size(self, object: str) -> int:
        """sObject Collections carry up to 200 records of one operation."""
        return int(self.settings.write_batch_size)

    @property
    def limiters(self) -> tuple[RateLimiter, ...]:
        """The rate limiters of this connection (shared between processes by the engine on PostgreSQL)."""
        return (self.limiter,)

    @property
    def vendor(self) -> str:
        return self.vendor_name

    @staticmethod
    def link_roles(obj: str) -> tuple[str, ...]:
        """The link roles an object reads and writes."""
        return supported_roles(obj)

    def _ctx(self, obj: str, what: str) -> str:
        return f"salesforce {obj} {what}"

    # ---- describe -----------------------------------------------------------------------------
    async def describe(self, object: str) -> ObjectSchema:
        cached = self._schemas.get(object)
        if cached is not None:
            return cached
        context = self._ctx(object, "describe")
        body = await self.api.call("GET", f"/sobjects/{object}/describe", context=context)
        flags = await self._stage_flags() if object == "Opportunity" else None
        schema = parse_describe(body, f"{self.connection}: {context}", flags)
        self._schemas[object] = schema
        return schema

    async def _stage_flags(self) -> dict[str, tuple[bool, bool]] | None:
        """Closed/won per stage from OpportunityStage; None (the standard table) where the org does not expose it."""
        try:
            pages = self.api.query(
                "SELECT ApiName, IsClosed, IsWon FROM OpportunityStage", context="salesforce OpportunityStage"
            )
            return {
                str(row["ApiName"]): (bool(row.get("IsClosed")), bool(row.get("IsWon")))
                async for page in pages
                for row in page.records
                if isinstance(row, dict) and "ApiName" in row
            }
        except ConfigError:
            return None

    # ---- changes ------------------------------------------------------------------------------
    async def changes(
        self, object: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None
    ) -> AsyncIterator[ChangePage]:
        """Pages of upserts and tombstones since `cursor`; a full read when None. See cursor.py for the token."""
        schema = await self.describe(object)
        select = read.select_fields(schema, fields, self.connection)
        context = self._ctx(object, "changes")
        if cursor is None:
            state = SalesforceCursor(object, StreamState())
            if object == "Opportunity":
                # Role rows changed during the full read are caught by the role stream afterwards.
                state.roles = await self._role_state_now()
        else:
            state = SalesforceCursor.decode(cursor, object, self.connection)
            if object == "Opportunity" and state.roles is None:
                state.roles = StreamState()
        priority = Priority.BACKFILL if cursor is None else Priority.LIVE
        # After a full read the role stream starts from "now"; incremental reads follow it after the deals.
        has_roles = state.roles is not None and cursor is not None
        merges = MergeTracker() if "MasterRecordId" in select else None
        restarts = 0
        while True:
            try:
                async for rows, main, done in read.stream(
                    self.api,
                    object,
                    select,
                    state.main,
                    lookback_ms=int(self.settings.lookback_s * 1000),
                    cap=self.boundary_ids_cap,
                    context=context,
                    priority=priority,
                ):
                    changes = [change for change, _ in rows]
                    if object == "Opportunity":
                        changes = await read.with_deal_contacts(self.api, changes, context=context)
                    if merges is not None:
                        changes = merges.attach(changes)
                        if done and merges.unresolved():
                            # Survivors passed before their victims: re-read once per call, with merged_ids.
                            changes.extend(merges.resolve(await self._fetch(object, merges.unresolved(), select)))
                    state.main = main
                    yield self._page(changes, state, more=not done or has_roles)
                break
            except QueryLocatorExpired:
                restarts += 1
                if restarts > MAX_LOCATOR_RESTARTS:
                    raise
                # The last cursor we handed out is exact: re-query from it (rows at its stamp are deduplicated).
        if has_roles:
            async for page in self._role_changes(state, select, context, priority):
                yield page

    async def _role_changes(
        self, state: SalesforceCursor, select: Sequence[str], context: str, priority: Priority
    ) -> AsyncIterator[ChangePage]:
        """Deal -> contact links live on OpportunityContactRole rows, whose changes do not touch the deal."""
        assert state.roles is not None
        yielded = False
        async for rows, roles, done in read.stream(
            self.api,
            JUNCTION,
            ROLE_SELECT,
            state.roles,
            lookback_ms=int(self.settings.lookback_s * 1000),
            cap=self.boundary_ids_cap,
            context=f"{context} ({JUNCTION})",
            priority=priority,
        ):
            latest: dict[str, datetime] = {}  # deal -> its newest role change in this page
            for change, row in rows:
                deal = row.get("OpportunityId")
                if isinstance(deal, str):
                    latest[deal] = max(read.when(change), latest.get(deal, read.when(change)))
            refreshed = await self._fetch("Opportunity", list(latest), select) if latest else []
            refreshed = [deal for deal in refreshed if not _deal_stream_covers(deal, latest.get(deal.id))]
            state.roles = roles
            yielded = True
            yield self._page(refreshed, state, more=not done)
        if not yielded:  # pragma: no cover - a query always answers with at least one page
            yield self._page([], state, more=False)

    async def _role_state_now(self) -> StreamState:
        """The role stream's starting point for a full read: the latest stamp, with its rows marked delivered.

        One call: the newest rows in descending order, in the same shape the role stream reads, so their
        fingerprints match; when the whole answer shares one stamp the group may be larger (re-read later).
        """
        limit = self.settings.query_batch_size
        soql = f"SELECT {', '.join(ROLE_SELECT)} FROM {JUNCTION} ORDER BY SystemModstamp DESC, Id DESC LIMIT {limit}"
        rows: list[Any] = []
        async for page in self.api.query(soql, all_rows=True, context=self._ctx(JUNCTION, "latest stamp")):
            rows.extend(page.records)
            break
        if not rows:
            return StreamState()
        where = f"{self.connection}: {self._ctx(JUNCTION, 'latest stamp')}"
        changes = [(to_change(JUNCTION, row, where), row) for row in rows]
        latest = max(stamp_ms(read.when(change)) for change, _ in changes)
        group = {c.id: fingerprint(row) for c, row in changes if stamp_ms(read.when(c)) == latest}
        if len(group) == len(rows) == limit or len(group) > self.boundary_ids_cap:
            return StreamState(latest, overflow=True)
        return StreamState(latest, group)

    @staticmethod
    def _page(changes: Sequence[RemoteRecord | Tombstone], state: SalesforceCursor, *, more: bool) -> ChangePage:
        """A page delivers each record once: the last (newest, in stream order) change per id wins."""
        latest = {c.id: c for c in changes}
        upserts = tuple(c for c in latest.values() if isinstance(c, RemoteRecord))
        tombstones = tuple(c for c in latest.values() if isinstance(c, Tombstone))
        return ChangePage(upserts, tombstones, state.encode(), more)

    # ---- fetch --------------------------------------------------------------------------------
    async def fetch(
        self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord | Tombstone]:
        schema = await self.describe(object)
        return await self._fetch(object, ids, read.select_fields(schema, fields, self.connection))

    async def _fetch(self, object: str, ids: Sequence[str], select: Sequence[str]) -> list[RemoteRecord | Tombstone]:
        context = self._ctx(object, "fetch")
        found = await read.fetch(
            self.api, object, ids, select, batch=self.settings.retrieve_batch_size, context=context
        )
        if object == "Opportunity":
            found = await read.with_deal_contacts(self.api, found, context=context)
        return found

    # ---- look up ------------------------------------------------------------------------------
    def finds_by(self, object: str, field: str) -> bool:
        """Any queryable field: a SOQL `IN` over it (email, before a create; see `FindsByValue`)."""
        return True

    async def find_by(
        self, object: str, field: str, values: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord]:
        if not values:
            return []
        schema = await self.describe(object)
        if field not in schema.fields:
            raise ConfigError(f"{self.connection}: salesforce {object} has no field {field!r} to look records up by")
        select = read.select_fields(schema, fields, self.connection)
        found = await read.find_by(self.api, object, field, values, select, context=self._ctx(object, "look-up"))
        if object == "Opportunity":
            found = [
                c
                for c in await read.with_deal_contacts(self.api, list(found), context=self._ctx(object, "look-up"))
                if isinstance(c, RemoteRecord)
            ]
        return found

    # ---- apply --------------------------------------------------------------------------------
    async def apply(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if not ops:
            return []
        writes = [op for op in ops if op.kind != "merge"]
        merges = [op for op in ops if op.kind == "merge"]
        context = self._ctx(object, "apply")
        written = iter(await self.writer.apply(object, writes, context=context) if writes else [])
        merged = iter(
            await soap_merge.merge(
                self.api, self.auth.provider, object, merges, context=context, allowed=self.settings.merges
            )
            if merges
            else []
        )
        return [next(merged) if op.kind == "merge" else next(written) for op in ops]

    def merges(self, object: str) -> bool:
        """Accounts and contacts merge with Salesforce's own merge (the SOAP API's; `WriteOp("merge")`), unless
        the connection says `merges: false`."""
        return self.settings.merges and object in soap_merge.MERGEABLE

    async def aclose(self) -> None:
        """The httpx client belongs to the caller; nothing else holds resources."""

    def stats(self) -> dict[str, Any]:
        return {"calls": self.http.calls, "limiter": self.limiter.state()}


def _deal_stream_covers(deal: RemoteRecord | Tombstone, role_changed: datetime | None) -> bool:
    """Whether the Opportunity stream delivers this deal state with its role changes, so the role stream
    must not deliver it again.

    The Opportunity stream delivers the deal's current version (in this read or the next) and reads its
    contact roles after reading the deal, so a version stamped after the role change already reflects it. On
    equal stamps the order is unknown (a coarse or frozen clock), so the deal is delivered again rather than
    risk a stale link. A deleted deal (its roles are deleted with it) is delivered as a Tombstone by the
    Opportunity stream, which reads the recycle bin; only a deal gone without a trace (purged) is reported here.
    """
    if isinstance(deal, Tombstone):
        return deal.deleted_at is not None
    return role_changed is not None and deal.modified_at > role_changed


__all__ = ["OBJECTS", "CrmSyncError", "SalesforceConnector"]
