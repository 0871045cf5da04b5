"""Scale-out with `state.redis_url`: runners with their own state and connectors keep one vendor limit together.

Two runners (as two machines would run them) read the same Dataverse emulator, each with its own
SQLite state and connectors, and a limiter configured at 5 requests a second. Through Redis the two
share those 5: together their requests take as long as 5 a second allows. Without Redis (the control,
which shows the test can fail) each takes its own 5 and together they go twice as fast. The emulator
allows more than both together (30 a second), so its throttling signals never slow them down itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmsync.config import SyncConfig, load_config
from crmsync.engine.connections import open_connectors
from crmsync.engine.outbox import refetch_job
from crmsync.engine.redis_windows import KEY_PREFIX
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.store import NewJob, Store, open_store
from crmsync.testing.sandbox import OBJECTS, Sandbox
from tests.integration.service.conftest import LogLines, eventually
from tests.integration.store.redis_server import counts_under, delete_keys, redis_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis

EMULATOR_LIMIT = 30  # Dataverse emulator: requests per second, 429 beyond
CONFIGURED_LIMIT = 5  # what crmsync is told
CONTACTS = 15  # read one per page: each runner sends a request per contact


@pytest.fixture(scope="module")
def limited() -> Iterator[Sandbox]:
    """The three emulators, Dataverse's service protection lowered to 30 requests a second."""
    with Sandbox(settings={"dynamics": {"requests_per_window": EMULATOR_LIMIT, "window_s": 1}}) as sb:
        yield sb


@pytest.fixture
async def contacts(limited: Sandbox) -> AsyncIterator[Sandbox]:
    await limited.reset()
    for n in range(CONTACTS):
        await limited.dynamics.create("contact", {"lastname": f"Shared{n}", "emailaddress1": f"s{n}@limits.example"})
    # The creates filled the emulator's window: move its clock past it, and count only what the runners send.
    await limited.dynamics.control.advance(2)
    await limited.dynamics.control.reset_stats()
    yield limited
    await limited.reset()


def runner_config(sandbox: Sandbox, directory: Path, redis: str | None) -> SyncConfig:
    """The sandbox's crmsync.yaml with its own SQLite state, Dataverse read one record a page, and `redis_url`."""
    dynamics = {"requests_per_window": CONFIGURED_LIMIT, "window_s": 1, "page_size": 1}
    path = sandbox.write_config(directory, connections={"dynamics": dynamics})
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if redis is not None:
        document["state"]["redis_url"] = redis
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_config(path, environ={})


async def run_beside(configs: list[SyncConfig]) -> tuple[float, list[int]]:
    """Each config's contacts read at once by its own runner (own state, own connectors); the seconds taken
    and how many requests each runner's Dataverse limiter admitted."""
    admitted: list[int] = []
    # Opened one after the other: Alembic's migration context is process-global.
    stores = [await open_store(config.state_url) for config in configs]

    async def one(config: SyncConfig, store: Store) -> None:
        async with open_connectors(config) as connectors, SyncRunner(config, store, connectors) as runner:
            report = await runner.run(RunOptions(dry_run=True, kinds=("contact",)))
            assert not report.failures, report.failures
            admitted.append(sum(limiter.admitted for limiter in getattr(connectors["dynamics"], "limiters", ())))

    try:
        started = time.monotonic()
        await asyncio.gather(*(one(config, store) for config, store in zip(configs, stores, strict=True)))
        return time.monotonic() - started, admitted
    finally:
        for store in stores:
            await store.aclose()


async def dataverse_calls(sandbox: Sandbox) -> tuple[int, int]:
    """Requests the Dataverse emulator received, and how many it refused with 429."""
    operations: dict[str, Any] = (await sandbox.dynamics.control.stats())["operations"]
    calls = sum(int(op["calls"]) for op in operations.values())
    refused = sum(int(op["statuses"].get("429", 0)) for op in operations.values())
    return calls, refused


