"""Fixtures for the service tests: three emulators, and `crmsync serve`'s app on a loopback port with their webhooks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
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
from crmsync.service.scheduler import Scheduler
from crmsync.store import Store, open_store
from crmsync.testing.sandbox import OBJECTS, Sandbox

DEADLINE_S = 15.0
"""Bounds a wait for something the service does within a second when it works; only a failure waits this long."""


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


class Progress(Protocol):
    """Something that tells when what a test watches may have changed: a pass finished, a process logged.

    `mark()` says where it is now; `beyond(mark)` returns once it has moved past that mark (at once if it
    already has), so a change between a check and the wait that follows is never missed.
    """

    def mark(self) -> int: ...
    async def beyond(self, mark: int) -> None: ...


async def eventually(
    check: Callable[[], Awaitable[Any]], *, after: Progress, what: str, deadline_s: float = DEADLINE_S
) -> Any:
    """Run `check` now and again each time `after` moves on, until it returns something truthy (returned).

    No timer: a check runs only when something that can change its answer has happened (a pass of the
    service, a line of a worker's log). The deadline only bounds a failure; it fails naming `what`.
    """
    try:
        async with asyncio.timeout(deadline_s):
            while True:
                mark = after.mark()
                result = await check()
                if result:
                    return result
                await after.beyond(mark)
    except TimeoutError:
        raise AssertionError(f"not within {deadline_s:.0f} s: {what}") from None


class Passes:
    """A running service's finished sync passes (after-pass hooks included), as `Progress`."""

    def __init__(self, service: SyncService) -> None:
        self.service = service

    def _scheduler(self) -> Scheduler:
        running = self.service.running
        if running is None:
            raise AssertionError("the service is not running")
        return running.scheduler

    def mark(self) -> int:
        return self._scheduler().settled

    async def beyond(self, mark: int) -> None:
        await self._scheduler().settled_passes(mark + 1)


class LogLines:
    """A process's log lines, read from its pipe as they come (and kept in `log` when given), as `Progress`.

    The reader drains the pipe, so a chatty process never blocks on a full one; `beyond` fails at once when
    the process closed its end (it exited: no more progress will come).
    """

    def __init__(self, stream: asyncio.StreamReader, log: Path | None = None) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._log = log
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            while raw := await stream.readline():
                line = raw.decode(errors="replace")
                if self._log is not None:
                    with self._log.open("a", encoding="utf-8") as sink:
                        sink.write(line)
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self.closed = True
                self._changed.notify_all()

    def mark(self) -> int:
        return len(self.lines)

    async def beyond(self, mark: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.lines) > mark or self.closed)
        if len(self.lines) <= mark:
            raise AssertionError("the process closed its log:\n" + "".join(self.lines[-20:]))

    async def aclose(self) -> None:
        """Once the process has exited: the rest of its log read."""
        await self._task


class AnyOf:
    """Several `Progress` as one: it moves when any of them does (the logs of several workers)."""

    def __init__(self, parts: Iterable[Progress]) -> None:
        self.parts = list(parts)

    def mark(self) -> int:
        return sum(part.mark() for part in self.parts)  # each only grows: the sum moves when one does

    async def beyond(self, mark: int) -> None:
        while self.mark() <= mark:
            waits = [asyncio.create_task(part.beyond(part.mark())) for part in self.parts]
            try:
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            for wait in done:
                wait.result()  # a process that ended raises here


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

        what = f"{vendor} {kind} {remote_id} in {' and '.join(others)}"
        found: dict[str, str] = await eventually(linked, after=self.progress, what=what)
        return found

    @property
    def progress(self) -> Passes:
        """The service's finished passes: what a test of its effects waits on."""
        return Passes(self.service)

    async def started(self) -> None:
        """Wait for the startup poll to finish."""

        async def polled() -> bool:
            return await self.passes() >= 1

        await eventually(polled, after=self.progress, what="the service's startup poll")

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


class _Server(uvicorn.Server):
    """uvicorn's server, with an event set once it accepts connections (its lifespan startup done)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.accepting = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.accepting.set()


async def start_server(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve `app` on a free loopback port in this event loop; returns once it accepts connections."""
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", access_log=False, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    accepting = asyncio.create_task(server.accepting.wait())
    try:
        await asyncio.wait_for(asyncio.wait({task, accepting}, return_when=asyncio.FIRST_COMPLETED), DEADLINE_S)
    finally:
        accepting.cancel()
    if not server.accepting.is_set():
        task.result()  # a failed startup raises here
        raise AssertionError("the server ended without starting")
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
