"""What the benchmarks share: emulator and service processes, readiness, configs, percentiles and metrics."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.testing.sandbox import SandboxEndpoints
from crmsync.testing.sandbox.config import render_config
from crmsync.testing.sandbox.harness import write_config_files


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The emulator's control-plane info once it answers (it seeds before it listens)."""
    for _ in range(1200):
        if process.poll() is not None:
            raise SystemExit("the emulator exited early")
        try:
            response = await client.get("/_emulator")
            if response.status_code == 200:
                info: dict[str, Any] = response.json()
                return info
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("the emulator did not start")


def add_fields_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fields",
        choices=["all", "mapped"],
        default="all",
        help="read every field, or only the contact fields the shipped default map uses (what the engine reads)",
    )


def read_fields(vendor: str, choice: str) -> list[str] | None:
    if choice == "all":
        return None
    from crmsync.mapping import default_mappings

    return sorted(default_mappings().get(vendor, "contact").read_fields)


# ---- the service benchmarks: `crmsync serve` and `crmsync worker` in their own processes ----------------------

RAISED_LIMITS: dict[VendorName, dict[str, int]] = {
    "salesforce": {"daily_api_limit": 100_000_000},
    "hubspot": {"ten_second_limit": 1_000_000, "search_per_second": 10_000},
    "dynamics": {"requests_per_window": 100_000_000},
}
"""Emulator settings that lift the vendors' quotas, so the benchmark's own callers (simulated people, probes)
never meet them; whether crmsync itself paces to the documented limits is each benchmark's choice."""
SERVICE_STARTUP_S = 600.0
"""The startup poll of a seeded sandbox is a first full sync: allow it minutes."""


def percentile(ordered: Sequence[float], share: float) -> float:
    """The `share` (0..1) percentile of ascending `ordered` values, nearest rank; NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_line(seconds: Sequence[float]) -> str:
    """`p50 … p95 … p99 … max …` in milliseconds."""
    ordered = sorted(seconds)
    parts = [f"p{round(q * 100)} {percentile(ordered, q) * 1000:,.1f} ms" for q in (0.5, 0.95, 0.99)]
    top = ordered[-1] * 1000 if ordered else math.nan
    return ", ".join([*parts, f"max {top:,.1f} ms"])


def write_config(
    directory: Path,
    ep: SandboxEndpoints,
    state_url: str,
    *,
    service: Mapping[str, Any] | None = None,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """crmsync.yaml for the benchmark's emulators and its secret files (owner-only); returns the yaml's path."""
    return write_config_files(directory, ep, render_config(ep, state_url, service=service, connections=connections))


async def start_crmsync(command: str, config: Path, log: Path, *extra: str) -> asyncio.subprocess.Process:
    """`python -m crmsync <command> --config <config> --json-logs <extra>`, its stderr (JSON lines) into `log`."""
    with log.open("ab") as sink:  # the child keeps its own descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crmsync", command, "--config", str(config), "--json-logs", *extra,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


async def stop_process(process: asyncio.subprocess.Process, *, grace_s: float = 60.0) -> int | None:
    """SIGTERM (a pass under way finishes), then SIGKILL after `grace_s`; the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode


def stop_emulators(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Terminate emulator processes and reap them (SIGKILL for any that does not stop within 30 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_emulators(processes: Sequence[subprocess.Popen[bytes]], urls: Mapping[VendorName, str]) -> None:
    """Each emulator's control plane answering (they seed before they listen)."""
    for process, vendor in zip(processes, VENDOR_NAMES, strict=True):
        async with httpx.AsyncClient(base_url=urls[vendor], timeout=5) as client:
            await wait_ready(client, process)


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a crmsync JSON log (crmsync masks every configured secret in its logs)."""
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def wait_service(
    http: httpx.AsyncClient, process: asyncio.subprocess.Process, log: Path, *, deadline_s: float = SERVICE_STARTUP_S
) -> dict[str, Any]:
    """/readyz once `crmsync serve` is ready and its startup poll has finished (a pass counted)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.returncode is not None:
            raise SystemExit(f"crmsync serve exited with {process.returncode}:\n{log_tail(log)}")
        try:
            response = await http.get("/readyz")
            body: dict[str, Any] = response.json()
            if response.status_code == 200 and int(body.get("passes", 0)) >= 1:
                return body
        except (httpx.TransportError, ValueError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"crmsync serve was not ready within {deadline_s:.0f} s:\n{log_tail(log)}")


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
