"""S17's waits that end: a parent that will never land ends its children's waits, with the reason on record.

A child waits for a parent in two places: read from its CRM before its parent is linked there (an `await:` job), or
written to a target before its parent is there (a `linkwait:` job). These waits used to stay parked for good, and
status listed them for good, when the parent could never come: deleted, kept out by the filter, merged into
another record. Now such a wait ends (the child is written without the link, or follows the merge survivor), and
the reason is a sync error naming the child, the parent and why; a parent whose create failed keeps its children
waiting, named with the error that holds them, and they get their link once it is retried and goes through.
"""

from __future__ import annotations

from crmsync.engine.orphans import PARENT_KEPT_OUT
from crmsync.engine.parked_ends import FOLLOWED, PARENT_DELETED
from crmsync.engine.retrying import retry
from crmsync.engine.views.errors import list_errors
from crmsync.engine.views.status import pending_lines, status_summary
from crmsync.store import SyncError
from tests.integration.engine.conftest import Crm, CrmFactory

KEPT_OUT = "company: {filter: {name: {not_equals: Hidden}}}\ncontact: {}\ndeal: {}\nactivity: {}"
DEAL = {
    "dealname": "UNIVAC",
    "pipeline": "default",
    "dealstage": "appointmentscheduled",
    "closedate": "2026-12-31T00:00:00Z",
}


async def _parked(crm: Crm, role: str) -> list[str]:
    async with crm.store.read() as tx:
        return sorted(job.kind for job in await tx.jobs.list("pending") if job.kind.startswith(f"{role}:"))


async def _errors(crm: Crm, code: str) -> list[SyncError]:
    return [error for error in await crm.errors() if error.report.code == code]


async def _contact_on_a_nameless_company(crm: Crm) -> tuple[str, str]:
    """A HubSpot contact on a company that cannot be created in Salesforce or Dataverse (no name): after a sync the
    contact is there without its company, and waits for it in both."""
    hubspot = crm.sb.hubspot
    company = await hubspot.create("company", {"domain": "remington.example"})
    contact = await hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await hubspot.associate("contact", contact, "company", company)
    first = await crm.sync()
    assert first.counts[("company", "salesforce", "failed")] == 1
    assert await _parked(crm, "linkwait") == ["linkwait:contact:dynamics", "linkwait:contact:salesforce"]
    return company, contact


async def _quiet(crm: Crm) -> None:
    assert await _parked(crm, "linkwait") == [] and await _parked(crm, "await") == []
    assert (await status_summary(crm.store, crm.config)).pending.total == 0
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0, again.counts


async def test_s17_a_deal_on_a_company_the_filter_keeps_out_syncs_without_it_and_gets_it_once_it_passes(
    crm_factory: CrmFactory,
) -> None:
    crm = await crm_factory(objects_yaml=KEPT_OUT)
    hubspot = crm.sb.hubspot
    company = await hubspot.create("company", {"name": "Hidden", "domain": "hidden.example"})
    deal = await hubspot.create("deal", DEAL)
    await hubspot.associate("deal", deal, "company", company)

    first = await crm.sync()
    # Not parked for a company that will not come: synced without it, and the reason is a sync error on the deal.
    assert first.counts.get(("deal", "hubspot", "waiting"), 0) == 0
    assert first.counts[("deal", "salesforce", "created")] == 1
    sf_deal = await crm.twin("deal", "hubspot", deal, "salesforce")
    row = await crm.sb.salesforce.get("deal", sf_deal, ["Name", "AccountId"])
    assert row is not None and (row["Name"], row["AccountId"]) == ("UNIVAC", None)
    [error] = await _errors(crm, PARENT_KEPT_OUT)
    assert (error.report.connection, error.report.remote_id) == ("hubspot", deal)
    assert error.report.field == f"@company={company}"  # the link field, and the parent left out
    assert company in error.report.message and "filter" in error.report.message
    report = await list_errors(crm.store, crm.config)
    assert [e.id for e in report.errors] == [error.id]  # where operators look: `crmsync errors list`
    await _quiet(crm)
    # Another company linked in HubSpot is not the deal's: the deal is not read again for it.
    await hubspot.create("company", {"name": "Sperry", "domain": "sperry.example"})
    await hubspot.control.reset_stats()
    other = await crm.sync()
    assert other.counts[("company", "hubspot", "new")] == 1
    assert (await hubspot.control.stats())["operations"].get("deals.batch.read", {}).get("records", 0) == 0
    assert len(await _errors(crm, PARENT_KEPT_OUT)) == 1

    # The company passes the filter: the run that links it reads the deal again, which gets its company.
    await hubspot.update("company", company, {"name": "Remington Rand"})
    landed = await crm.sync()
    assert landed.counts[("deal", "salesforce", "updated")] == 1
    row = await crm.sb.salesforce.get("deal", sf_deal, ["AccountId"])
    assert row is not None and row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    assert await _errors(crm, PARENT_KEPT_OUT) == []
    await _quiet(crm)


