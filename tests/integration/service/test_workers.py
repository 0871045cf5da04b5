"""Scale-out: `crmsync worker` processes share a PostgreSQL queue; a job runs once; a killed worker loses nothing."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.engine.connections import open_connectors
from crmsync.engine.outbox import refetch_job
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.store import NewJob, Store, open_store
from crmsync.store.tables import jobs
from crmsync.testing.sandbox import OBJECTS, Sandbox
from tests.integration.service.conftest import AnyOf, LogLines, eventually
from tests.integration.store.conftest import empty_schema, postgres_url  # noqa: F401  (the session's PostgreSQL database)

CONTACTS = 24
_WORKER_NUMBERS = itertools.count(1)
STOP_S = 60.0


@pytest.fixture
async def pg_state(postgres_url: str) -> str:  # noqa: F811
    return await empty_schema(postgres_url)


@dataclass
class WorkerProcess:
    """A `crmsync worker` process and its log lines: a worker logs each pass that handled something."""

    process: asyncio.subprocess.Process
    log: LogLines

    async def stop(self) -> int:
        """SIGTERM, then its exit status once it has finished its pass (and its log is read to the end)."""
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), STOP_S)
        await self.log.aclose()
        return code


async def _start_worker(config: Path) -> WorkerProcess:
    """A `crmsync worker` process, returned once it is working (its SIGTERM handler installed).

    Its log is read as it comes (copied to a file beside the config); a worker that ends before it says it
    started fails the wait with its last lines.
    """
    path = config.parent / f"worker-{next(_WORKER_NUMBERS)}.log"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crmsync", "worker", "--config", str(config), "--json-logs", "--idle", "0.1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stderr is not None
    log = LogLines(process.stderr, path)

    async def started() -> bool:
        return any("worker started" in line for line in log.lines)

    await eventually(started, after=log, what=f"the worker logging its start in {path}")
    return WorkerProcess(process, log)


async def _queue_hints(store: Store, remote_ids: list[str]) -> None:
    """What the webhook receiver does for HubSpot's notifications of these contacts' edits."""
    hints = [
        refetch_job("contact", "hubspot", OBJECTS["hubspot"]["contact"], r, reason="test hint") for r in remote_ids
    ]
    async with store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(h.key, h.kind, h.payload, priority=10) for h in hints])


async def test_two_worker_processes_deliver_every_hint_once(sandbox: Sandbox, tmp_path: Path, pg_state: str) -> None:
    await sandbox.reset()
    path = sandbox.write_config(tmp_path, pg_state)
    config = sandbox.load_config(tmp_path, pg_state)
    created = [
        await sandbox.hubspot.create("contact", {"lastname": f"Worker{n}", "email": f"w{n}@workers.example"})
        for n in range(CONTACTS)
    ]
    store = await open_store(pg_state)
    try:
        async with open_connectors(config) as connectors:
            await SyncRunner(config, store, connectors).run(RunOptions())  # the first sync, by the lease holder
        await sandbox.hubspot.update_many("contact", {r: {"jobtitle": "Scaled out"} for r in created})
        await _queue_hints(store, created)
        workers = [await _start_worker(path) for _ in range(2)]
        try:

            async def delivered() -> bool:
                titles = [row.get("Title") for row in await sandbox.salesforce.find("contact", "Title", "Scaled out")]
                rows = await sandbox.dynamics.find("contact", "jobtitle", "Scaled out")
                return len(titles) == CONTACTS and len(rows) == CONTACTS

            what = f"{CONTACTS} hinted edits in Salesforce and Dataverse"
            await eventually(delivered, after=AnyOf(w.log for w in workers), what=what)
        finally:
            codes = [await worker.stop() for worker in workers]
        assert codes == [0, 0]
        async with store.read() as tx:
            rows = (await tx.connection.execute(sa.select(jobs.c.status, jobs.c.attempts, jobs.c.kind))).all()
        assert {status for status, _, _ in rows} == {"done"}
        assert [kind for _, attempts, kind in rows if attempts != 1] == []  # no job ran twice
    finally:
        await store.aclose()


async def test_a_worker_killed_mid_pass_loses_nothing(sandbox: Sandbox, tmp_path: Path, pg_state: str) -> None:
    await sandbox.reset()
    path = sandbox.write_config(tmp_path, pg_state)
    config = sandbox.load_config(tmp_path, pg_state)
    created = [
        await sandbox.hubspot.create("contact", {"lastname": f"Kill{n}", "email": f"k{n}@workers.example"})
        for n in range(CONTACTS)
    ]
    store = await open_store(pg_state)
    try:
        async with open_connectors(config) as connectors:
            await SyncRunner(config, store, connectors).run(RunOptions())
        await sandbox.hubspot.update_many("contact", {r: {"jobtitle": "Survived"} for r in created})
        # Salesforce answers slowly, so the first worker is mid-delivery when it is killed.
        await sandbox.salesforce.control.set_faults([{"kind": "latency", "latency_ms": 400, "path": "composite"}])
        await _queue_hints(store, created)
        victim = await _start_worker(path)
        # Answers once the worker's first write is held up in Salesforce: it is mid-delivery, its claims taken.
        (latency,) = await sandbox.salesforce.control.faults(fired=1)
        assert latency["fired"] >= 1, "the first worker sent nothing to Salesforce"
        async with store.read() as tx:
            assert (await tx.jobs.counts()).get("running", 0) > 0
        victim.process.kill()
        await victim.process.wait()
        await victim.log.aclose()
        await sandbox.salesforce.control.clear_faults()
        survivor = await _start_worker(path)
        try:

            async def delivered() -> bool:
                in_sf = await sandbox.salesforce.find("contact", "Title", "Survived")
                in_dv = await sandbox.dynamics.find("contact", "jobtitle", "Survived")
                return len(in_sf) == CONTACTS and len(in_dv) == CONTACTS

            # Well before the dead worker's 60 s job leases expire: its claims are given back as soon as it is gone.
            what = "every edit delivered by the second worker"
            await eventually(delivered, after=survivor.log, what=what, deadline_s=30)
        finally:
            assert await survivor.stop() == 0
        async with store.read() as tx:
            counts = await tx.jobs.counts()
        assert set(counts) == {"done"}
    finally:
        await store.aclose()


async def test_with_two_workers_a_later_value_never_loses_to_an_earlier_one(
    sandbox: Sandbox, tmp_path: Path, pg_state: str
) -> None:
    """Per-record order: one record edited again and again, each edit hinted, while two workers race for the hints."""
    await sandbox.reset()
    path = sandbox.write_config(tmp_path, pg_state)
    config = sandbox.load_config(tmp_path, pg_state)
    contact = await sandbox.hubspot.create("contact", {"lastname": "Order", "email": "order@workers.example"})
    store = await open_store(pg_state)
    try:
        async with open_connectors(config) as connectors:
            await SyncRunner(config, store, connectors).run(RunOptions())
        workers = [await _start_worker(path) for _ in range(2)]
        try:
            for n in range(1, 11):
                await sandbox.hubspot.update("contact", contact, {"jobtitle": f"Edit {n}"})
                await _queue_hints(store, [contact])

            async def last_everywhere() -> bool:
                sf = await sandbox.salesforce.find("contact", "Email", "order@workers.example", ["Title"])
                dv = await sandbox.dynamics.find("contact", "emailaddress1", "order@workers.example", ["jobtitle"])
                return bool(sf and dv and sf[0]["Title"] == dv[0]["jobtitle"] == "Edit 10")

            logs = AnyOf(w.log for w in workers)
            await eventually(last_everywhere, after=logs, what="the last of ten edits in Salesforce and Dataverse")

            async def drained() -> bool:
                async with store.read() as tx:
                    counts = await tx.jobs.counts()
                return counts.get("pending", 0) == 0 and counts.get("running", 0) == 0

            await eventually(drained, after=logs, what="the queue drained")
        finally:
            codes = [await worker.stop() for worker in workers]
        assert codes == [0, 0]
        # Still the last value once every hint was handled: no earlier read overwrote it afterwards.
        sf = await sandbox.salesforce.find("contact", "Email", "order@workers.example", ["Title"])
        assert [row["Title"] for row in sf] == ["Edit 10"]
    finally:
        await store.aclose()


async def test_a_worker_beside_a_first_sync_creates_no_duplicate(
    sandbox: Sandbox, tmp_path: Path, pg_state: str
) -> None:
    """The people of Salesforce are in Dataverse too; Dataverse reads slowly, and a worker waits for writes.

    The run queues Dataverse creates for Salesforce's contacts before it has read Dataverse's: a worker that
    delivered them then would create every one of those people in Dataverse a second time.
    """
    await sandbox.reset()
    path = sandbox.write_config(tmp_path, pg_state)
    config = sandbox.load_config(tmp_path, pg_state)
    for n in range(CONTACTS):
        email = f"both{n}@workers.example"
        await sandbox.salesforce.create("contact", {"LastName": f"Both{n}", "Email": email})
        await sandbox.dynamics.create("contact", {"lastname": f"Both{n}", "emailaddress1": email})
    await sandbox.dynamics.control.set_faults(
        [{"kind": "latency", "latency_ms": 2000, "method": "GET", "path": "contacts"}]
    )
    worker = await _start_worker(path)
    store = await open_store(pg_state)
    try:
        async with open_connectors(config) as connectors:
            report = await SyncRunner(config, store, connectors).run(RunOptions(full=True))
        await sandbox.dynamics.control.clear_faults()

        async def drained() -> bool:
            async with store.read() as tx:
                counts = await tx.jobs.counts()
            return counts.get("pending", 0) == 0 and counts.get("running", 0) == 0

        await eventually(drained, after=worker.log, what="the queue drained")
        assert report.total("duplicates") == 0
        counts = {
            vendor: await sandbox.user(vendor).count("contact") for vendor in ("salesforce", "hubspot", "dynamics")
        }
        assert counts == {"salesforce": CONTACTS, "hubspot": CONTACTS, "dynamics": CONTACTS}
        async with store.read() as tx:
            errors = await tx.errors.list()
        assert [e.report.message for e in errors] == []
    finally:
        assert await worker.stop() == 0
        await store.aclose()
