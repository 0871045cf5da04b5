"""Worker processes for the queue concurrency tests: claim, record the run, complete with an effect."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

from crmsync.store import AuditEntry, NewJob, Store, open_store


@dataclass(frozen=True)
class Run:
    job_id: int
    key: str
    seq: int
    worker: str
    start_ns: int
    end_ns: int


async def enqueue_jobs(store: Store, keys: int, per_key: int) -> int:
    # Interleave keys so a key's jobs are spread over the id range.
    async with store.begin() as tx:
        for seq in range(per_key):
            for k in range(keys):
                await tx.jobs.enqueue(NewJob(f"key{k}", "sync", {"seq": seq}, coalesce=False))
    return keys * per_key


async def _work(url: str, name: str, tasks: int, start: Callable[[], object]) -> list[Run]:
    store = await open_store(url, migrate_schema=False)
    runs: list[Run] = []
    # Start claiming together: a process that spawned faster would otherwise drain the queue alone.
    await asyncio.to_thread(start)

    async def loop(worker: str) -> None:
        while True:
            async with store.begin() as tx:
                claimed = await tx.jobs.claim(worker, limit=2)
                if not claimed:
                    live = await tx.jobs.counts()
                    if not live.get("pending") and not live.get("running"):
                        return
            for job in claimed:
                start = time.monotonic_ns()
                await asyncio.sleep(0)  # yield to the other tasks as a real job's I/O would
                end = time.monotonic_ns()
                async with store.begin() as tx:
                    # The job's effect commits with its completion (invariant 1).
                    entry = AuditEntry(job.key, f"job{job.id}", None, worker, "q", "test", datetime.now(UTC))
                    await tx.audit.append([entry])
                    await tx.jobs.complete(job.id, worker)
                runs.append(Run(job.id, job.key, int(job.payload["seq"]), worker, start, end))

    await asyncio.gather(*(loop(f"{name}.{i}") for i in range(tasks)))
    await store.aclose()
    return runs


def work(url: str, name: str, tasks: int, out: str, barrier: Barrier) -> None:
    runs = asyncio.run(_work(url, name, tasks, barrier.wait))
    Path(out).write_text(json.dumps([run.__dict__ for run in runs]))


def run_processes(url: str, processes: int, tasks: int, folder: Path) -> list[Run]:
    context = multiprocessing.get_context("spawn")
    outs = [folder / f"runs{i}.json" for i in range(processes)]
    barrier = context.Barrier(processes, timeout=120)
    children = [
        context.Process(target=work, args=(url, f"p{i}", tasks, str(out), barrier)) for i, out in enumerate(outs)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=180)
    assert [child.exitcode for child in children] == [0] * processes
    return [Run(**raw) for out in outs for raw in json.loads(out.read_text())]


def check_runs(runs: list[Run], expected_jobs: int, per_key: int) -> None:
    """Zero overlaps per key, zero order violations, nothing lost, nothing run twice."""
    ids = [run.job_id for run in runs]
    assert len(ids) == len(set(ids)), "a job ran twice"
    assert len(ids) == expected_jobs, "a job was lost"
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
    for key, key_runs in by_key.items():
        key_runs.sort(key=lambda r: r.start_ns)
        assert [r.seq for r in key_runs] == list(range(per_key)), f"order violated for {key}"
        for before, after in itertools.pairwise(key_runs):
            assert before.end_ns <= after.start_ns, f"two jobs of {key} overlapped"
    # Which processes got work is up to the scheduler: SQLite's busy handler sleeps between tries, so under load
    # one process can win every lock. Overlap, order and exactly-once above hold whoever does the work.


def claim_and_die(url: str) -> None:
    """Claim one job and exit without completing it, as a killed worker would."""

    async def claim() -> None:
        store = await open_store(url, migrate_schema=False)
        async with store.begin() as tx:
            assert await tx.jobs.claim("doomed")
        # No aclose, no complete: the process vanishes with its lease held.

    asyncio.run(claim())
    os._exit(0)


def run_dying_worker(url: str) -> None:
    child = multiprocessing.get_context("spawn").Process(target=claim_and_die, args=(url,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
