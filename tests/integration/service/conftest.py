"""Fixtures for the service tests: three emulators, and `crmsync serve`'s app on a loopback port with their webhooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn

from crmsync.config.values import SyncConfig
from crmsync.emulators.registry import VendorName
from crmsync.model.values import ObjectKind
from crmsync.service.app import SyncService
from crmsync.service.emulator_webhooks import register_emulator_webhooks
from crmsync.store import Store, open_store
from crmsync.testing.sandbox import OBJECTS, Sandbox

DEADLINE_S = 15.0
"""Bounds a wait for something the service does within a second when it works; only a failure waits this long."""
STEP_S = 0.05


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


async def eventually(check: Callable[[], Awaitable[Any]], *, what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Await `check` until it returns something truthy (and return that); fail naming `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline_s:.0f} s: {what}")
        await asyncio.sleep(STEP_S)


@dataclass
class Served:
    """A running service: its URL, its app object, an HTTP client for it, and a view of its state."""

    url: str
    sb: Sandbox
    service: SyncService
    config: SyncConfig
    store: Store
    http: httpx.AsyncClient
    server: uvicorn.Server
    directory: Path
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """Shut the service down as SIGTERM does (the pass under way finishes); idempotent."""
        if self.task is None:
            return
        self.server.should_exit = True
        await self.task
        self.task = None
        await self.http.aclose()
        await self.store.aclose()

    async def remote(self, kind: ObjectKind, vendor: VendorName, remote_id: str, other: str) -> str | None:
        """The counterpart in `other` of a record, once the service linked it."""
        async with self.store.read() as tx:
            canonical = await tx.links.canonical_id(vendor, OBJECTS[vendor][kind], remote_id)
            return await tx.links.remote_id(canonical, other) if canonical else None

    async def everywhere(self, kind: ObjectKind, vendor: VendorName, remote_id: str) -> dict[str, str]:
        """The record's counterparts in the other two CRMs, waited for."""
        others = [v for v in ("salesforce", "hubspot", "dynamics") if v != vendor]

        async def linked() -> dict[str, str] | None:
            found = {other: await self.remote(kind, vendor, remote_id, other) for other in others}
            return {k: v for k, v in found.items() if v} if all(found.values()) else None

        found: dict[str, str] = await eventually(linked, what=f"{vendor} {kind} {remote_id} in {' and '.join(others)}")
        return found

    async def started(self) -> None:
        """Wait for the startup poll to finish."""

        async def polled() -> bool:
            return await self.passes() >= 1

        await eventually(polled, what="the service's startup poll")

    async def passes(self) -> int:
        body = (await self.http.get("/readyz")).json()
        return int(body.get("passes", 0))

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when absent)."""
        text = (await self.http.get("/metrics")).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            metric, _, value = line.rpartition(" ")
            base, _, rest = metric.partition("{")
            present = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if base == name and present == wanted:
                return float(value)
        return 0.0


class ServeFactory(Protocol):
    async def __call__(
        self,
        *,
        poll_interval_s: float = 3600.0,
        register: bool = True,
        state_of: Served | None = None,
        service_extra: Mapping[str, Any] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Served: ...


async def start_server(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve `app` on a free loopback port in this event loop; returns once it accepts connections."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", access_log=False, log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # a failed startup raises here
        return server.started

    await eventually(started, what="the service to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[ServeFactory]:
    """Starts services (one per call) against the reset sandbox; stops them and their stores afterwards."""
    await sandbox.reset()
    running: list[Served] = []

    async def start(
        *,
        poll_interval_s: float = 3600.0,
        register: bool = True,
        state_of: Served | None = None,
        service_extra: Mapping[str, Any] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Served:
        """A service on a new port; `state_of` (stopped first) hands over its configuration and state database.

        `service_extra` adds settings to the config's `service:` section (e.g. `alerts`); `connections`
        overrides connection settings (`{"salesforce": {"item_retries": 0}}`).
        """
        directory = state_of.directory if state_of is not None else tmp_path / f"service{len(running)}"
        if state_of is not None:
            await state_of.stop()
        service_settings = {"poll_interval_s": poll_interval_s, **(service_extra or {})}
        config = sandbox.load_config(directory, service=service_settings, connections=connections)
        store = await open_store(config.state_url)
        service = SyncService(config, store=store)
        server, task, url = await start_server(service.app)
        if register:
            async with httpx.AsyncClient(timeout=30) as client:
                await register_emulator_webhooks(config, url, client)
        http = httpx.AsyncClient(base_url=url, timeout=30)
        served = Served(url, sandbox, service, config, store, http, server, directory, task)
        running.append(served)
        return served

    yield start
    for served in running:
        await served.stop()
    await sandbox.reset()  # drops the webhook registrations pointing at the stopped services
