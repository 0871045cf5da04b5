"""Salesforce connector: `SalesforceSettings`, `SalesforceConnector`, `SalesforceWebhookDecoder`.

    connector = SalesforceConnector(settings, connection="sf-prod", client=httpx.AsyncClient())

Modules: settings (configuration), auth (JWT bearer / client credentials), errors (the vendor's error
table), limits (Sforce-Limit-Info and edition sizing), schema (describe), cursor + read (changes and
fetch), write (collections), links (relationships), webhooks (Outbound Messages).
"""

from crmsync.connectors.salesforce.connector import OBJECTS, SalesforceConnector
from crmsync.connectors.salesforce.links import LINK_FIELDS, supported_roles
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.connectors.salesforce.webhooks import SalesforceWebhookDecoder

__all__ = [
    "LINK_FIELDS",
    "OBJECTS",
    "SalesforceConnector",
    "SalesforceSettings",
    "SalesforceWebhookDecoder",
    "supported_roles",
]
