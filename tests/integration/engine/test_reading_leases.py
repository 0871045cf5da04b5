"""Passes of hints beside a run that reads write nothing to a CRM the run has yet to read (`runlock.reading`).

Another run's reading lease is held here by hand, as a `crmsync sync` reading Dataverse's contacts would hold it.
"""

from __future__ import annotations

import os
import socket

from crmsync.engine.connections import open_connectors
from crmsync.engine.context import SyncContext
from crmsync.engine.deliver import deliver
from crmsync.engine.outbox import refetch_job, write_kind
from crmsync.engine.runlock import TTL, reading_lease
from crmsync.engine.runner import utc_now
from crmsync.store import NewJob
from tests.integration.engine.conftest import Crm

EMAIL = "lease@reading.example"


async def _edited_and_hinted(crm: Crm) -> str:
    """A Salesforce contact synced everywhere, then edited there and hinted (as its webhook would)."""
    contact = await crm.sb.salesforce.create("contact", {"LastName": "Lease", "Email": EMAIL})
    await crm.sync()
    await crm.sb.salesforce.update("contact", contact, {"Title": "Edited"})
    hint = refetch_job("contact", "salesforce", crm.sb.objects["salesforce"]["contact"], contact, reason="test hint")
    async with crm.store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(hint.key, hint.kind, hint.payload, priority=10)])
    return contact


async def _hold_reading(crm: Crm, connection: str) -> None:
    """Another live run (this process, another holder) has yet to read `connection`'s contacts."""
    async with crm.store.begin() as tx:
        await tx.leases.hold(
            reading_lease("contact", connection), "sync:reader", socket.gethostname(), os.getpid(), TTL
        )


async def _titles(crm: Crm) -> tuple[list[str | None], list[str | None]]:
    in_hubspot = await crm.sb.hubspot.find("contact", "email", EMAIL, ["jobtitle"])
    in_dataverse = await crm.sb.dynamics.find("contact", "emailaddress1", EMAIL, ["jobtitle"])
    return [r.get("jobtitle") for r in in_hubspot], [r.get("jobtitle") for r in in_dataverse]


async def _pending_writes(crm: Crm, connection: str) -> int:
    async with crm.store.read() as tx:
        return len(await tx.jobs.list("pending", kind=write_kind("contact", connection)))


async def test_a_pass_of_hints_writes_to_the_crms_read_and_waits_for_the_one_being_read(crm: Crm) -> None:
    await _edited_and_hinted(crm)
    await _hold_reading(crm, "dynamics")
    report = await crm.sync(read=False, shared=True)
    assert report.total("read") == 1  # the hint itself is read at once
    assert await _titles(crm) == (["Edited"], [None])
    assert await _pending_writes(crm, "dynamics") == 1

    async with crm.store.begin() as tx:
        await tx.leases.release(reading_lease("contact", "dynamics"), "sync:reader")  # that run read Dataverse
    await crm.sync(read=False, shared=True)
    assert await _titles(crm) == (["Edited"], ["Edited"])
    assert await _pending_writes(crm, "dynamics") == 0


async def test_a_delivery_beside_reads_gives_its_claim_back_once_a_run_has_yet_to_read_its_crm(crm: Crm) -> None:
    """The check after each claim: a pass that began delivering before the run took its lease stops there."""
    await _edited_and_hinted(crm)
    await _hold_reading(crm, "dynamics")
    await crm.sync(read=False, shared=True)  # the Dataverse write is left queued
    async with open_connectors(crm.config) as connectors:
        ctx = SyncContext(crm.config, crm.store, connectors, utc_now, worker="worker:test")
        held_back = await deliver(ctx, "contact", "dynamics", beside_reads=True)
        assert (held_back.created, held_back.updated, held_back.failed) == (0, 0, 0)
        assert await _titles(crm) == (["Edited"], [None])
        async with crm.store.read() as tx:
            [job] = await tx.jobs.list(kind=write_kind("contact", "dynamics"), status="pending")
        assert (job.attempts, job.locked_by) == (0, None)  # given back whole: no attempt spent, nobody holds it
        # The reading run's own delivery, once it has read every CRM, is not held back by its own leases.
        delivered = await deliver(ctx, "contact", "dynamics")
    assert delivered.updated == 1
    assert await _titles(crm) == (["Edited"], ["Edited"])


async def test_a_crm_never_read_gets_no_creates_until_its_first_read_succeeds(crm: Crm) -> None:
    """A CRM whose first read failed holds people the others hold too: creating them there would duplicate them."""
    await crm.sb.hubspot.create("contact", {"lastname": "Twin", "email": "twin@first.example"})
    await crm.sb.dynamics.create("contact", {"lastname": "Twin", "emailaddress1": "twin@first.example"})
    # Dataverse refuses its contacts' reads (as a column missing before `check --fix` does), not its writes.
    await crm.sb.dynamics.control.set_faults([{"kind": "status", "status": 400, "method": "GET", "path": "/contacts"}])
    first = await crm.sync()
    assert first.failed_connections == {"dynamics"}
    assert await _pending_writes(crm, "dynamics") == 1  # the create waits in the queue
    await crm.sb.dynamics.control.clear_faults()
    assert len(await crm.sb.dynamics.find("contact", "emailaddress1", "twin@first.example")) == 1

    await crm.sync()
    [twin] = await crm.sb.dynamics.find("contact", "emailaddress1", "twin@first.example")
    [in_hubspot] = await crm.sb.hubspot.find("contact", "email", "twin@first.example")
    assert await crm.twin("contact", "hubspot", str(in_hubspot["id"]), "dynamics") == twin["contactid"]
    assert await _pending_writes(crm, "dynamics") == 0