async def test_s17_a_link_waiting_for_a_company_deleted_before_it_landed_ends_with_a_sync_error(crm: Crm) -> None:
    company, contact = await _contact_on_a_nameless_company(crm)
    company_id = await crm.canonical("company", "hubspot", company)
    contact_id = await crm.canonical("contact", "hubspot", contact)
    assert company_id is not None and contact_id is not None

    # Deleted in HubSpot; the contact, whose association HubSpot drops unstamped, is not read again (no scan of
    # links): it still names the company, which will never be in Salesforce or Dataverse.
    await crm.sb.hubspot.delete("company", company)
    ended = await crm.sync(allow_mass_delete=True, scan_links=False)
    assert (await crm.golden(contact_id))["@company"] == company_id
    assert ended.counts[("contact", "salesforce", "link_ended")] == 1
    assert ended.counts[("contact", "dynamics", "link_ended")] == 1
    errors = await _errors(crm, PARENT_DELETED)
    assert sorted(e.report.connection for e in errors) == ["dynamics", "salesforce"]
    for error in errors:
        assert (error.report.operation, error.report.canonical_id, error.report.field) == (
            "link",
            contact_id,
            "@company",
        )
        assert error.report.remote_id == await crm.remote(contact_id, error.report.connection)
        assert f"company {company_id} was deleted" in error.report.message
    # The contact stays as it was written, without a company; status no longer lists a wait, the errors say why.
    sf_row = await crm.sb.salesforce.get("contact", await crm.twin("contact", "hubspot", contact, "salesforce"))
    assert sf_row is not None and sf_row["AccountId"] is None and sf_row["LastName"] == "Hopper"
    report = await list_errors(crm.store, crm.config)
    assert {e.id for e in errors} <= {e.id for e in report.errors}
    # A retry cannot bring the parent back: it says what will settle the error instead.
    refused = await retry(crm.store, crm.config, error_ids=[errors[0].id])
    assert refused.requeued == ()
    assert [s.reason for s in refused.skipped] == [
        f"its parent will never be in {errors[0].report.connection}: link the record there by hand, or give it "
        "another parent; the error clears once the record is written there with no link left out"
    ]
    await _quiet(crm)
    assert len(await _errors(crm, PARENT_DELETED)) == 2


async def test_s17_a_link_waiting_for_a_company_deleted_with_its_association_ends_quietly(crm: Crm) -> None:
    """Read again without the company (HubSpot drops the association), the contact owes no link: nothing to report."""
    company, contact = await _contact_on_a_nameless_company(crm)
    contact_id = await crm.canonical("contact", "hubspot", contact)
    assert contact_id is not None
    await crm.sb.hubspot.delete("company", company)
    ended = await crm.sync(allow_mass_delete=True)
    assert (await crm.golden(contact_id))["@company"] is None
    assert ended.counts[("contact", "salesforce", "link_moot")] == 1
    assert ended.counts[("contact", "dynamics", "link_moot")] == 1
    assert await _errors(crm, PARENT_DELETED) == []
    await _quiet(crm)


