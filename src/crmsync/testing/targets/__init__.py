"""The conformance targets for crmsync's own connectors, each against its emulator."""

from __future__ import annotations

from crmsync.testing.targets.dynamics import DynamicsTarget
from crmsync.testing.targets.hubspot import HubSpotTarget
from crmsync.testing.targets.salesforce import SalesforceTarget

__all__ = ["DynamicsTarget", "HubSpotTarget", "SalesforceTarget", "builtin_targets"]


def builtin_targets() -> list[SalesforceTarget | HubSpotTarget | DynamicsTarget]:
    return [SalesforceTarget(), HubSpotTarget(), DynamicsTarget()]
