"""What each built-in connector tells delivery about its write batches: their size, and whether kinds mix.

Delivery fills vendor batches from these answers; a wrong one costs API calls (part-filled batches).
"""

from __future__ import annotations

import pytest

from crmsync.connectors.base import write_batch_mixes_kinds, write_batch_size
from crmsync.testing import open_rig
from crmsync.testing.targets import DynamicsTarget, HubSpotTarget, SalesforceTarget, builtin_targets

Target = SalesforceTarget | HubSpotTarget | DynamicsTarget

# Documented limits (reference/crm-apis.md §0.7, §4 row 4c): sObject Collections 200 records of one operation;
# HubSpot batch endpoints 100 inputs of one operation; a Dataverse `$batch` 1,000 requests of any kinds.
EXPECTED = {"salesforce": (200, False), "hubspot": (100, False), "dynamics": (1000, True)}


@pytest.mark.parametrize("target", builtin_targets(), ids=lambda target: target.vendor)
async def test_a_connector_declares_its_vendor_write_batch(target: Target) -> None:
    async with open_rig(target) as rig:
        connector = await rig.connector()
        found = {
            (write_batch_size(connector, obj), write_batch_mixes_kinds(connector, obj))
            for obj in target.objects.values()
        }
    assert found == {EXPECTED[target.vendor]}
