"""The address of a record's page in its CRM (or, for a local emulator, of the record in the emulator's API)."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address
from urllib.parse import quote, urlsplit

from crmsync.config.values import Connection
from crmsync.connectors.dynamics.settings import TABLES, DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.store import Link

HUBSPOT_OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tasks": "0-27"}
"""HubSpot's object type ids of the standard objects (what its record-page URLs carry)."""


def is_local(url: str) -> bool:
    """A loopback URL: an emulator (`crmsync emulate`, the demo), whose API is the only page a record has."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def record_url(connection: Connection, link: Link, templates: Mapping[str, str]) -> str | None:
    """The record's page: a configured template first, else the vendor's usual address; None when unknown."""
    object_type_id = HUBSPOT_OBJECT_TYPE_IDS.get(link.object, link.object)
    template = templates.get(connection.name)
    if template:
        return template.format(object=link.object, object_type_id=object_type_id, id=quote(link.remote_id, safe=""))
    settings = connection.settings
    remote_id = quote(link.remote_id, safe="")
    if isinstance(settings, SalesforceSettings):
        base = (settings.instance_url or settings.login_url).rstrip("/")
        if is_local(base):
            return f"{base}/services/data/{settings.api_version}/sobjects/{link.object}/{remote_id}"
        return f"{base}/lightning/r/{link.object}/{remote_id}/view"
    if isinstance(settings, HubSpotSettings):
        base = settings.base_url.rstrip("/")
        if is_local(base):
            return f"{base}/crm/v3/objects/{link.object}/{remote_id}"
        return None  # the record page needs the portal id: set `service.dashboard.record_urls.<connection>`
    return _dynamics_url(settings, link.object, remote_id)


def _dynamics_url(settings: DynamicsSettings, entity: str, remote_id: str) -> str:
    base = settings.org_url.rstrip("/")
    if is_local(base):
        table = TABLES.get(entity)
        entity_set = table.entity_set if table is not None else f"{entity}s"
        return f"{base}{settings.api_path}/{entity_set}({remote_id})"
    return f"{base}/main.aspx?etn={quote(entity)}&id={remote_id}&pagetype=entityrecord"


__all__ = ["HUBSPOT_OBJECT_TYPE_IDS", "is_local", "record_url"]
