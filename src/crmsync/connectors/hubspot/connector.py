"""HubSpotConnector: the Connector Protocol over HubSpot's CRM v3 objects and v4 associations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx

from crmsync.connectors.base import ChangePage, Cursor, ObjectSchema, RemoteRecord, Tombstone, WriteOp, WriteResult
from crmsync.connectors.http import RetryPolicy, VendorHttp
from crmsync.connectors.hubspot import links, lookup, merge, read, schema
from crmsync.connectors.hubspot.auth import token_provider
from crmsync.connectors.hubspot.changes import ChangeReader
from crmsync.connectors.hubspot.cursor import HubSpotCursor
from crmsync.connectors.hubspot.errors import classify
from crmsync.connectors.hubspot.limits import main_limiter, search_limiter
from crmsync.connectors.hubspot.objects import OBJECT_INFO, object_info
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.hubspot.write import BatchWriter
from crmsync.connectors.limits import Priority, RateLimiter
from crmsync.errors import ConfigError


class HubSpotConnector:
    """One HubSpot portal. Objects: contacts, companies, deals, tasks, notes, calls, meetings.

    Links by role: contacts → company; deals → company, contact; tasks/notes/calls/meetings →
    contact, company, deal. The injected `client` is owned by the caller (`aclose` leaves it open);
    `sleep` replaces asyncio.sleep for retry waits (tests pass a no-op).
    """

    vendor_name = "hubspot"
    objects = tuple(OBJECT_INFO)

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        connection: str,
        client: httpx.AsyncClient,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._connection = connection
        self._sleep = sleep or asyncio.sleep
        auth = token_provider(settings, connection=connection, client=client, sleep=sleep)
        self.limiter = main_limiter(settings, connection)
        self.search_limiter = search_limiter(settings, connection)

        def http(limiter: RateLimiter, retry: RetryPolicy | None = None) -> VendorHttp:
            return VendorHttp(
                connection=connection,
                client=client,
                auth=auth,
                classify=classify,
                limiter=limiter,
                retry=retry,
                sleep=sleep,
                base_url=settings.base_url,
            )

        self.http = http(self.limiter)
        self.search_http = http(self.search_limiter)
        # Plain creates (no external id) are never resent automatically: the first may have landed.
        self.create_http = http(self.limiter, RetryPolicy(attempts=1))
        self._properties: dict[str, list[str]] = {}

    @property
    def connection(self) -> str:
        return self._connection

    def write_batch_size(self, object: str) -> int:
        """The batch create, update, upsert and archive endpoints take up to 100 inputs."""
        return int(self.settings.batch_size)

    @property
    def limiters(self) -> tuple[RateLimiter, ...]:
        """The rate limiters of this connection (shared between processes by the engine on PostgreSQL)."""
        return (self.limiter, self.search_limiter)

    @property
    def vendor(self) -> str:
        return self.vendor_name

    @property
    def calls(self) -> int:
        """API calls sent so far (every attempt counts)."""
        return self.http.calls + self.search_http.calls + self.create_http.calls

    async def describe(self, object: str) -> ObjectSchema:
        found = await schema.describe(self.http, object_info(self._connection, object))
        self._properties[object] = list(found.fields)
        return found

    async def _fields(self, object: str, fields: Sequence[str] | None) -> list[str]:
        if fields is not None:
            return list(fields)
        if object not in self._properties:
            await self.describe(object)
        return self._properties[object]

    async def changes(
        self, object: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None
    ) -> AsyncIterator[ChangePage]:
        info = object_info(self._connection, object)
        resume = HubSpotCursor.decode(cursor, object, self._connection) if cursor is not None else None
        reader = ChangeReader(self.http, self.search_http, self.settings, info, await self._fields(object, fields))
        pages = reader.full(resume) if resume is None or resume.mode == "full" else reader.incremental(resume)
        async for page in pages:
            yield page

    async def fetch(
        self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord | Tombstone]:
        info = object_info(self._connection, object)
        if not ids:
            return []
        return await read.fetch(self.http, self.settings, info, ids, await self._fields(object, fields))

    async def apply(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        info = object_info(self._connection, object)
        writes = [op for op in ops if op.kind != "merge"]
        writer = BatchWriter(self.http, self.create_http, self.settings, info, self._sleep)
        written = iter(await writer.apply(writes) if writes else [])
        merges = [op for op in ops if op.kind == "merge"]
        merged = iter(await merge.merge(self.http, self.settings, info, merges) if merges else [])
        return [next(merged) if op.kind == "merge" else next(written) for op in ops]

    def finds_by(self, object: str, field: str) -> bool:
        """Any searchable property: a CRM search with `IN` filters (email, before a create; see `FindsByValue`)."""
        return object in OBJECT_INFO

    async def find_by(
        self, object: str, field: str, values: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord]:
        info = object_info(self._connection, object)
        if not values:
            return []
        properties = await self._fields(object, fields)
        return await lookup.find_by(self.search_http, self.http, self.settings, info, field, values, properties)

    def unstamped_links(self, object: str) -> bool:
        """Associations change without touching a record's modification property (S15 by polling)."""
        info = OBJECT_INFO.get(object)
        return info is not None and bool(info.links) and self.settings.read_links and object in self.settings.scan_links

    def link_scan_size(self, object: str) -> int:
        """The v4 association batch read takes up to 1,000 inputs."""
        return int(self.settings.association_batch_size)

    async def read_links(
        self, object: str, ids: Sequence[str], roles: Sequence[str]
    ) -> dict[str, dict[str, tuple[str, ...]]]:
        info = object_info(self._connection, object)
        wanted = [role for name in roles if (role := info.link(name)) is not None]
        if not ids or not wanted:
            return {record_id: {} for record_id in ids}
        return await links.read_links(
            self.http,
            info,
            ids,
            batch_size=self.settings.association_batch_size,
            roles=wanted,
            priority=Priority.BACKFILL,
        )

    def merges(self, object: str) -> bool:
        """Contacts, companies and deals merge with HubSpot's merge (`WriteOp("merge")`; the result has the new id)."""
        found = OBJECT_INFO.get(object)
        return found is not None and found.name in merge.MERGEABLE

    async def ensure_external_id_property(self, object: str) -> bool:
        """Create the object's external-id property (unique string) when missing; True when created."""
        info = object_info(self._connection, object)
        name = self.settings.external_id_property(object)
        if not name:
            raise ConfigError(f"{self._connection}: no external-id property is configured for {object}")
        return await schema.ensure_external_id_property(self.http, info, name)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the caller."""
