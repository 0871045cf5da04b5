"""A field mapped after the first sync: the values the CRMs already hold in it reach the others with an ordinary sync.

An incremental read lists only what changed since the cursor; the records holding those values changed before it.
Before the mapping, the cursors are moved past every connector's lookback window (a later edit, synced), so the
read after the mapping cannot meet those records by chance (crmsync's own writes of the first sync included).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.registry import VendorName
from crmsync.engine.connections import open_connectors
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.scratch import scratch_copy
from crmsync.store import open_store
from crmsync.testing.sandbox import Sandbox
from tests.integration.engine.conftest import Crm

COLOUR = {"salesforce": "Favourite_Colour__c", "hubspot": "favourite_colour", "dynamics": "new_colour"}
MAPPED = "contact.favourite_colour: {" + ", ".join(f"{vendor}: {name}" for vendor, name in COLOUR.items()) + "}\n"
PAST_LOOKBACK_S = 900
"""Longer than any connector's lookback (Dataverse's polling fallback re-reads 300 s)."""


@pytest.fixture(scope="module")
def colours() -> Iterator[Sandbox]:
    """Emulators whose contacts have a custom colour field, as an administrator would add one."""
    hubspot_property = {
        "objectType": "contacts",
        "name": COLOUR["hubspot"],
        "label": "Favourite colour",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
    }
    settings: dict[VendorName, dict[str, Any]] = {
        "salesforce": {"custom_fields": {"Contact": [{"name": COLOUR["salesforce"]}]}},
        "hubspot": {"custom_properties": [hubspot_property]},
        "dynamics": {"custom_columns": {"contact": [{"name": COLOUR["dynamics"]}]}},
    }
    with Sandbox(settings=settings) as sb:
        yield sb


@pytest.fixture
async def crm(colours: Sandbox, tmp_path: Path) -> AsyncIterator[Crm]:
    """crmsync syncing contacts, without the colour mapped yet."""
    await colours.reset()
    config = colours.load_config(tmp_path, objects_yaml="contact: {}")
    store = await open_store(config.state_url)
    try:
        yield Crm(colours, config, store)
    finally:
        await store.aclose()


async def _map_the_colour(crm: Crm, tmp_path: Path) -> Crm:
    """The operator adds the colour to crmsync.yaml, long after the records got their values and were synced."""
    await asyncio.gather(*(user.control.advance(PAST_LOOKBACK_S) for user in crm.sb.users.values()))
    # Someone new in Salesforce: created in the other two and marked with crmsync's id in Salesforce, so the next
    # sync moves every cursor past the first sync's records (and its writes' echoes).
    await crm.sb.salesforce.create("contact", {"LastName": "Dijkstra", "Email": "edsger@example.com"})
    for _ in range(2):
        assert not (await crm.sync()).failures
    config = crm.sb.load_config(tmp_path, objects_yaml="contact: {}", mappings_yaml=MAPPED)
    return Crm(crm.sb, config, crm.store)


async def _people(crm: Crm) -> tuple[str, str]:
    """Ada made in HubSpot with a colour, Grace in Dataverse with another, both synced before the mapping."""
    ada = await crm.sb.hubspot.create(
        "contact", {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com", COLOUR["hubspot"]: "teal"}
    )
    grace = await crm.sb.dynamics.create(
        "contact",
        {"firstname": "Grace", "lastname": "Hopper", "emailaddress1": "grace@example.com", COLOUR["dynamics"]: "green"},
    )
    first = await crm.sync()
    assert not first.failures and not first.notes
    return ada, grace


async def _colour(crm: Crm, connection: str, remote_id: str) -> object:
    row = await getattr(crm.sb, connection).get("contact", remote_id, [COLOUR[connection]])
    assert row is not None
    return row.get(COLOUR[connection])


def _writes(report: RunReport) -> int:
    return report.total("created") + report.total("updated") + report.total("deleted")


async def test_values_held_before_a_field_was_mapped_reach_the_other_crms_with_an_ordinary_sync(
    crm: Crm, tmp_path: Path
) -> None:
    ada, grace = await _people(crm)
    mapped = await _map_the_colour(crm, tmp_path)

    report = await mapped.sync()
    assert not report.failures
    assert report.notes == [
        f"{connection} contact: fields newly mapped ({COLOUR[connection]}): read in full"
        for connection in ("salesforce", "hubspot", "dynamics")
    ]
    for connection in ("salesforce", "dynamics"):
        assert await _colour(crm, connection, await crm.twin("contact", "hubspot", ada, connection)) == "teal"
    for connection in ("salesforce", "hubspot"):
        assert await _colour(crm, connection, await crm.twin("contact", "dynamics", grace, connection)) == "green"
    async with crm.store.read() as tx:
        assert COLOUR["hubspot"] in (await tx.read_fields.get("hubspot", "contacts") or ())

    again = await mapped.sync()
    assert (_writes(again), again.notes, again.failures) == (0, [], [])


async def test_a_dry_run_plans_the_values_and_leaves_the_read_in_full_to_the_sync(crm: Crm, tmp_path: Path) -> None:
    ada, _ = await _people(crm)
    mapped = await _map_the_colour(crm, tmp_path)

    scratch = await scratch_copy(crm.store, tmp_path)  # as `crmsync sync --dry-run` runs
    try:
        async with open_connectors(mapped.config) as connectors:
            planned = await SyncRunner(mapped.config, scratch, connectors).run(RunOptions(dry_run=True))
        async with scratch.read() as tx:
            assert COLOUR["hubspot"] not in (await tx.read_fields.get("hubspot", "contacts") or ())
    finally:
        await scratch.aclose()
    assert len(planned.notes) == 3
    colours = {(w.connection, new) for w in planned.plan for field, _, new in w.changes if field == "favourite_colour"}
    assert colours == {("salesforce", "teal"), ("dynamics", "teal"), ("salesforce", "green"), ("hubspot", "green")}

    real = await mapped.sync()
    assert len(real.notes) == 3 and _writes(real) == planned.plan_total == 4
    sf = await crm.twin("contact", "hubspot", ada, "salesforce")
    assert await _colour(crm, "salesforce", sf) == "teal"


async def test_a_read_in_full_that_stopped_part_way_is_done_again_by_the_next_sync(crm: Crm, tmp_path: Path) -> None:
    ada, _ = await _people(crm)
    mapped = await _map_the_colour(crm, tmp_path)
    # HubSpot refuses its listing once: its read in full stops after catching up from the cursor.
    refused = {"kind": "status", "status": 403, "method": "GET", "path": "/crm/v3/objects/contacts$", "times": 1}
    await crm.sb.hubspot.control.set_faults([refused])

    stopped = await mapped.sync()
    assert [failure.split(":")[0] for failure in stopped.failures] == ["read contact hubspot"]
    async with crm.store.read() as tx:
        assert COLOUR["salesforce"] in (await tx.read_fields.get("salesforce", "Contact") or ())
        assert COLOUR["hubspot"] not in (await tx.read_fields.get("hubspot", "contacts") or ())

    await crm.sb.hubspot.control.clear_faults()
    resumed = await mapped.sync()
    assert resumed.notes == ["hubspot contact: fields newly mapped (favourite_colour): read in full"]
    assert not resumed.failures
    for connection in ("salesforce", "dynamics"):
        assert await _colour(crm, connection, await crm.twin("contact", "hubspot", ada, connection)) == "teal"
    assert _writes(await mapped.sync()) == 0
