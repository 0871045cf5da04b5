"""Dataverse connector benchmark (run by hand: `.venv/bin/python benchmarks/connector_dynamics.py [--records N]`).

Starts the Dataverse emulator in its own process (`python -m crmsync emulate dynamics`, limits raised: the point
is what the connector does, not what the vendor allows), declares `new_crmsyncid` as an alternate key on
contact, then through `DynamicsConnector` over loopback:

  * batch writes: N creates upserted by alternate key (`$batch` of 1,000) → records/s, `$batch` calls vs ceil(N/1000);
  * full read: `changes("contact", None)` of the N contacts (pages of 5,000, change tracking) → records/s,
    calls vs ceil(N/5000), and the peak memory of a fresh process doing only the read (pages are streamed).

Targets (issue 3): full read ≥ 60,000 records/s, batch writes ≥ 15,000 records/s, calls within 2% of the minimum.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from crmsync.connectors.base import WriteOp
from crmsync.connectors.dynamics import DynamicsConnector, DynamicsSettings
from crmsync.emulators.dynamics import DynamicsConfig

EXTERNAL_ID = "new_crmsyncid"
HIGH_LIMITS = ["dynamics.requests_per_window=100000000", "dynamics.concurrent_requests=100000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(base: str) -> DynamicsSettings:
    config = DynamicsConfig()
    return DynamicsSettings(
        org_url=base,
        authority=base,
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=SecretStr(config.client_secret),
        requests_per_window=100_000_000,
        external_ids={"contact": EXTERNAL_ID},
    )


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "crmsync", "emulate", "dynamics", "--port", str(port), "--records", "0"]
    for item in HIGH_LIMITS:
        command += ["--set", item]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_emulator", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the emulator did not start within 60 s")


def memory_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (ru_maxrss would include the parent's peak inherited at fork)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def batch_calls(base: str, operation: str) -> int:
    stats = httpx.get(f"{base}/_emulator/stats").json()
    return sum(op["calls"] for name, op in stats["operations"].items() if operation in name)


async def write_phase(base: str, records: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as client:
        connector = DynamicsConnector(settings(base), connection="bench", client=client)
        await connector.describe("contact")  # warm the token
        await client.delete(f"{base}/_emulator/stats")
        ops = [
            WriteOp(
                "create",
                f"canon-{i}",
                fields={"firstname": "Bench", "lastname": f"Contact {i}", "emailaddress1": f"c{i}@bench.example"},
                external_id=(EXTERNAL_ID, f"canon-{i}"),
            )
            for i in range(records)
        ]
        started = time.perf_counter()
        results = await connector.apply("contact", ops)
        elapsed = time.perf_counter() - started
    failed = sum(1 for r in results if not r.ok)
    calls = batch_calls(base, "$batch")
    minimum = math.ceil(records / 1000)
    return {"records_per_s": records / elapsed, "seconds": elapsed, "failed": failed, "calls": calls, "min": minimum}


async def read_phase(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as client:
        connector = DynamicsConnector(settings(base), connection="bench", client=client)
        await connector.describe("contact")
        await client.delete(f"{base}/_emulator/stats")
        before_mb = memory_mb("VmRSS")
        count = 0
        started = time.perf_counter()
        async for page in connector.changes("contact", None, fields=["firstname", "lastname", "emailaddress1"]):
            count += len(page.upserts)  # the engine would hand the page on; nothing is kept here
        elapsed = time.perf_counter() - started
        after_mb = memory_mb("VmHWM")
    calls = batch_calls(base, "contacts")
    return {
        "records": count,
        "records_per_s": count / elapsed,
        "seconds": elapsed,
        "calls": calls,
        "min": math.ceil(count / 5000),
        "peak_mb_before": before_mb,
        "peak_mb_after": after_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--read-child", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child:
        print(orjson.dumps(asyncio.run(read_phase(args.read_child))).decode())
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    emulator = start_emulator(port)
    try:
        column = {"name": EXTERNAL_ID, "type": "String", "max_length": 100, "alternate_key": True}
        httpx.post(f"{base}/_emulator/columns", json={"table": "contact", "column": column}).raise_for_status()
        write = asyncio.run(write_phase(base, args.records))
        print(
            f"batch writes : {args.records:,} creates in {write['seconds']:.2f}s = {write['records_per_s']:,.0f} "
            f"records/s; $batch calls {write['calls']} (minimum {write['min']}); failed {write['failed']}"
        )
        # The read runs in a fresh process so its peak memory is the read's alone.
        out = subprocess.run(
            [sys.executable, __file__, "--read-child", base], capture_output=True, check=True, text=True
        ).stdout
        read = orjson.loads(out.strip().splitlines()[-1])
        print(
            f"full read    : {read['records']:,} records in {read['seconds']:.2f}s = {read['records_per_s']:,.0f} "
            f"records/s; calls {read['calls']} (minimum {read['min']}); peak RSS {read['peak_mb_after']:.0f} MB "
            f"({read['peak_mb_before']:.0f} MB before the read: pages are streamed, memory does not grow with N)"
        )
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


if __name__ == "__main__":
    main()
