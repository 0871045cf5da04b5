"""A worker's heartbeat on PostgreSQL never waits for (or deadlocks with) its own transactions completing jobs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from crmsync.store import NewJob, Store, open_store
from tests.unit.store.helpers import FakeClock

pytestmark = pytest.mark.postgres

WORKER = "sync:host:1:abcd"
PROMPTLY_S = 5.0
"""A renew that waited for the open transaction would wait until the test gives up on it."""


async def test_renew_skips_the_jobs_another_transaction_is_completing(
    store: Store, store_url: str, clock: FakeClock
) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(f"contact/{n}", "write:contact:hubspot", {"n": n}) for n in range(3)])
        claimed = await tx.jobs.claim(WORKER, limit=3)
    first, *others = sorted(job.id for job in claimed)
    heartbeat = await open_store(store_url, clock=clock, migrate_schema=False)
    try:
        clock.advance(timedelta(seconds=30))
        async with store.begin() as completing:
            await completing.jobs.complete(first, WORKER)  # row locked until this transaction ends
            async with heartbeat.begin() as tx:
                renewed = await asyncio.wait_for(tx.jobs.renew(WORKER), PROMPTLY_S)
            assert renewed == len(others)
        async with store.read() as tx:
            jobs = {job.id: job for job in await tx.jobs.list()}
    finally:
        await heartbeat.aclose()
    assert jobs[first].status == "done"
    lease = store.policy.lease
    assert all(jobs[n].locked_until == clock() + lease for n in others)


async def test_renew_and_completions_in_opposite_orders_do_not_deadlock(
    store: Store, store_url: str, clock: FakeClock
) -> None:
    """The worker that died of `deadlock detected`: its pass completed jobs one by one while its heartbeat
    updated them all in another order."""
    async with store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(f"contact/{n}", "write:contact:hubspot", {"n": n}) for n in range(40)])
        claimed = sorted(job.id for job in await tx.jobs.claim(WORKER, limit=40))
    heartbeat = await open_store(store_url, clock=clock, migrate_schema=False)

    async def complete_backwards() -> None:
        async with store.begin() as tx:
            for job_id in reversed(claimed):
                await tx.jobs.complete(job_id, WORKER)
                await asyncio.sleep(0)  # let the heartbeat run between the row locks

    async def renew_often() -> int:
        renewed = 0
        for _ in range(20):
            async with heartbeat.begin() as tx:
                renewed += await tx.jobs.renew(WORKER)
            await asyncio.sleep(0)
        return renewed

    try:
        await asyncio.wait_for(asyncio.gather(complete_backwards(), renew_often()), PROMPTLY_S * 4)
    finally:
        await heartbeat.aclose()
    async with store.read() as tx:
        assert await tx.jobs.counts() == {"done": len(claimed)}
