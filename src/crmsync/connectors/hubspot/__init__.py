"""The HubSpot connector: CRM v3 objects, search-based change detection, batch writes, v4 associations.

Public surface:
- `HubSpotSettings`: base URL, credentials (private-app `access_token`, or OAuth `client_id` +
  `client_secret` + `refresh_token`), tier-sized limits, page/batch sizes, external-id properties.
- `HubSpotConnector(settings, *, connection, client, sleep=None)`: the `Connector` Protocol for
  contacts, companies, deals, tasks, notes, calls and meetings; `ensure_external_id_property(object)`
  creates the unique property used as the upsert key.
- `HubSpotWebhookDecoder(client_secret, *, versions=("v3",))`: the `WebhookDecoder` Protocol.

Links (roles → HubSpot association): contacts.company (279); deals.company (341), deals.contact (3);
tasks/notes/calls/meetings .contact/.company/.deal (the documented engagement type ids).
"""

from __future__ import annotations

from crmsync.connectors.hubspot.connector import HubSpotConnector
from crmsync.connectors.hubspot.objects import OBJECT_INFO
from crmsync.connectors.hubspot.settings import TIER_LIMITS, HubSpotSettings
from crmsync.connectors.hubspot.webhooks import HubSpotWebhookDecoder

__all__ = ["OBJECT_INFO", "TIER_LIMITS", "HubSpotConnector", "HubSpotSettings", "HubSpotWebhookDecoder"]
