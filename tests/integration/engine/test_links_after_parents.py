"""S17 from the target's side: a child written to a CRM before its parent could be gets its link once the parent lands.

A HubSpot company with no name cannot be created in Salesforce or Dataverse (both require one): its creates
fail, and its contact (or deal) is created there without the link. The write used to be counted as
`link_waiting` and completed, with nothing queued again: once the company had a name and was created, the
child kept an empty `AccountId` (`parentcustomerid`) until the child itself changed.
"""

from __future__ import annotations

from crmsync.engine.outbox import refetch_job
from crmsync.engine.views.status import pending_lines, status_summary
from tests.integration.engine.conftest import Crm

DEAL = {
    "dealname": "UNIVAC",
    "pipeline": "default",
    "dealstage": "appointmentscheduled",
    "closedate": "2026-12-31T00:00:00Z",
}


async def _nameless_company(crm: Crm) -> str:
    return await crm.sb.hubspot.create("company", {"domain": "remington.example"})


async def _parked_links(crm: Crm) -> list[str]:
    async with crm.store.read() as tx:
        return sorted(job.kind for job in await tx.jobs.list("pending") if job.kind.startswith("linkwait:"))


async def _created_without_the_company(crm: Crm, child: str, kind: str) -> None:
    """The first sync: the company's creates fail there, the child is created without it, and waits for it."""
    first = await crm.sync()
    assert first.counts[("company", "salesforce", "failed")] == 1
    assert first.counts[("company", "dynamics", "failed")] == 1
    assert first.counts[(kind, "salesforce", "link_waiting")] == 1
    assert first.counts[(kind, "dynamics", "link_waiting")] == 1
    assert await _parked_links(crm) == [f"linkwait:{kind}:dynamics", f"linkwait:{kind}:salesforce"]
    pending = (await status_summary(crm.store, crm.config)).pending
    assert pending.links == {"dynamics": 1, "salesforce": 1}
    assert pending_lines(pending)[0][0].startswith("2 links to a parent not synced there yet wait (dynamics 1, ")
    # A run in which no parent lands leaves them parked, and writes nothing.
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0
    assert await _parked_links(crm) == [f"linkwait:{kind}:dynamics", f"linkwait:{kind}:salesforce"]
    assert await crm.canonical(kind, "hubspot", child) is not None  # type: ignore[arg-type]


async def _converged(crm: Crm) -> None:
    assert await _parked_links(crm) == []
    assert (await status_summary(crm.store, crm.config)).pending.total == 0
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("updated") == 0, quiet.counts
    assert not quiet.plan


async def test_s17_a_contact_created_before_its_company_gets_linked_in_the_run_the_company_lands(crm: Crm) -> None:
    hubspot = crm.sb.hubspot
    company = await _nameless_company(crm)
    contact = await hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await hubspot.associate("contact", contact, "company", company)
    await _created_without_the_company(crm, contact, "contact")
    sf_contact = await crm.twin("contact", "hubspot", contact, "salesforce")
    dv_contact = await crm.twin("contact", "hubspot", contact, "dynamics")
    sf_row = await crm.sb.salesforce.get("contact", sf_contact, ["AccountId"])
    assert sf_row is not None and sf_row["AccountId"] is None

    # The company gets a name: the run that creates it links the contact to it, the contact itself unchanged.
    await hubspot.update("company", company, {"name": "Remington Rand"})
    landed = await crm.sync()
    assert landed.counts[("company", "salesforce", "created")] == 1
    assert landed.counts[("contact", "salesforce", "updated")] == 1
    assert landed.counts[("contact", "dynamics", "updated")] == 1
    sf_row = await crm.sb.salesforce.get("contact", sf_contact, ["AccountId"])
    assert sf_row is not None and sf_row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    dv_row = await crm.sb.dynamics.get("contact", dv_contact, ["_parentcustomerid_value"])
    assert dv_row is not None and dv_row["_parentcustomerid_value"] == await crm.twin(
        "company", "hubspot", company, "dynamics"
    )
    await _converged(crm)


