"""Connectors built from the configuration: one per configured connection, sharing one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from crmsync.config.values import Connection, SyncConfig
from crmsync.connectors.base import Connector
from crmsync.connectors.dynamics import DynamicsConnector, DynamicsSettings
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def build_connector(connection: Connection, client: httpx.AsyncClient) -> Connector:
    settings = connection.settings
    if isinstance(settings, SalesforceSettings):
        return SalesforceConnector(settings, connection=connection.name, client=client)
    if isinstance(settings, HubSpotSettings):
        return HubSpotConnector(settings, connection=connection.name, client=client)
    if isinstance(settings, DynamicsSettings):
        return DynamicsConnector(settings, connection=connection.name, client=client)
    raise TypeError(f"connection {connection.name!r}: no connector for {type(settings).__name__}")


def external_id_field(connection: Connection, object: str) -> str | None:
    """The field carrying crmsync's canonical id in `object` of this connection (None: not configured)."""
    settings = connection.settings
    if isinstance(settings, SalesforceSettings):
        return settings.external_id_fields.get(object)
    if isinstance(settings, HubSpotSettings):
        return settings.external_id_property(object)
    return settings.external_ids.get(object)


@asynccontextmanager
async def open_connectors(
    config: SyncConfig, *, client: httpx.AsyncClient | None = None
) -> AsyncIterator[Mapping[str, Connector]]:
    """Every configured connection's connector; closes them (and the client, when it made it) on exit."""
    owned = client is None
    http = client or httpx.AsyncClient(timeout=TIMEOUT, limits=httpx.Limits(max_connections=64))
    connectors = {name: build_connector(connection, http) for name, connection in config.connections.items()}
    try:
        yield connectors
    finally:
        for connector in connectors.values():
            await connector.aclose()
        if owned:
            await http.aclose()


__all__ = ["build_connector", "external_id_field", "open_connectors"]
