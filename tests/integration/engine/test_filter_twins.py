"""A record the filter keeps out, met before its twin in another CRM: the twin made later is linked to it."""

from __future__ import annotations

from crmsync.engine.connections import open_connectors
from crmsync.engine.context import SyncContext
from crmsync.engine.deliver import deliver
from crmsync.engine.outbox import write_job, write_kind
from crmsync.engine.runner import utc_now
from tests.integration.engine.conftest import Crm, CrmFactory

EMAIL = "ada.lovelace@example.com"
NO_INTERNS = "contact: {filter: {title: {not_equals: Intern}}}"


async def _dynamics_ids(crm: Crm) -> list[str]:
    return sorted(str(row["contactid"]) for row in await crm.sb.dynamics.rows("contact", {"$select": "contactid"}))


async def test_a_twin_made_after_its_kept_out_record_is_linked_to_it_not_created_again(
    crm_factory: CrmFactory,
) -> None:
    """Dataverse takes a second contact with one email: the person would be there twice."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create(
        "contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern", "telephone1": "+14155550100"}
    )
    first = await crm.sync()
    assert first.total("filtered") == 1
    assert await crm.sb.hubspot.count("contact") == 0
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        await user.control.advance(5)
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync()
    assert await _dynamics_ids(crm) == [dv]
    assert await crm.twin("contact", "hubspot", hs, "dynamics") == dv
    assert await crm.sb.salesforce.count("contact") == 1
    assert not await crm.errors()
    # Met like any other record: its values join the person's (its phone reaches the others), and the newer
    # title wins as it would have, had both been met at once.
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    sf_row = await crm.sb.salesforce.get("contact", sf)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and dv_row is not None
    assert (sf_row["Phone"], sf_row["Title"]) == ("+14155550100", "Analyst")
    assert dv_row["jobtitle"] == "Analyst"
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0


async def test_a_twin_made_after_its_kept_out_hubspot_contact_raises_no_duplicate_error(
    crm_factory: CrmFactory,
) -> None:
    """HubSpot refuses a second contact with one email: the create failed for ever (Contact already exists)."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    sf = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL, "Title": "Analyst"})
    await crm.sync()
    assert not await crm.errors()
    assert await crm.twin("contact", "salesforce", sf, "hubspot") == hs
    assert await crm.sb.hubspot.count("contact") == 1
    assert await crm.sb.dynamics.count("contact") == 1


