"""Three running emulators and users who edit them through the vendors' own APIs, for demos, scenarios and benchmarks.

    from crmsync.testing.sandbox import Sandbox

    async with Sandbox() as sb:
        account = await sb.salesforce.create("company", {"Name": "Acme"})
        contact = await sb.salesforce.create("contact", {"LastName": "Lovelace", "AccountId": account})
        config = sb.load_config(tmp_path)   # crmsync.yaml for connections salesforce, hubspot, dynamics

The users never go through crmsync's connectors: they stand for people editing each CRM.
"""

from __future__ import annotations

from crmsync.testing.sandbox.config import SandboxEndpoints
from crmsync.testing.sandbox.control import ClockState, ControlPlane
from crmsync.testing.sandbox.dynamics import DynamicsUser
from crmsync.testing.sandbox.harness import DEFAULT_STATE_URL, Sandbox, VendorUser
from crmsync.testing.sandbox.hubspot import HubSpotUser
from crmsync.testing.sandbox.names import (
    DYNAMICS_EXTERNAL_ID,
    EXTERNAL_ID_FIELDS,
    HUBSPOT_EXTERNAL_ID,
    OBJECTS,
    SALESFORCE_EXTERNAL_ID,
)
from crmsync.testing.sandbox.salesforce import SalesforceUser
from crmsync.testing.sandbox.session import VendorCallError

__all__ = [
    "DEFAULT_STATE_URL",
    "DYNAMICS_EXTERNAL_ID",
    "EXTERNAL_ID_FIELDS",
    "HUBSPOT_EXTERNAL_ID",
    "OBJECTS",
    "SALESFORCE_EXTERNAL_ID",
    "ClockState",
    "ControlPlane",
    "DynamicsUser",
    "HubSpotUser",
    "SalesforceUser",
    "Sandbox",
    "SandboxEndpoints",
    "VendorCallError",
    "VendorUser",
]
