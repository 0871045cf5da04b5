"""A run deletes the done jobs older than a day, in batches, so the queue table does not grow with every write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync.engine import runner
from crmsync.engine.connections import open_connectors
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.store.tables import jobs
from tests.integration.engine.conftest import Crm


async def finished_job(crm: Crm, key: str, status: str, finished: datetime) -> None:
    row = {
        "key": key,
        "kind": "write:contact",
        "payload": {},
        "status": status,
        "priority": 0,
        "attempts": 1,
        "run_after": finished,
        "created_at": finished,
        "finished_at": finished,
    }
    async with crm.store.begin() as tx:
        await tx.connection.execute(sa.insert(jobs).values(**row))


async def keys_left(crm: Crm) -> list[str]:
    async with crm.store.read() as tx:
        return sorted(job.key for job in await tx.jobs.list())


async def test_a_run_deletes_done_jobs_older_than_a_day_and_keeps_dead_letters(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    for n in range(3):
        await finished_job(crm, f"old{n}", "done", now - timedelta(days=2, minutes=n))
    await finished_job(crm, "recent", "done", now - timedelta(hours=1))
    await finished_job(crm, "dead", "dead", now - timedelta(days=30))
    monkeypatch.setattr(runner, "PURGE_BATCH", 2)  # three old jobs: two batches

    await crm.sync(kinds=["contact"], dry_run=True)
    assert await keys_left(crm) == ["dead", "old0", "old1", "old2", "recent"]  # a dry run changes nothing

    await crm.sync(kinds=["contact"])
    assert await keys_left(crm) == ["dead", "recent"]


async def test_a_run_deletes_a_bounded_number_and_the_next_run_goes_on(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    for n in range(5):
        await finished_job(crm, f"old{n}", "done", now - timedelta(days=2, minutes=n))
    monkeypatch.setattr(runner, "PURGE_BATCH", 2)
    monkeypatch.setattr(runner, "PURGE_BATCHES_PER_RUN", 1)
    left = []
    async with open_connectors(crm.config) as connectors:
        sync = SyncRunner(crm.config, crm.store, connectors)  # one runner, as `serve` keeps one
        for _ in range(3):
            await sync.run(RunOptions(kinds=("contact",)))
            left.append(len(await keys_left(crm)))
    assert left == [3, 1, 0]