async def test_a_kept_out_record_with_no_twin_stays_kept_out(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    await crm.sb.dynamics.update("contact", dv, {"telephone1": "+14155550100"})
    report = await crm.sync()
    assert report.total("filtered") == 1
    assert await crm.canonical("contact", "dynamics", dv) is None
    assert await crm.sb.salesforce.count("contact") == 0
    assert await crm.sb.hubspot.count("contact") == 0


async def test_a_kept_out_record_whose_email_changed_is_no_twin_of_the_old_one(crm_factory: CrmFactory) -> None:
    """Its key is the one it holds when last read: another person taking its old address is not linked to it."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Byron", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    await crm.sb.dynamics.update("contact", dv, {"emailaddress1": "lord.byron@example.com"})
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync()
    twin = await crm.twin("contact", "hubspot", hs, "dynamics")
    assert twin != dv
    assert await crm.canonical("contact", "dynamics", dv) is None
    byron = await crm.sb.dynamics.get("contact", dv)
    assert byron is not None and (byron["lastname"], byron["emailaddress1"]) == ("Byron", "lord.byron@example.com")
    assert not await crm.errors()


async def test_a_kept_out_record_linked_to_its_twin_goes_on_syncing(crm_factory: CrmFactory) -> None:
    """Linked, it is synced like a record that stopped matching: its later edits reach the others."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync()
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        await user.control.advance(5)
    await crm.sb.dynamics.update("contact", dv, {"jobtitle": "Intern", "telephone1": "+14155550199"})
    await crm.sync()
    row = await crm.sb.hubspot.get("contact", hs)
    assert row is not None
    assert (row["jobtitle"], row["phone"]) == ("Intern", "+14155550199")
    assert await _dynamics_ids(crm) == [dv]


async def test_a_kept_out_record_deleted_before_its_twin_came_is_not_linked(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync()
    assert await crm.twin("contact", "hubspot", hs, "dynamics") != dv
    assert await crm.sb.dynamics.count("contact") == 1
    assert not await crm.errors()


async def test_a_kept_out_record_deleted_as_its_twin_comes_deletes_nobody(crm_factory: CrmFactory) -> None:
    """Linked to the twin but never read: its delete is no delete of the person, who is created there instead."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    await crm.sync()
    assert await crm.sb.hubspot.get("contact", hs) is not None
    assert await crm.twin("contact", "hubspot", hs, "dynamics") != dv
    assert await crm.sb.dynamics.count("contact") == 1
    assert await crm.sb.salesforce.count("contact") == 1
    assert not await crm.errors()


async def test_a_first_sync_that_reads_the_kept_out_record_before_its_twin_links_them(crm_factory: CrmFactory) -> None:
    """Salesforce is read before Dataverse: within one run, the kept-out record is met first."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    sf = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL, "Title": "Intern"})
    dv = await crm.sb.dynamics.create(
        "contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Analyst"}
    )
    await crm.sync()
    assert await crm.twin("contact", "dynamics", dv, "salesforce") == sf
    assert await crm.sb.salesforce.count("contact") == 1
    assert await crm.sb.hubspot.count("contact") == 1
    assert not await crm.errors()


async def test_two_kept_out_records_of_one_crm_are_linked_as_the_person_and_a_reported_duplicate(
    crm_factory: CrmFactory,
) -> None:
    """As had both been met with their twin: the first met is the one synced, the other a duplicate to merge."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    first = await crm.sb.dynamics.create(
        "contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"}
    )
    await crm.sync()
    second = await crm.sb.dynamics.create(
        "contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"}
    )
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync()
    assert await crm.twin("contact", "hubspot", hs, "dynamics") == first
    assert await crm.canonical("contact", "dynamics", second) == await crm.canonical("contact", "hubspot", hs)
    assert await _dynamics_ids(crm) == sorted([first, second])
    reports = [e.report for e in await crm.errors()]
    assert [(r.connection, r.remote_id, r.code) for r in reports] == [("dynamics", second, "DUPLICATE")]


async def test_a_write_to_a_linked_kept_out_record_not_read_yet_creates_nothing(crm_factory: CrmFactory) -> None:
    """A write queued there before its read (a conflict settled meanwhile, a worker delivering first) waits for it."""
    crm = await crm_factory(objects_yaml=NO_INTERNS)
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    await crm.sync(paused=frozenset({"dynamics"}))
    canonical_id = await crm.canonical("contact", "hubspot", hs)
    assert canonical_id is not None and await crm.remote(canonical_id, "dynamics") == dv
    async with crm.store.begin() as tx:
        # Its twin's first meeting queued nothing there: the kept-out record's own read decides what it is written.
        assert await tx.jobs.list("pending", kind=write_kind("contact", "dynamics")) == []
        await tx.jobs.enqueue(write_job("contact", canonical_id, "dynamics"))
    async with open_connectors(crm.config) as connectors:
        ctx = SyncContext(crm.config, crm.store, connectors, utc_now, worker="worker:test")
        delivered = await deliver(ctx, "contact", "dynamics")
    assert (delivered.created, delivered.updated) == (0, 0)
    assert await _dynamics_ids(crm) == [dv]
    await crm.sync()
    assert await _dynamics_ids(crm) == [dv]
    row = await crm.sb.dynamics.get("contact", dv)
    assert row is not None and row["jobtitle"] == "Analyst"
    assert not await crm.errors()