async def test_s17_a_deal_created_before_its_company_gets_linked_in_the_run_the_company_lands(crm: Crm) -> None:
    hubspot = crm.sb.hubspot
    company = await _nameless_company(crm)
    deal = await hubspot.create("deal", DEAL)
    await hubspot.associate("deal", deal, "company", company)
    await _created_without_the_company(crm, deal, "deal")

    await hubspot.update("company", company, {"name": "Remington Rand"})
    landed = await crm.sync()
    assert landed.counts[("deal", "salesforce", "updated")] == 1
    sf_deal = await crm.twin("deal", "hubspot", deal, "salesforce")
    row = await crm.sb.salesforce.get("deal", sf_deal, ["AccountId"])
    assert row is not None and row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    dv_deal = await crm.twin("deal", "hubspot", deal, "dynamics")
    dv_row = await crm.sb.dynamics.get("deal", dv_deal, ["_customerid_value"])
    assert dv_row is not None and dv_row["_customerid_value"] == await crm.twin(
        "company", "hubspot", company, "dynamics"
    )
    await _converged(crm)


async def test_s17_a_pass_of_hints_that_creates_the_company_links_its_contact_too(crm: Crm) -> None:
    """A worker's pass (`serve` after a webhook) that creates the company writes the contact's link as well."""
    hubspot = crm.sb.hubspot
    company = await _nameless_company(crm)
    contact = await hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await hubspot.associate("contact", contact, "company", company)
    await _created_without_the_company(crm, contact, "contact")
    # Passes in which no parent lands leave the waits parked and write nothing.
    idle = await crm.sync(read=False)
    assert idle.total("created") + idle.total("updated") == 0
    assert len(await _parked_links(crm)) == 2

    await hubspot.update("company", company, {"name": "Remington Rand"})
    hint = refetch_job("company", "hubspot", crm.sb.objects["hubspot"]["company"], company, reason="webhook")
    async with crm.store.begin() as tx:
        await tx.jobs.enqueue(hint)
    landed = await crm.sync(read=False)
    assert landed.counts[("contact", "salesforce", "updated")] == 1
    assert landed.counts[("contact", "dynamics", "updated")] == 1
    sf_contact = await crm.twin("contact", "hubspot", contact, "salesforce")
    sf_row = await crm.sb.salesforce.get("contact", sf_contact, ["AccountId"])
    assert sf_row is not None and sf_row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    dv_contact = await crm.twin("contact", "hubspot", contact, "dynamics")
    dv_row = await crm.sb.dynamics.get("contact", dv_contact, ["_parentcustomerid_value"])
    assert dv_row is not None and dv_row["_parentcustomerid_value"] == await crm.twin(
        "company", "hubspot", company, "dynamics"
    )
    await _converged(crm)


async def test_s17_a_company_created_by_a_run_that_stopped_before_its_contacts_is_linked_by_the_next(
    crm: Crm,
) -> None:
    """A run of companies only (`sync --object company`, or one that stopped after them): the next run writes
    the link, though no parent lands in it."""
    hubspot = crm.sb.hubspot
    company = await _nameless_company(crm)
    contact = await hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await hubspot.associate("contact", contact, "company", company)
    await _created_without_the_company(crm, contact, "contact")
    await hubspot.update("company", company, {"name": "Remington Rand"})
    companies = await crm.sync(kinds=("company",))
    assert companies.counts[("company", "salesforce", "created")] == 1
    assert len(await _parked_links(crm)) == 2

    later = await crm.sync()
    assert later.total("created") == 0
    assert later.counts[("contact", "salesforce", "updated")] == 1
    assert later.counts[("contact", "dynamics", "updated")] == 1
    sf_contact = await crm.twin("contact", "hubspot", contact, "salesforce")
    sf_row = await crm.sb.salesforce.get("contact", sf_contact, ["AccountId"])
    assert sf_row is not None and sf_row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    await _converged(crm)