async def test_s17_a_link_waiting_for_a_company_merged_away_follows_the_survivor(crm: Crm) -> None:
    hubspot = crm.sb.hubspot
    # The older of the two, so its canonical record is the one the merge keeps (the nameless one's is retired).
    survivor = await hubspot.create("company", {"name": "Remington Rand", "domain": "remington-rand.example"})
    await crm.sync()
    company, contact = await _contact_on_a_nameless_company(crm)
    retired_id = await crm.canonical("company", "hubspot", company)
    survivor_id = await crm.canonical("company", "hubspot", survivor)
    contact_id = await crm.canonical("contact", "hubspot", contact)
    assert survivor_id is not None and contact_id is not None

    # Merged in HubSpot, the survivor's values kept. The contact's association moves there with no change to the
    # contact (HubSpot does not stamp it), and no scan of links sees it: only the wait can carry the contact over.
    await hubspot.merge("company", survivor, company)
    followed = await crm.sync(scan_links=False)
    async with crm.store.read() as tx:
        retired = await tx.records.get(str(retired_id))
    assert retired is not None and retired.deleted  # the contact's company is the record the merge retired
    assert followed.counts[("contact", "salesforce", "link_followed")] == 1
    assert followed.counts[("contact", "dynamics", "link_followed")] == 1
    assert (await crm.golden(contact_id))["@company"] == survivor_id
    async with crm.store.read() as tx:
        moved = await tx.audit.list(contact_id, "@company")
    assert moved[-1].reason == FOLLOWED and moved[-1].new == survivor_id
    sf_row = await crm.sb.salesforce.get("contact", await crm.twin("contact", "hubspot", contact, "salesforce"))
    assert sf_row is not None and sf_row["AccountId"] == await crm.remote(survivor_id, "salesforce")
    dv_contact = await crm.twin("contact", "hubspot", contact, "dynamics")
    dv_row = await crm.sb.dynamics.get("contact", dv_contact, ["_parentcustomerid_value"])
    assert dv_row is not None and dv_row["_parentcustomerid_value"] == await crm.remote(survivor_id, "dynamics")
    assert await _errors(crm, PARENT_DELETED) == []
    await _quiet(crm)


async def test_s17_a_link_held_by_its_parents_failed_create_is_named_in_status_and_lands_once_retried(
    crm: Crm,
) -> None:
    company, contact = await _contact_on_a_nameless_company(crm)
    company_id = await crm.canonical("company", "hubspot", company)
    contact_id = await crm.canonical("contact", "hubspot", contact)
    [refused] = [
        e for e in await crm.errors() if e.report.connection == "salesforce" and e.report.operation == "create"
    ]
    assert refused.report.canonical_id == company_id
    # Not silently parked: status names the child, the parent and the error that holds it.
    pending = (await status_summary(crm.store, crm.config)).pending
    lines = [text for text, _ in pending_lines(pending)]
    assert f"contact {contact_id} waiting in salesforce on {company_id}, whose write failed: E{refused.id}" in lines
    hints = [hint for text, hint in pending_lines(pending) if f"E{refused.id}" in text]
    assert hints == [f"`crmsync errors show E{refused.id}`, then `crmsync errors retry E{refused.id}`"]

    # Fixed at the source, then retried as status says: the run that creates the company links the contact.
    await crm.sb.hubspot.update("company", company, {"name": "Remington Rand"})
    outcome = await retry(crm.store, crm.config, error_ids=[refused.id])
    assert [item.id for item in outcome.requeued] == [refused.id]
    landed = await crm.sync()
    assert landed.counts[("company", "salesforce", "created")] == 1
    sf_row = await crm.sb.salesforce.get("contact", await crm.twin("contact", "hubspot", contact, "salesforce"))
    assert sf_row is not None and sf_row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    assert (await status_summary(crm.store, crm.config)).pending.blocked == ()
    await _quiet(crm)


async def test_s17_a_contact_in_a_crm_its_company_is_not_synced_with_waits_for_nothing(
    crm_factory: CrmFactory,
) -> None:
    """Companies sync with HubSpot and Salesforce only: a contact written to Dataverse owes no link there."""
    crm = await crm_factory(
        objects_yaml="company: {connections: [hubspot, salesforce]}\ncontact: {}\ndeal: {}\nactivity: {}"
    )
    company = await crm.sb.hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    contact = await crm.sb.hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await crm.sb.hubspot.associate("contact", contact, "company", company)
    first = await crm.sync()
    assert first.counts[("contact", "dynamics", "created")] == 1
    assert first.counts.get(("contact", "dynamics", "link_waiting"), 0) == 0
    sf_row = await crm.sb.salesforce.get("contact", await crm.twin("contact", "hubspot", contact, "salesforce"))
    assert sf_row is not None and sf_row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    assert [e.report.message for e in await crm.errors()] == []
    await _quiet(crm)
