"""S17 from the child's side: a record whose parent crmsync has not synced yet waits for it, read once a run.

A HubSpot deal on a company crmsync has not read yet (runs of deals only, `sync --object deal`) cannot be matched
(its key is its company and name), so it waits. It used to be queued to read again as a plain hint, which the runner
claimed twice more within the run that queued it, and a worker's pass of hints claimed after every pass: three
reads a run, and no rest. (A company that will not come, kept out by the filter, ends the wait: `test_parked_ends`.)
"""

from __future__ import annotations

from crmsync.engine.outbox import refetch_job
from crmsync.engine.report import RunReport
from crmsync.engine.views.status import status_summary
from crmsync.store import NewJob
from tests.integration.engine.conftest import Crm, CrmFactory

DEALS = ("deal",)


async def _deal_on_a_company_not_read(crm_factory: CrmFactory) -> tuple[Crm, str, str]:
    crm = await crm_factory()
    await crm.sync(kinds=("company",))  # nothing yet: every CRM's companies read once, so writes may go there
    hubspot = crm.sb.hubspot
    company = await hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    deal = await hubspot.create(
        "deal",
        {
            "dealname": "UNIVAC",
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await hubspot.associate("deal", deal, "company", company)
    return crm, company, deal


async def _deals_read_again(crm: Crm) -> int:
    """Deals HubSpot served by id since the last reset (the engine's reads of queued records)."""
    operations = (await crm.sb.hubspot.control.stats())["operations"]
    return int(operations.get("deals.batch.read", {}).get("records", 0))


def _deal_reads(report: RunReport) -> tuple[int, int]:
    return report.counts.get(("deal", "hubspot", "read"), 0), report.counts.get(("deal", "hubspot", "waiting"), 0)


async def _pending_reads(crm: Crm) -> list[str]:
    async with crm.store.read() as tx:
        return sorted(job.kind for job in await tx.jobs.list("pending") if not job.kind.startswith("write:"))


async def test_s17_a_deal_waiting_for_its_company_is_read_once_a_run_then_synced_when_the_company_is(
    crm_factory: CrmFactory,
) -> None:
    crm, company, deal = await _deal_on_a_company_not_read(crm_factory)
    hubspot = crm.sb.hubspot
    await hubspot.control.reset_stats()
    first = await crm.sync(kinds=DEALS)
    # Listed by the first read, and not read again by id within the run.
    assert _deal_reads(first) == (1, 1)
    assert await _deals_read_again(crm) == 0
    assert await crm.canonical("deal", "hubspot", deal) is None
    assert await _pending_reads(crm) == ["await:deal:hubspot"]
    # What `crmsync status` and the dashboard say of it.
    assert (await status_summary(crm.store, crm.config)).pending.waiting == {"deal": 1}
    for _ in range(2):
        await hubspot.control.reset_stats()
        again = await crm.sync(kinds=DEALS)
        assert _deal_reads(again) == (1, 1)  # unchanged, it is read once a run: its company may have come
        assert await _deals_read_again(crm) == 1
        assert again.total("created") + again.total("updated") == 0
    assert await crm.sb.salesforce.count("deal") == 0 and await crm.sb.dynamics.count("deal") == 0

    # A run of every kind: the company syncs, and the deal with it, in one run, read once.
    await hubspot.control.reset_stats()
    landed = await crm.sync()
    assert _deal_reads(landed) == (1, 0)
    assert await _deals_read_again(crm) == 1
    sf_deal = await crm.twin("deal", "hubspot", deal, "salesforce")
    row = await crm.sb.salesforce.get("deal", sf_deal, ["Name", "AccountId"])
    assert row is not None and (row["Name"], row["AccountId"]) == (
        "UNIVAC",
        await crm.twin("company", "hubspot", company, "salesforce"),
    )
    dv_deal = await crm.twin("deal", "hubspot", deal, "dynamics")
    dv_row = await crm.sb.dynamics.get("deal", dv_deal, ["_customerid_value"])
    assert dv_row is not None and dv_row["_customerid_value"] == await crm.twin(
        "company", "hubspot", company, "dynamics"
    )
    assert await _pending_reads(crm) == []
    assert (await status_summary(crm.store, crm.config)).pending.total == 0
    await hubspot.control.reset_stats()
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("updated") == 0 and await _deals_read_again(crm) == 0


async def test_s17_passes_of_hints_leave_a_waiting_deal_alone_until_its_company_lands_in_one(
    crm_factory: CrmFactory,
) -> None:
    crm, company, deal = await _deal_on_a_company_not_read(crm_factory)
    hubspot = crm.sb.hubspot
    await crm.sync(kinds=DEALS)
    await hubspot.control.reset_stats()
    # A worker's (or `serve`'s) passes between polls: nothing came, so nothing is read.
    for _ in range(3):
        idle = await crm.sync(read=False)
        assert _deal_reads(idle) == (0, 0)
    assert await _deals_read_again(crm) == 0

    # The company's webhook: the pass that links it reads the deal, once, and syncs it.
    hint: NewJob = refetch_job("company", "hubspot", crm.sb.objects["hubspot"]["company"], company, reason="webhook")
    async with crm.store.begin() as tx:
        await tx.jobs.enqueue(hint)
    landed = await crm.sync(read=False)
    assert _deal_reads(landed) == (1, 0)
    assert await _deals_read_again(crm) == 1
    sf_deal = await crm.twin("deal", "hubspot", deal, "salesforce")
    row = await crm.sb.salesforce.get("deal", sf_deal, ["AccountId"])
    assert row is not None and row["AccountId"] == await crm.twin("company", "hubspot", company, "salesforce")
    assert await _pending_reads(crm) == []
