"""`JobQueue.runnable`: the one look an idle worker takes per object kind before claiming from its queues."""

from __future__ import annotations

from datetime import timedelta

from crmsync.store import NewJob, Store
from tests.unit.store.helpers import FakeClock


async def test_a_pending_job_of_the_kind_is_runnable(store: Store) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue(NewJob("hubspot/1", "write:contact:hubspot", {}))
    async with store.read() as tx:
        assert await tx.jobs.runnable(":contact:")
        assert not await tx.jobs.runnable(":company:")


async def test_jobs_that_cannot_run_now_do_not_count(store: Store, clock: FakeClock) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue(NewJob("in:hubspot/contacts/1", "refetch:contact:hubspot", {}))
        later = clock() + timedelta(minutes=5)
        await tx.jobs.enqueue(NewJob("hubspot/2", "write:contact:hubspot", {}, run_after=later))
        await tx.jobs.enqueue(NewJob("contact:3", "delete:contact", {}))  # the lease holder's, not a worker's
        await tx.jobs.claim("worker-a", ["refetch:contact:hubspot"])
    async with store.read() as tx:
        assert not await tx.jobs.runnable(":contact:")  # running, backing off, or no `…:contact:…` kind
    clock.advance(timedelta(minutes=5))
    async with store.read() as tx:
        assert await tx.jobs.runnable(":contact:")


async def test_the_kind_part_is_matched_literally(store: Store) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue(NewJob("hubspot/1", "write:contact:hubspot", {}))
    async with store.read() as tx:
        assert not await tx.jobs.runnable(":con%:")
        assert not await tx.jobs.runnable(":c_ntact:")
