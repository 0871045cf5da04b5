"""The Dataverse (Dynamics 365) connector: settings, the Connector, the webhook decoder, supported objects/links.

    settings = DynamicsSettings(org_url=..., tenant_id=..., client_id=..., client_secret=...,
                                external_ids={"contact": "new_crmsyncid", ...})
    connector = DynamicsConnector(settings, connection="dv-prod", client=httpx.AsyncClient(), sleep=None)
    decoder = DynamicsWebhookDecoder(SecretStr("shared key"), header="x-crmsync-key")

Objects are Dataverse logical names (`TABLES`); link roles per object are in `LINK_ROLES`.
"""

from __future__ import annotations

from crmsync.connectors.dynamics.connector import DynamicsConnector
from crmsync.connectors.dynamics.links import LINK_ROLES
from crmsync.connectors.dynamics.settings import TABLES, DynamicsSettings, TableInfo
from crmsync.connectors.dynamics.webhooks import DynamicsWebhookDecoder

__all__ = ["LINK_ROLES", "TABLES", "DynamicsConnector", "DynamicsSettings", "DynamicsWebhookDecoder", "TableInfo"]
