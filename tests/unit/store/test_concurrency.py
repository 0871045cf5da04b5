"""Several processes claiming from one SQLite file: per-key serial and ordered, nothing lost or doubled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crmsync.store import Store, open_store
from tests.unit.store.helpers import FakeClock
from tests.unit.store.queue_workers import check_runs, enqueue_jobs, run_dying_worker, run_processes

KEYS = 8
PER_KEY = 10


async def test_processes_claim_without_overlap_or_reordering(store: Store, store_url: str, tmp_path: Path) -> None:
    total = await enqueue_jobs(store, KEYS, PER_KEY)
    runs = run_processes(store_url, processes=3, tasks=2, folder=tmp_path)
    check_runs(runs, total, PER_KEY)
    async with store.read() as tx:
        assert await tx.jobs.counts() == {"done": total}
        effects = [entry for k in range(KEYS) for entry in await tx.audit.list(f"key{k}")]
    assert len(effects) == total  # each job's effect committed exactly once


async def test_a_dead_workers_job_is_reaped_and_rerun(store: Store, store_url: str) -> None:
    await enqueue_jobs(store, keys=1, per_key=1)
    run_dying_worker(store_url)  # real clock: its lease ends a minute from now
    async with store.begin() as tx:
        (job,) = await tx.jobs.list()
    assert (job.status, job.locked_by) == ("running", "doomed")
    assert job.locked_until is not None
    for minutes, reaped in ((0, []), (2, [job.id])):
        revived = await open_store(store_url, clock=FakeClock(job.locked_until + timedelta(minutes=minutes)))
        try:
            async with revived.begin() as tx:
                assert await tx.jobs.reap() == reaped
                claimed = await tx.jobs.claim("w2")
                for rerun in claimed:
                    await tx.jobs.complete(rerun.id, "w2")
        finally:
            await revived.aclose()
    assert [(rerun.id, rerun.attempts) for rerun in claimed] == [(job.id, 2)]
