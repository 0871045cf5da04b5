"""Connectors built from the configuration: one per configured connection, sharing one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from crmsync.config.values import Connection, SyncConfig
from crmsync.connectors.base import Connector, WebhookDecoder
from crmsync.connectors.dynamics import DynamicsConnector, DynamicsSettings
from crmsync.connectors.dynamics.webhooks import DynamicsWebhookDecoder
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.connectors.hubspot.webhooks import HubSpotWebhookDecoder
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.connectors.salesforce.webhooks import SalesforceWebhookDecoder

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


def webhook_decoder(connection: Connection) -> WebhookDecoder | None:
    """The verifier of this connection's change notifications, or None when it has no webhook secret configured.

    HubSpot signs with the app's client secret (`webhook_secret`, else `client_secret`); a Salesforce
    outbound message carries no signature, so it needs both the org id and the URL token
    (`webhook_token`) it was registered with; a Dataverse service endpoint sends `webhook_key`.
    """
    settings = connection.settings
    if isinstance(settings, HubSpotSettings):
        secret = settings.webhook_secret or settings.client_secret
        return HubSpotWebhookDecoder(secret, connection=connection.name) if secret is not None else None
    if isinstance(settings, SalesforceSettings):
        if settings.org_id is None or settings.webhook_token is None:
            return None
        return SalesforceWebhookDecoder(settings.org_id, token=settings.webhook_token)
    if settings.webhook_key is None:
        return None
    return DynamicsWebhookDecoder(settings.webhook_key)


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


__all__ = ["build_connector", "external_id_field", "open_connectors", "webhook_decoder"]
