"""A second `crmsync serve` on the state database of a running one, as an operator starts it by mistake: it
refuses with one error line naming the first, registers no webhook, and no record is duplicated; a first
serve killed with SIGKILL does not keep the next one out."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmsync.testing.sandbox import Sandbox
from tests.e2e.test_cli_serve import free_port
from tests.integration.service.conftest import LogLines, eventually
from tests.integration.store.conftest import empty_schema, postgres_url  # noqa: F401  (the session's PostgreSQL database)

STARTUP_S = 60.0
PEOPLE = 6


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str | None:
    """The session's PostgreSQL database, or None for SQLite (asked for only when needed: it may be absent)."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgresql" else None


@pytest.fixture
async def state_url(database: str | None, tmp_path: Path) -> str:
    if database is None:
        return f"sqlite:///{tmp_path / 'state.db'}"
    return await empty_schema(database)


class Serve:
    """A `crmsync serve` process; its log (JSON lines) goes to a file nobody has to keep reading."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.port = port
        self.log = config.parent / f"serve-{port}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.lines: LogLines | None = None  # its log as it comes: what the waits below move on

    async def start(self) -> Serve:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crmsync", "serve", "--config", str(self.config), "--port", str(self.port),
            "--json-logs", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert self.process.stderr is not None
        self.lines = LogLines(self.process.stderr, self.log)
        return self

    def logged(self) -> str:
        return "".join(self.lines.lines) if self.lines is not None else ""

    async def polled(self) -> None:
        """Wait for the startup poll: the service is up, its webhooks are registered."""
        assert self.process is not None

        async def done() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.logged()}")
            return '"event": "sync pass"' in self.logged()

        assert self.lines is not None
        await eventually(
            done, after=self.lines, what=f"the startup poll of the serve on port {self.port}", deadline_s=STARTUP_S
        )

    async def exited(self) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), STARTUP_S)
        if self.lines is not None:
            await self.lines.aclose()  # the rest of its log read
        return code

    async def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
            await self.exited()


async def _registered_urls(sandbox: Sandbox) -> list[str]:
    """Every URL the three emulators send their change notifications to."""
    hubspot = await sandbox.hubspot.control.call("GET", "webhooks")
    salesforce = await sandbox.salesforce.control.call("GET", "outbound-messages")
    dynamics = await sandbox.dynamics.control.call("GET", "webhooks")
    return [hubspot["target_url"], *(r["url"] for r in salesforce), *(r["url"] for r in dynamics["webhooks"])]


async def _copies(sandbox: Sandbox, email: str) -> dict[str, int]:
    return {
        "salesforce": len(await sandbox.salesforce.find("contact", "Email", email)),
        "hubspot": len(await sandbox.hubspot.find("contact", "email", email)),
        "dynamics": len(await sandbox.dynamics.find("contact", "emailaddress1", email)),
    }


async def _queue_idle(port: int) -> bool:
    """Whether the serve on `port` has no job pending or running (its /metrics)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        text = (await http.get("/metrics")).text
    busy = [
        line
        for line in text.splitlines()
        if line.startswith(('crmsync_queue_jobs{status="pending"}', 'crmsync_queue_jobs{status="running"}'))
    ]
    return bool(busy) and all(float(line.rpartition(" ")[2]) == 0 for line in busy)


async def _everywhere_once(sandbox: Sandbox, emails: list[str], serve: Serve) -> None:
    """Wait until each person is in every CRM and `serve` has nothing left to do (checked after each line of its
    log: a pass, a hint); none is there twice."""
    port = serve.port
    assert serve.lines is not None

    async def arrived() -> bool:
        counts = [await _copies(sandbox, email) for email in emails]
        return all(min(c.values()) >= 1 for c in counts) and await _queue_idle(port)

    await eventually(arrived, after=serve.lines, what=f"{emails} in every CRM, the queue done", deadline_s=STARTUP_S)
    counts = [await _copies(sandbox, email) for email in emails]
    once = {"salesforce": 1, "hubspot": 1, "dynamics": 1}
    assert all(c == once for c in counts), dict(zip(emails, counts, strict=True))


async def test_a_second_serve_on_the_same_state_refuses_and_a_killed_one_is_taken_over(
    sandbox: Sandbox, tmp_path: Path, state_url: str
) -> None:
    await sandbox.reset()
    service = {"poll_interval_s": 3600, "register_emulator_webhooks": True}
    config = sandbox.write_config(tmp_path, state_url, service=service)
    first, second, third = Serve(config, free_port()), Serve(config, free_port()), Serve(config, free_port())
    try:
        await (await first.start()).polled()
        assert first.process is not None
        await second.start()
        assert await second.exited() == 1
        refusal = second.logged().strip()
        assert refusal.count("\n") == 0, refusal  # one line: nothing was logged, nothing started
        assert refusal.startswith("error: another crmsync serve is running on this state database (pid ")
        assert f"pid {first.process.pid} on {socket.gethostname()}, since " in refusal
        assert all(f":{second.port}/" not in url for url in await _registered_urls(sandbox))

        # People typed into two CRMs at once, each notifying the running serve: each ends up once everywhere.
        emails = [f"twice{n}@serve.example" for n in range(PEOPLE)]
        for n, email in enumerate(emails):
            await sandbox.hubspot.create("contact", {"lastname": f"Twice{n}", "email": email})
            if n % 2 == 0:
                await sandbox.salesforce.create("contact", {"LastName": f"Twice{n}", "Email": email})
        await _everywhere_once(sandbox, emails, first)

        # SIGKILL leaves the lease behind; the process is gone on this host, so the next serve takes over at once.
        await first.stop(signal.SIGKILL)
        await (await third.start()).polled()
        assert "took the state database over from a crmsync serve that is gone" in third.logged()
        late = "late@serve.example"
        await sandbox.hubspot.create("contact", {"lastname": "Late", "email": late})
        await _everywhere_once(sandbox, [late], third)
        assert f"http://127.0.0.1:{third.port}/webhooks/hubspot" in await _registered_urls(sandbox)
        await third.stop()
        assert await third.exited() in (0, -signal.SIGTERM)
    finally:
        for serve in (first, second, third):
            await serve.stop(signal.SIGKILL)
    await sandbox.reset()  # drops the registrations pointing at the stopped services
