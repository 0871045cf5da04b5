"""A write whose job lease expired while its call was under way (a worker starved or stopped past 60 s) is run again
by another process, so the CRM meets the same create twice: the external-id upsert makes the second one land on the
first one's record, and the late settle of the first is refused (its jobs are no longer leased) without undoing it.

The path run 22 of commit 7f15d56 met at load 14 (a worker pass whose Salesforce writes lost their leases, beside
people found twice in Salesforce); forced here: the lease expires inside the connector's write call, and another
pass reaps the job and sends the create before the first call goes on. It duplicates nothing; and the late write,
which lands after whatever the other pass wrote since, is fenced: the record is read again after those writes, and
the late values read there are taken for crmsync's own (the newer ones are written back), not for an edit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crmsync.connectors.base import WriteOp, WriteResult
from crmsync.engine.connections import open_connectors
from crmsync.engine.outbox import FENCED, refetch_job, refetch_kind, write_kind
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.store import NewJob
from crmsync.store.tables import jobs
from crmsync.testing.sandbox import SALESFORCE_EXTERNAL_ID
from tests.integration.engine.both_backends import crm_on_either, either_database  # noqa: F401
from tests.integration.engine.conftest import Crm
from tests.integration.store.conftest import postgres_url  # noqa: F401  (the session's PostgreSQL database)


async def _hint(crm: Crm, hubspot: str) -> None:
    """What the webhook receiver queues for a HubSpot contact's notification."""
    hint = refetch_job("contact", "hubspot", crm.sb.objects["hubspot"]["contact"], hubspot, reason="webhook")
    async with crm.store.begin() as tx:
        await tx.jobs.enqueue(NewJob(hint.key, hint.kind, hint.payload, priority=10))


async def _expire_salesforce_writes(crm: Crm) -> None:
    """The leases of the Salesforce writes under way run out (their worker stalled past 60 s): a reaper takes them."""
    running = sa.update(jobs).where(jobs.c.status == "running", jobs.c.kind == write_kind("contact", "salesforce"))
    async with crm.store.begin() as tx:
        await tx.connection.execute(running.values(locked_until=crm.store.clock() - timedelta(seconds=1)))


