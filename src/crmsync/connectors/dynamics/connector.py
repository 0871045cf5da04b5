"""`DynamicsConnector`: the Connector Protocol for Dataverse, composed from auth, limits, errors and the parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from crmsync.connectors.base import ChangePage, Cursor, ObjectSchema, RemoteRecord, Tombstone, WriteOp, WriteResult
from crmsync.connectors.dynamics import batch, lookup
from crmsync.connectors.dynamics.auth import EntraClientCredentials
from crmsync.connectors.dynamics.changes import ChangeReader
from crmsync.connectors.dynamics.customise import ExternalIdKeys, KeyOutcome
from crmsync.connectors.dynamics.errors import classify
from crmsync.connectors.dynamics.fetch import Fetcher
from crmsync.connectors.dynamics.limits import build_limiter
from crmsync.connectors.dynamics.schema import Describer
from crmsync.connectors.dynamics.settings import ODATA_HEADERS, TABLES, DynamicsSettings, TableInfo
from crmsync.connectors.dynamics.write import Writer
from crmsync.connectors.http import Sleep, TokenProvider, VendorHttp, parse_json
from crmsync.connectors.limits import Priority, RateLimiter
from crmsync.errors import ConfigError

_QUERY_SAFE = "$,()'=:/*-._~@[]"


class DynamicsConnector:
    """Dataverse Web API v9.2 behind the Connector Protocol.

    Objects: the logical names in `TABLES` (account, contact, opportunity, task, phonecall, appointment,
    annotation). Link roles per object: `links.LINK_ROLES`. Creates and upserts address rows by the
    alternate key named in `WriteOp.external_id` (or `settings.external_ids[table]`); that column must be
    declared as an alternate key in the environment.
    """

    vendor_name = "dynamics"

    def __init__(
        self,
        settings: DynamicsSettings,
        *,
        connection: str,
        client: httpx.AsyncClient,
        sleep: Sleep | None = None,
        token: TokenProvider | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`sleep` and `clock` (monotonic seconds) are injectable together so tests never wait for real:
        the limiter's pauses (Retry-After) are measured on `clock`, the retry waits go through `sleep`.
        `token` replaces the Entra client-credentials flow (e.g. a pre-issued token)."""
        self.settings = settings
        self._connection = connection
        self.token = token or EntraClientCredentials.cached(settings, connection=connection, client=client, sleep=sleep)
        self.limiter = build_limiter(settings, connection, clock or time.monotonic)
        self.http = VendorHttp(
            connection=connection,
            client=client,
            auth=self.token,
            classify=classify,
            limiter=self.limiter,
            sleep=sleep,
            base_url=settings.api_root,
        )
        self._sleep = sleep
        self._schemas: dict[str, ObjectSchema] = {}
        self._fetcher = Fetcher(settings, self._get_json, connection)
        self._reader = ChangeReader(settings, self._get_json, connection, self._fetcher.fetch)
        self._describer = Describer(settings, self._get_json, connection)
        self._writer = Writer(settings, self._send_batch, self._pause)
        self.priority = Priority.LIVE

    @property
    def connection(self) -> str:
        return self._connection

    def write_batch_size(self, object: str) -> int:
        """One `$batch` carries up to 1,000 requests, of any kinds."""
        return int(self.settings.batch_size)

    def write_batch_mixes_kinds(self, object: str) -> bool:
        """Creates, updates and deletes share one `$batch` (its parts are independent requests)."""
        return True

    @property
    def limiters(self) -> tuple[RateLimiter, ...]:
        """The rate limiters of this connection (shared between processes by the engine on PostgreSQL)."""
        return (self.limiter,)

    @property
    def vendor(self) -> str:
        return self.vendor_name

    # ---- the Protocol -----------------------------------------------------------------------
    async def describe(self, object: str) -> ObjectSchema:
        table = self._table(object)
        schema = self._schemas.get(table.logical_name)
        if schema is None:
            schema = self._schemas[table.logical_name] = await self._describer.describe(table)
        return schema

    async def changes(
        self, object: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None
    ) -> AsyncIterator[ChangePage]:
        table = self._table(object)
        try:
            async for page in self._reader.changes(table, cursor, fields):
                yield page
        except ConfigError as exc:
            raise self._missing_external_id(table, exc) from exc

    async def fetch(
        self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord | Tombstone]:
        table = self._table(object)
        try:
            return await self._fetcher.fetch(table, ids, fields)
        except ConfigError as exc:
            raise self._missing_external_id(table, exc) from exc

    def finds_by(self, object: str, field: str) -> bool:
        """Any column: a `Microsoft.Dynamics.CRM.In` filter over it (email, before a create; see `FindsByValue`)."""
        return object in TABLES

    async def find_by(
        self, object: str, field: str, values: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord]:
        table = self._table(object)
        if not values:
            return []
        try:
            return await lookup.find_by(
                self.settings,
                table,
                field,
                values,
                fields,
                send_batch=self._send_batch,
                get_json=self._get_json,
                connection=self._connection,
            )
        except ConfigError as exc:
            raise self._missing_external_id(table, exc) from exc

    def _missing_external_id(self, table: TableInfo, error: ConfigError) -> ConfigError:
        """A read refused for the external-id column, which the engine selects: say how to make it."""
        column = self.settings.external_ids.get(table.logical_name)
        if column is None or f"'{column}'" not in str(error):
            return error
        return ConfigError(
            f"{error} — the {table.logical_name} table has no {column} column to hold crmsync's id "
            "(external_ids): `crmsync check --fix` creates it and its alternate key"
        )

    async def apply(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if not ops:
            return []
        return await self._writer.apply(self._table(object), ops)

    async def aclose(self) -> None:
        """Nothing to release: the httpx client belongs to the caller."""

    async def ensure_external_id_key(self, object: str) -> KeyOutcome:
        """Create the table's external-id column and its alternate key where missing (`crmsync check --fix`)."""
        table = self._table(object)
        column = self.settings.external_ids.get(table.logical_name)
        if not column:
            raise ConfigError(f"{self._connection}: no external-id column is configured for {table.logical_name}")
        outcome = await ExternalIdKeys(self.http, self.settings.api_root, self._pause).ensure(
            table.logical_name, column
        )
        self._schemas.pop(table.logical_name, None)  # described again with the new column and key
        return outcome

    def merges(self, object: str) -> bool:
        """Accounts and contacts merge with the `Merge` action (`WriteOp("merge")`); other tables cannot."""
        table = TABLES.get(object)
        return table is not None and table.mergeable

    # ---- plumbing ---------------------------------------------------------------------------
    def _table(self, object: str) -> TableInfo:
        table = TABLES.get(object)
        if table is None:
            raise ConfigError(f"{self._connection}: dynamics has no object {object!r}; supported: {', '.join(TABLES)}")
        return table

    async def _get_json(self, url: str, params: list[tuple[str, str]] | None, prefer: str, context: str) -> Any:
        headers = dict(ODATA_HEADERS)
        if prefer:
            headers["Prefer"] = prefer
        if params:
            # Encode ourselves: spaces as %20 (not '+') and `$`, quotes and parentheses kept, as OData expects.
            url += ("&" if "?" in url else "?") + "&".join(f"{k}={quote(v, safe=_QUERY_SAFE)}" for k, v in params)
        response = await self.http.request(
            "GET", url, context=context.removeprefix(f"{self._connection}: "), headers=headers, priority=self.priority
        )
        return parse_json(response, context)

    async def _send_batch(
        self, requests: list[batch.BatchRequest], context: str, idempotent: bool
    ) -> list[batch.BatchResponse]:
        content_type, body = batch.encode(requests)
        headers = {**ODATA_HEADERS, "Content-Type": content_type, "Prefer": "odata.continue-on-error"}
        response = await self.http.request(
            "POST",
            "/$batch",
            context=f"dynamics {context}",
            content=body,
            headers=headers,
            priority=self.priority,
            idempotent=idempotent,
        )
        content_type = response.headers.get("content-type", "")
        return batch.decode(content_type, response.content, f"{self._connection}: {context}")

    async def _pause(self, seconds: float) -> None:
        await (self._sleep or asyncio.sleep)(seconds)