async def test_runners_sharing_redis_stay_under_the_vendor_limit_together(
    contacts: Sandbox,
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    configs = [runner_config(contacts, tmp_path / f"machine{n}", redis_url) for n in range(2)]
    assert configs[0].redis_url_safe == redis_url
    await delete_keys(redis_url, f"{KEY_PREFIX}*")  # windows left by an earlier run would only slow this one
    try:
        elapsed, admitted = await run_beside(configs)
    finally:
        await delete_keys(redis_url, f"{KEY_PREFIX}*")
    calls, refused = await dataverse_calls(contacts)
    assert all(n >= CONTACTS for n in admitted), admitted  # both read every contact, a page a request
    assert calls >= sum(admitted) > 2 * CONFIGURED_LIMIT  # they reached the emulator: many windows' worth
    assert refused == 0
    # Together at most 5 a second: N requests need at least N / 5 - 1 seconds (the first window is free).
    assert elapsed >= sum(admitted) / CONFIGURED_LIMIT - 1.0, (admitted, elapsed)


async def test_without_redis_the_same_runners_go_twice_as_fast(contacts: Sandbox, tmp_path: Path) -> None:
    """The control: on SQLite without `redis_url` each runner keeps only its own 5 a second."""
    configs = [runner_config(contacts, tmp_path / f"machine{n}", None) for n in range(2)]
    elapsed, admitted = await run_beside(configs)
    assert all(n >= CONTACTS for n in admitted), admitted
    assert elapsed < sum(admitted) / CONFIGURED_LIMIT - 1.0, (admitted, elapsed)


async def test_a_worker_process_counts_its_requests_in_redis_and_closes_it_cleanly(
    sandbox: Sandbox,
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    """`crmsync worker` with `state.redis_url` on SQLite: it delivers, its windows are in Redis, it stops cleanly."""
    await sandbox.reset()
    path = sandbox.write_config(tmp_path)
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["state"]["redis_url"] = redis_url
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    config = load_config(path, environ={})
    created = [
        await sandbox.hubspot.create("contact", {"lastname": f"Redis{n}", "email": f"r{n}@redis.example"})
        for n in range(4)
    ]
    await delete_keys(redis_url, f"{KEY_PREFIX}*")
    store = await open_store(config.state_url)
    try:
        async with open_connectors(config) as connectors, SyncRunner(config, store, connectors) as runner:
            await runner.run(RunOptions())  # the first sync, counted in Redis too
        await sandbox.hubspot.update_many("contact", {r: {"jobtitle": "Counted in Redis"} for r in created})
        hints = [refetch_job("contact", "hubspot", OBJECTS["hubspot"]["contact"], r, reason="test") for r in created]
        async with store.begin() as tx:
            await tx.jobs.enqueue_many([NewJob(h.key, h.kind, h.payload, priority=10) for h in hints])
        before = await counts_under(redis_url, f"{KEY_PREFIX}{{dynamics}}@")  # the first sync's
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crmsync", "worker", "--config", str(path), "--json-logs", "--idle", "0.1",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert worker.stderr is not None
        lines = LogLines(worker.stderr)  # a worker logs each pass that handled something
        try:

            async def delivered() -> bool:
                in_sf = await sandbox.salesforce.find("contact", "Title", "Counted in Redis")
                return len(in_sf) == len(created)

            what = "the hinted edits delivered by the worker"
            await eventually(delivered, after=lines, what=what, deadline_s=30)
            after = await counts_under(redis_url, f"{KEY_PREFIX}{{dynamics}}@")
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), 60)
            await lines.aclose()
    finally:
        await store.aclose()
        await delete_keys(redis_url, f"{KEY_PREFIX}*")
    assert worker.returncode == 0, "".join(lines.lines)
    # The first sync and then the worker counted their Dataverse requests in its 5-minute window in Redis.
    assert sum(before.values()) > 0
    assert sum(after.values()) > sum(before.values()), (before, after)
    log = "".join(lines.lines)
    assert '"redis": "' + redis_url + '"' in log  # said where it shares its limits (no password to hide here)
    assert "Traceback" not in log and "Unclosed" not in log