@pytest.mark.usefixtures("database")  # set up first, outside the event loop the async fixtures run in
async def test_a_create_sent_again_after_its_lease_expired_on_the_way_leaves_one_record(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    await crm.sync()  # every CRM read once
    email = "lease.lost@race.example"
    hubspot = await crm.sb.hubspot.create("contact", {"lastname": "Leased", "email": email})
    await _hint(crm, hubspot)
    sent: list[str] = []

    async with open_connectors(crm.config) as connectors:
        connector = connectors["salesforce"]
        real_apply = connector.apply

        async def apply(object_name: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
            if not sent and any(op.kind in ("create", "upsert") for op in ops):
                sent.append("first")
                # The first sender stalls past its lease: another pass reaps the job and sends the create itself.
                await _expire_salesforce_writes(crm)
                async with open_connectors(crm.config) as others:
                    again = await SyncRunner(crm.config, crm.store, others).run(RunOptions(read=False, shared=True))
                assert again.total("created") == 1  # the same create, sent and settled by the other pass
            return await real_apply(object_name, ops)

        monkeypatch.setattr(connector, "apply", apply)
        report = await SyncRunner(crm.config, crm.store, connectors).run(RunOptions(read=False, shared=True))

    assert sent and "no longer leased" in report.summary(("created",))  # the late settle was refused, and said so
    canonical = await crm.canonical("contact", "hubspot", hubspot)
    assert canonical is not None
    found = await crm.sb.salesforce.find("contact", "Email", email, ["Id", SALESFORCE_EXTERNAL_ID])
    assert [r[SALESFORCE_EXTERNAL_ID] for r in found] == [canonical]  # one record, created once, updated once
    async with crm.store.read() as tx:
        assert [lk.remote_id for lk in await tx.links.remote_links(canonical, "salesforce")] == [found[0]["Id"]]
        assert await tx.jobs.list("running") == []
        assert await tx.jobs.list("pending", kind=write_kind("contact", "salesforce")) == []
    await crm.sync(read=False, shared=True)  # nothing left to write, nothing written twice
    assert len(await crm.sb.salesforce.find("contact", "Email", email)) == 1


@pytest.mark.usefixtures("database")
async def test_a_create_whose_lease_expired_on_the_way_does_not_undo_the_newer_writes_made_meanwhile(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    await crm.sync()
    email = "late.write@race.example"
    hubspot = await crm.sb.hubspot.create("contact", {"lastname": "Late", "email": email, "jobtitle": "Old"})
    await _hint(crm, hubspot)
    sent: list[str] = []

    async with open_connectors(crm.config) as connectors:
        connector = connectors["salesforce"]
        real_apply = connector.apply

        async def apply(object_name: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
            if not sent and any(op.kind in ("create", "upsert") for op in ops):
                sent.append("first")
                await _expire_salesforce_writes(crm)
                async with open_connectors(crm.config) as others:
                    await SyncRunner(crm.config, crm.store, others).run(RunOptions(read=False, shared=True))
                    await crm.sb.hubspot.update("contact", hubspot, {"jobtitle": "New"})  # then the person edits
                    await _hint(crm, hubspot)
                    await SyncRunner(crm.config, crm.store, others).run(RunOptions(read=False, shared=True))
                [there] = await crm.sb.salesforce.find("contact", "Email", email, ["Title"])
                assert there["Title"] == "New"  # the edit reached Salesforce before the first create goes on
            return await real_apply(object_name, ops)

        monkeypatch.setattr(connector, "apply", apply)
        await SyncRunner(crm.config, crm.store, connectors).run(RunOptions(read=False, shared=True))

    await crm.sync()  # a poll reads Salesforce again
    assert sent
    assert [r["Title"] for r in await crm.sb.salesforce.find("contact", "Email", email, ["Title"])] == ["New"]
    assert (await crm.sb.hubspot.get("contact", hubspot, ["jobtitle"]) or {}).get("jobtitle") == "New"


@pytest.mark.usefixtures("database")
async def test_a_write_whose_lease_expired_that_the_newer_writes_overtook_makes_no_further_write(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The late write lands first and the pass that took it over writes the newer values after it: its fenced read
    finds them in Salesforce, so nothing is written again."""
    await crm.sync()
    email = "overtaken.write@race.example"
    hubspot = await crm.sb.hubspot.create("contact", {"lastname": "Overtaken", "email": email, "jobtitle": "Old"})
    await _hint(crm, hubspot)
    sent: list[str] = []

    async with open_connectors(crm.config) as connectors:
        connector = connectors["salesforce"]
        real_apply = connector.apply

        async def apply(object_name: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
            results = await real_apply(object_name, ops)
            if not sent and any(op.kind in ("create", "upsert") for op in ops):
                sent.append("first")
                # The call landed; its sender stalls past its lease before settling, and the newer writes go after.
                await _expire_salesforce_writes(crm)
                async with open_connectors(crm.config) as others:
                    await SyncRunner(crm.config, crm.store, others).run(RunOptions(read=False, shared=True))
                    await crm.sb.hubspot.update("contact", hubspot, {"jobtitle": "New"})
                    await _hint(crm, hubspot)
                    await SyncRunner(crm.config, crm.store, others).run(RunOptions(read=False, shared=True))
            return results

        monkeypatch.setattr(connector, "apply", apply)
        report = await SyncRunner(crm.config, crm.store, connectors).run(RunOptions(read=False, shared=True))

    assert sent and report.total("fenced") == 1  # the refused settle queued the record's fenced read
    assert [r["Title"] for r in await crm.sb.salesforce.find("contact", "Email", email, ["Title"])] == ["New"]
    again = await crm.sync()  # a poll reads Salesforce, and the fenced read runs
    assert again.total("created") + again.total("updated") == 0  # the newer values are there already
    async with crm.store.read() as tx:
        fenced = [
            job for job in await tx.jobs.list(kind=refetch_kind("contact", "salesforce")) if FENCED in job.payload
        ]
    assert [job.status for job in fenced] == ["done"]
    assert [r["Title"] for r in await crm.sb.salesforce.find("contact", "Email", email, ["Title"])] == ["New"]
    assert (await crm.sb.hubspot.get("contact", hubspot, ["jobtitle"]) or {}).get("jobtitle") == "New"
