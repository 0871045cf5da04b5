"""Several processes claiming from PostgreSQL with SKIP LOCKED; concurrent enqueues still coalesce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.store import NewJob, Store, open_store
from tests.integration.store.pg_locks import someone_waits_for_a_row
from tests.unit.store.queue_workers import check_runs, enqueue_jobs, run_processes
from tests.unit.store.test_concurrency import test_a_dead_workers_job_is_reaped_and_rerun  # noqa: F401

pytestmark = pytest.mark.postgres

KEYS = 10
PER_KEY = 12


async def test_processes_claim_without_overlap_or_reordering(store: Store, store_url: str, tmp_path: Path) -> None:
    total = await enqueue_jobs(store, KEYS, PER_KEY)
    runs = run_processes(store_url, processes=3, tasks=2, folder=tmp_path)
    check_runs(runs, total, PER_KEY)
    async with store.read() as tx:
        assert await tx.jobs.counts() == {"done": total}


async def test_concurrent_enqueues_of_one_key_coalesce(store: Store, store_url: str) -> None:
    others = [await open_store(store_url, migrate_schema=False) for _ in range(4)]

    async def enqueue(s: Store, n: int) -> int:
        async with s.begin() as tx:
            return await tx.jobs.enqueue(NewJob("contact:1", "fetch", {"n": n}))

    ids = await asyncio.gather(*(enqueue(s, n) for n, s in enumerate(others)))
    for other in others:
        await other.aclose()
    assert len(set(ids)) == 1
    async with store.read() as tx:
        assert len(await tx.jobs.list(status="pending")) == 1


@pytest.mark.parametrize("many", [False, True], ids=["enqueue", "enqueue_many"])
async def test_a_job_claimed_while_an_enqueue_waits_for_it_is_not_what_absorbs_the_new_job(
    store: Store, store_url: str, many: bool
) -> None:
    """The enqueue chose a pending job to absorb the new one, and the claimer of that job committed first.

    Absorbed into a job already running, the new job's change could be missed: the worker may have read the
    record before the enqueuer's transaction committed (a lost update). A new pending job must be queued.
    """
    other = await open_store(store_url, migrate_schema=False)
    claimer = await open_store(store_url, migrate_schema=False)
    try:
        async with store.begin() as tx:
            first = await tx.jobs.enqueue(NewJob("write:1", "write", {"n": 1}))
        async with claimer.begin() as claiming:
            assert [job.id for job in await claiming.jobs.claim("worker-a", ["write"], limit=1)] == [first]

            async def enqueue_again() -> None:
                async with other.begin() as tx:
                    job = NewJob("write:1", "write", {"n": 2})
                    await (tx.jobs.enqueue_many([job]) if many else tx.jobs.enqueue(job))

            enqueuing = asyncio.create_task(enqueue_again())
            while not await someone_waits_for_a_row(store):
                assert not enqueuing.done(), "the enqueue did not wait for the job being claimed"
        await enqueuing
        async with store.read() as tx:
            running = await tx.jobs.list(status="running")
            pending = await tx.jobs.list(status="pending")
        assert [(job.id, job.payload) for job in running] == [(first, {"n": 1})]
        assert [job.payload for job in pending] == [{"n": 2}]
    finally:
        await other.aclose()
        await claimer.aclose()


async def test_an_enqueue_of_thousands_of_keys_takes_no_lock_per_key(store: Store) -> None:
    """PostgreSQL's shared lock table holds max_locks_per_transaction × max_connections entries (6,400 by
    default): a lock per key, for several workers each enqueuing a big batch at once, would exhaust it."""
    async with store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(f"write:{n}", "write", {"n": n}) for n in range(3000)])
        await tx.jobs.enqueue_many([NewJob(f"write:{n}", "write", {"n": -n}) for n in range(3000)])
        locks = await tx.connection.scalar(
            sa.text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'")
        )
    assert locks == 0
    async with store.read() as tx:
        pending = await tx.jobs.list(status="pending")
    assert len(pending) == 3000
    assert {job.payload["n"] for job in pending} == {-n for n in range(3000)}


async def test_a_job_given_back_while_an_enqueue_of_its_key_is_under_way_still_takes_it_in(
    store: Store, store_url: str
) -> None:
    """The give-back looked for newer pending jobs before the enqueue committed one: its update then breaks
    the one-pending-job index, and it folds again in a savepoint, rather than failing the worker's pass."""
    enqueuer = await open_store(store_url, migrate_schema=False)
    try:
        async with store.begin() as tx:
            first = await tx.jobs.enqueue(NewJob("write:1", "write", {"n": 1}))
        async with store.begin() as tx:
            assert [job.id for job in await tx.jobs.claim("worker-a", ["write"])] == [first]
        async with enqueuer.begin() as enqueuing:
            await enqueuing.jobs.enqueue(NewJob("write:1", "write", {"n": 2}))

            async def give_back() -> int:
                async with store.begin() as tx:
                    return await tx.jobs.release_many([first], "worker-a", "connection down")

            giving = asyncio.create_task(give_back())
            while not await someone_waits_for_a_row(enqueuer):
                assert not giving.done(), "the give-back did not wait for the enqueue under way"
        assert await giving == 1
        async with store.read() as tx:
            pending = await tx.jobs.list(status="pending")
        assert [(job.id, job.payload) for job in pending] == [(first, {"n": 2})]
    finally:
        await enqueuer.aclose()
