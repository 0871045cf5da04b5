"""Vendor id formats: Salesforce checksums against recorded ids, monotonic generators."""

from __future__ import annotations

import uuid

import pytest

from crmsync.emulators.core.ids import (
    DataverseIds,
    HubSpotIds,
    SalesforceIds,
    is_salesforce_id,
    salesforce_checksum,
    to_id18,
)


@pytest.mark.parametrize("recorded", ["001dM00003jU9GxQAK", "003dM00001wBXYDQA4", "006dM00000Mw7VtQAJ"])
def test_checksum_matches_ids_recorded_from_a_real_org(recorded: str) -> None:
    assert salesforce_checksum(recorded[:15]) == recorded[15:]
    assert is_salesforce_id(recorded)
    assert to_id18(recorded[:15]) == recorded


def test_malformed_salesforce_ids_are_rejected() -> None:
    assert not is_salesforce_id("001dM00003jU9GxQAA")  # wrong checksum
    assert not is_salesforce_id("001-M00003jU9Gx")
    assert not is_salesforce_id("abc")


def test_salesforce_ids_carry_the_prefix_and_increase() -> None:
    ids = SalesforceIds()
    first, second = ids.next("003"), ids.next("003")
    assert first.startswith("003") and len(first) == 18
    assert first < second
    assert is_salesforce_id(first)
    assert ids.next("001").startswith("001")


def test_hubspot_and_dataverse_ids_are_monotonic_and_well_formed() -> None:
    hs = HubSpotIds()
    a, b = hs.next(), hs.next()
    assert a.isdigit() and int(b) == int(a) + 1
    hs.observe(int(b) + 100)
    assert int(hs.next()) == int(b) + 101
    dv = DataverseIds(seed=3)
    g1, g2 = dv.next(), dv.next()
    assert uuid.UUID(g1).version == 4
    assert g1 < g2
