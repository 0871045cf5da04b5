"""`crmsync demo` as `make demo` runs it: seeded emulators, a full sync, edits in each CRM, an incremental sync."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_tells_the_whole_story_and_ends_quiet(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "demo", "--records", "200", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for system in ("salesforce", "hubspot", "dynamics"):
        assert re.search(rf"{system}\s+│ http://127\.0\.0\.1:\d+", out), out
    for step in ("First full sync", "People edit the CRMs", "Incremental sync", "What happened", "Where to look"):
        assert step in out, out
    assert "Salesforce now says 'Head of Sales', Dataverse 'Head of Sales'" in out, out
    assert "gone from Salesforce and HubSpot too" in out, out
    assert "Salesforce keeps 1 and Dataverse 1 of the two records" in out, out
    assert "created in Salesforce (1 record) and Dataverse (1 record)" in out, out
    assert "Writes in this sync: 0" in out, out
    assert re.search(r"parked as conflict #\d+ for a person", out), out
    flat = " ".join(out.split())  # rich wraps long lines
    # A value too long for two CRMs is refused there, in the vendors' words, and nothing else stops.
    assert re.search(r"refused by Salesforce \(Title: data value too large: .*\(max length=128\)\)", flat), out
    assert "and Dataverse (A validation error occurred." in flat, out
    assert "Salesforce holds it as 'Prospecting' and Dataverse as 'open'" in flat, out  # the custom-stage deal
    assert (
        "Moved to another company in HubSpot: Salesforce's AccountId and Dataverse's parent account follow" in flat
    ), out
    assert "from a terminal (or add --serve)" in out and "Dashboard:" not in out, out  # no terminal: no server
    assert (tmp_path / "demo" / "crmsync.db").exists()
    status = subprocess.run(
        [sys.executable, "-m", "crmsync", "status", "-c", str(tmp_path / "demo" / "crmsync.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "contact" in status.stdout


async def _line_with(stream: asyncio.StreamReader, marker: str, deadline_s: float, seen: list[str]) -> str:
    end = time.monotonic() + deadline_s
    while True:
        line = (await asyncio.wait_for(stream.readline(), max(end - time.monotonic(), 0.1))).decode()
        if not line:
            raise AssertionError(f"the demo ended before printing {marker!r}:\n" + "".join(seen))
        seen.append(line)
        if marker in line:
            return line


async def test_demo_then_serves_the_dashboard_until_interrupted(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "crmsync", "demo", "--records", "200", "--dir", str(directory), "--serve"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
        cwd=tmp_path,
    )
    assert demo.stdout is not None
    seen: list[str] = []
    try:
        line = await _line_with(demo.stdout, "Dashboard: http://127.0.0.1:", 300, seen)
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None
        token_file = directory / "secrets" / "dashboard_token"
        assert str(token_file) in line
        token = token_file.read_text(encoding="utf-8").strip()
        assert token not in "".join(seen)  # where the token is, never the token
        async with httpx.AsyncClient(base_url=url[0], timeout=30) as http:
            assert (await http.get("/api/conflicts")).status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            conflicts = (await http.get("/api/conflicts", headers=auth)).json()
            assert "mailing_city" in {c["field"] for c in conflicts}
            errors = (await http.get("/api/errors", headers=auth)).json()
            assert errors["groups"]
            assert (await http.get("/login")).status_code == 200
        demo.send_signal(signal.SIGINT)
        await _line_with(demo.stdout, "Stopped;", 60, seen)
        assert await asyncio.wait_for(demo.wait(), 60) == 0, "".join(seen)
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
