"""Subscribe the local emulators' webhooks to this service, as an administrator does in each real CRM.

Only for connections that point at crmsync's emulators (`crmsync emulate`): their `/_emulator` control
plane takes the same settings a HubSpot app's webhook page, a Salesforce outbound message and a
Dataverse service endpoint take. Registrations already pointing at this service are left alone.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from crmsync.config.values import Connection, SyncConfig
from crmsync.connectors.dynamics import DynamicsSettings
from crmsync.connectors.hubspot import HubSpotSettings
from crmsync.connectors.salesforce import SalesforceSettings

CONTROL = "/_emulator"
# HubSpot's webhook API covers contacts, companies and deals (not engagements); activities are polled.
HUBSPOT_OBJECTS = {"contacts": "contact", "companies": "company", "deals": "deal"}
HUBSPOT_EVENTS = ("creation", "propertyChange", "deletion", "merge", "restore", "associationChange")

log = structlog.get_logger("crmsync.service.emulators")


async def register_emulator_webhooks(config: SyncConfig, service_url: str, client: httpx.AsyncClient) -> list[str]:
    """Register every connection that has a webhook secret; returns what was registered, one line each."""
    done: list[str] = []
    for name, connection in config.connections.items():
        target = f"{service_url.rstrip('/')}/webhooks/{name}"
        objects = _synced_objects(config, connection)
        settings = connection.settings
        if isinstance(settings, HubSpotSettings):
            done += await _hubspot(client, settings, target, objects)
        elif isinstance(settings, SalesforceSettings):
            done += await _salesforce(client, settings, target, objects)
        elif isinstance(settings, DynamicsSettings):
            done += await _dynamics(client, settings, target, objects)
    for line in done:
        log.info("emulator webhook registered", registration=line)
    return done


def _synced_objects(config: SyncConfig, connection: Connection) -> list[str]:
    return [
        config.mappings.get(connection.vendor, kind).object
        for kind, settings in config.objects.items()
        if connection.name in settings.connections and config.mappings.has(connection.vendor, kind)
    ]


async def _call(client: httpx.AsyncClient, method: str, url: str, body: Any = None) -> Any:
    response = await client.request(method, url, json=body)
    response.raise_for_status()
    return response.json()


async def _hubspot(client: httpx.AsyncClient, settings: HubSpotSettings, target: str, objects: list[str]) -> list[str]:
    secret = settings.webhook_secret or settings.client_secret
    singulars = [HUBSPOT_OBJECTS[o] for o in objects if o in HUBSPOT_OBJECTS]
    if secret is None or not singulars:
        return []
    subscriptions = [f"{singular}.{event}" for singular in singulars for event in HUBSPOT_EVENTS]
    body = {"target_url": target, "client_secret": secret.get_secret_value(), "subscriptions": subscriptions}
    await _call(client, "POST", f"{settings.base_url}{CONTROL}/webhooks", body)
    return [f"hubspot app webhooks -> {target} ({', '.join(singulars)})"]


async def _salesforce(
    client: httpx.AsyncClient, settings: SalesforceSettings, target: str, objects: list[str]
) -> list[str]:
    if settings.webhook_token is None or settings.org_id is None:
        return []
    url = f"{target}?token={settings.webhook_token.get_secret_value()}"
    base = f"{settings.login_url}{CONTROL}/outbound-messages"
    existing = {(r["object"], r["url"]) for r in await _call(client, "GET", base)}
    done: list[str] = []
    for obj in objects:
        if (obj, url) not in existing:
            await _call(client, "POST", base, {"object": obj, "url": url, "fields": ["Id"]})
        done.append(f"salesforce outbound message {obj} -> {target}")  # the token is not shown
    return done


async def _dynamics(
    client: httpx.AsyncClient, settings: DynamicsSettings, target: str, objects: list[str]
) -> list[str]:
    if settings.webhook_key is None:
        return []
    base = f"{settings.org_url}{CONTROL}/webhooks"
    existing = {(r["table"], r["url"]) for r in (await _call(client, "GET", base))["webhooks"]}
    done: list[str] = []
    for table in objects:
        if (table, target) not in existing:
            body = {"url": target, "auth": "WebhookKey", "key": settings.webhook_key.get_secret_value(), "table": table}
            await _call(client, "POST", base, body)
        done.append(f"dataverse service endpoint {table} -> {target}")
    return done


__all__ = ["register_emulator_webhooks"]
