"""A state started afresh (lost, restored from an older backup, moved to another database) duplicates nothing.

Records with a match key meet again by it. Records without one (a contact with no email) meet again by
crmsync's id: the counterparts crmsync created carry it in their external-id field, and the record they were
created from has the id crmsync derived from its own identity.
"""

from __future__ import annotations

from typing import Any

from crmsync.model.values import ObjectKind
from crmsync.testing.sandbox.harness import VendorUser
from tests.integration.engine.conftest import Crm, CrmFactory

KINDS: tuple[ObjectKind, ...] = ("company", "contact")


async def _people_without_email(crm: Crm) -> dict[str, str]:
    """One contact with no email made in each CRM (under one company made in HubSpot); connection → id."""
    company = await crm.sb.hubspot.create("company", {"name": "Analytical Engines", "domain": "engines.example"})
    made = {
        "salesforce": await crm.sb.salesforce.create("contact", {"FirstName": "Ada", "LastName": "Lovelace"}),
        "hubspot": await crm.sb.hubspot.create("contact", {"firstname": "Charles", "lastname": "Babbage"}),
        "dynamics": await crm.sb.dynamics.create("contact", {"firstname": "Mary", "lastname": "Somerville"}),
    }
    await crm.sb.hubspot.associate("contact", made["hubspot"], "company", company)
    return made


async def _counts(crm: Crm) -> dict[str, tuple[int, int]]:
    users: dict[str, VendorUser] = {
        "salesforce": crm.sb.salesforce,
        "hubspot": crm.sb.hubspot,
        "dynamics": crm.sb.dynamics,
    }
    return {name: (await user.count("company"), await user.count("contact")) for name, user in users.items()}


async def test_a_lost_state_links_the_records_crmsync_created_instead_of_creating_them_again(
    crm_factory: CrmFactory,
) -> None:
    first = await crm_factory()
    made = await _people_without_email(first)
    await first.sync()
    counts = await _counts(first)
    assert counts == dict.fromkeys(counts, (1, 3))  # each person everywhere once
    canonical = {name: await first.canonical("contact", name, rid) for name, rid in made.items()}
    twins = {name: {other: await first.remote(canonical[name] or "", other) for other in made} for name in made}

    afresh = await crm_factory()  # a new state database over the same CRMs
    report = await afresh.sync(kinds=KINDS)
    assert report.total("created") == 0
    assert await _counts(afresh) == counts
    for name, rid in made.items():
        # The same canonical record, linked to the same record in every CRM.
        assert await afresh.canonical("contact", name, rid) == canonical[name]
        assert {other: await afresh.remote(canonical[name] or "", other) for other in made} == twins[name]
    again = await afresh.sync(kinds=KINDS)
    assert again.total("created") == 0 and again.total("updated") == 0


async def test_a_state_restored_from_before_some_creates_links_them(crm_factory: CrmFactory) -> None:
    backup = await crm_factory()
    await backup.sync()  # the state as backed up: nothing yet
    later = await crm_factory()
    made = await _people_without_email(later)
    await later.sync()  # the lost state's work after the backup: it created the counterparts
    counts = await _counts(later)

    report = await backup.sync(kinds=KINDS)
    assert report.total("created") == 0
    assert await _counts(backup) == counts
    for name, rid in made.items():
        assert await backup.canonical("contact", name, rid) == await later.canonical("contact", name, rid)


async def test_without_salesforce_external_ids_the_counterparts_made_there_are_made_again(
    crm_factory: CrmFactory,
) -> None:
    """Where a CRM keeps no crmsync id, what crmsync created there cannot be told from a new record (documented)."""
    plain: dict[str, dict[str, Any]] = {"salesforce": {"external_id_fields": {}}}
    first = await crm_factory(connections=plain)
    await _people_without_email(first)
    await first.sync()
    afresh = await crm_factory(connections=plain)
    report = await afresh.sync(kinds=KINDS)
    # The two contacts crmsync created in Salesforce meet their origins as strangers: each is made again in
    # the two other CRMs, and each origin is made again in Salesforce.
    assert report.total("created") == 4 + 2
