"""`crmsync serve` as an operator runs it: a real process that registers the emulators' webhooks, syncs an edit
within seconds, logs JSON lines with no secret in them, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.testing.sandbox import Sandbox
from crmsync.testing.sandbox.config import WEBHOOK_SECRETS
from tests.integration.service.conftest import DEADLINE_S

STARTUP_S = 60.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _event(lines: list[dict[str, Any]], stream: asyncio.StreamReader, name: str) -> dict[str, Any]:
    """Read JSON log lines (kept in `lines`) until one whose event is `name`."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise AssertionError(f"the service exited before logging {name!r}; logged: {lines}")
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            lines.append({"event": "(not JSON)", "text": raw.decode(errors="replace")})
            continue
        lines.append(line)
        if line.get("event") == name:
            return dict(line)


async def test_serve_keeps_the_emulators_in_sync_and_stops_on_sigterm(sandbox: Sandbox, tmp_path: Path) -> None:
    await sandbox.reset()
    port = free_port()
    service = {"port": port, "poll_interval_s": 3600, "register_emulator_webhooks": True}
    config = sandbox.write_config(tmp_path, "sqlite:///crmsync.db", service=service)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crmsync", "serve", "--config", str(config), "--json-logs",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        started = await asyncio.wait_for(_event(lines, process.stderr, "service started"), STARTUP_S)
        assert started["webhooks"] == ["dynamics", "hubspot", "salesforce"]
        await asyncio.wait_for(_event(lines, process.stderr, "sync pass"), STARTUP_S)  # the startup poll
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/readyz")).json()["status"] == "ok"
        contact = await sandbox.hubspot.create("contact", {"lastname": "Jackson", "email": "mary@nasa.example"})

        async def everywhere() -> bool:
            in_sf = await sandbox.salesforce.find("contact", "Email", "mary@nasa.example")
            in_dv = await sandbox.dynamics.find("contact", "emailaddress1", "mary@nasa.example")
            return len(in_sf) == 1 and len(in_dv) == 1

        # Checked again after each pass the service logs: the webhook's pass delivers it.
        try:
            async with asyncio.timeout(DEADLINE_S):
                while not await everywhere():
                    await _event(lines, process.stderr, "sync pass")
        except TimeoutError:
            raise AssertionError(f"HubSpot contact {contact} not in Salesforce and Dataverse by webhook") from None
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), STARTUP_S)
        # uvicorn re-raises the signal once it has shut down, so the exit status still says "terminated".
        assert await asyncio.wait_for(process.wait(), STARTUP_S) in (0, -signal.SIGTERM)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # Every line of stderr is JSON, uvicorn's too, from the first ("crmsync serving") to the last.
    assert lines[0]["event"] == "crmsync serving" and lines[0]["url"] == f"http://127.0.0.1:{port}"
    assert [line for line in lines if line["event"] == "(not JSON)"] == []
    assert all(json.loads(raw) for raw in rest.decode().splitlines() if raw.strip())
    logged = "\n".join(json.dumps(line) for line in lines) + "\n" + rest.decode(errors="replace")
    assert '"event": "service stopped"' in logged  # the lifespan's shutdown ran: a graceful stop
    assert '"trigger": "hints"' in logged  # a pass ran for the webhooks' hints
    for secret in (*WEBHOOK_SECRETS.values(), *(p.read_text().strip() for p in (tmp_path / "secrets").iterdir())):
        assert secret not in logged
