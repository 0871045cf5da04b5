"""A delivery round claims in short transactions and plans outside them (SQLite's one writer stays free meanwhile); a
write its connector gave no result for is tried again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from crmsync.connectors.base import WriteOp, WriteResult
from crmsync.engine import deliver as delivery
from crmsync.engine.connections import open_connectors
from crmsync.engine.context import SyncContext
from crmsync.engine.delivery_types import Planned
from crmsync.engine.outbox import write_kind
from crmsync.engine.runner import utc_now
from crmsync.model.values import ObjectKind
from crmsync.store import Job, JobStatus, Transaction
from tests.integration.engine.conftest import Crm

EMAIL = "rounds@delivery.example"


async def _queued_write(crm: Crm) -> None:
    """A Salesforce contact synced while Dataverse is paused: its create there waits in the queue."""
    await crm.sb.salesforce.create("contact", {"LastName": "Rounds", "Email": EMAIL})
    await crm.sync(paused=frozenset({"dynamics"}))


async def _dataverse_writes(crm: Crm, status: JobStatus) -> list[Job]:
    async with crm.store.read() as tx:
        return await tx.jobs.list(status, kind=write_kind("contact", "dynamics"))


async def _in_dataverse(crm: Crm) -> int:
    return len(await crm.sb.dynamics.find("contact", "emailaddress1", EMAIL, ["lastname"]))


async def test_a_round_plans_without_holding_the_writer(crm: Crm, monkeypatch: pytest.MonkeyPatch) -> None:
    await _queued_write(crm)
    plan = delivery._plan
    committed_while_planning: list[bool] = []

    async def plan_beside_a_writer(
        ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, jobs: Sequence[Job], **options: bool
    ) -> list[Planned]:
        # Held by the round, the writer would keep this transaction waiting (SQLite: forever, in one task).
        async with asyncio.timeout(10), crm.store.begin() as other:
            await other.cursors.put("test", "planning", "committed")
        committed_while_planning.append(True)
        return await plan(ctx, tx, kind, connection, jobs, **options)

    monkeypatch.setattr(delivery, "_plan", plan_beside_a_writer)
    async with open_connectors(crm.config) as connectors:
        ctx = SyncContext(crm.config, crm.store, connectors, utc_now, worker="worker:test")
        delivered = await delivery.deliver(ctx, "contact", "dynamics")
    assert committed_while_planning and delivered.created == 1
    assert await _in_dataverse(crm) == 1
    assert await _dataverse_writes(crm, "pending") == []


async def test_a_plan_that_fails_gives_its_claim_back_whole(crm: Crm, monkeypatch: pytest.MonkeyPatch) -> None:
    await _queued_write(crm)

    async def broken_plan(*_: object, **__: object) -> list[Planned]:
        raise RuntimeError("a bug in planning")

    monkeypatch.setattr(delivery, "_plan", broken_plan)
    async with open_connectors(crm.config) as connectors:
        ctx = SyncContext(crm.config, crm.store, connectors, utc_now, worker="worker:test")
        with pytest.raises(RuntimeError, match="a bug in planning"):
            await delivery.deliver(ctx, "contact", "dynamics")
    [job] = await _dataverse_writes(crm, "pending")
    assert (job.attempts, job.locked_by) == (0, None)  # as a rolled-back claim: no attempt spent, nobody holds it
    assert await _in_dataverse(crm) == 0


@pytest.mark.parametrize("deleted", [False, True], ids=["create", "delete"])
async def test_a_write_without_a_result_is_tried_again_with_its_errors_as_they_were(
    crm: Crm, monkeypatch: pytest.MonkeyPatch, deleted: bool
) -> None:
    if deleted:
        sf = await crm.sb.salesforce.create("contact", {"LastName": "Rounds", "Email": EMAIL})
        await crm.sync()
        await crm.sb.salesforce.delete("contact", sf)
        await crm.sync(paused=frozenset({"dynamics"}))  # the delete there waits in the queue
    else:
        await _queued_write(crm)
    errors_before = await crm.errors()
    async with open_connectors(crm.config) as connectors:
        connector = connectors["dynamics"]
        apply = connector.apply

        async def apply_losing_results(object_name: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
            await apply(object_name, ops)
            return []  # a connector bug: the writes were sent, their results lost

        monkeypatch.setattr(connector, "apply", apply_losing_results)
        ctx = SyncContext(crm.config, crm.store, connectors, utc_now, worker="worker:test")
        delivered = await delivery.deliver(ctx, "contact", "dynamics")
    assert (delivered.retrying, delivered.created, delivered.deleted) == (1, 0, 0)
    [job] = await _dataverse_writes(crm, "pending")  # to be tried again, after its backoff
    assert (job.attempts, job.locked_by) == (1, None)
    assert await crm.errors() == errors_before
