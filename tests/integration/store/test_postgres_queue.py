"""Several processes claiming from PostgreSQL with SKIP LOCKED; concurrent enqueues still coalesce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crmsync.store import NewJob, Store, open_store
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
