"""Benchmark of the HubSpot connector against the emulator in its own process (run by hand).

    .venv/bin/python benchmarks/connector_hubspot.py [--records 200000] [--writes 100000] [--port 18182]

Starts `python -m crmsync emulate hubspot` with huge rate limits, then measures a full read of
contacts (every property, company links; records/s, API calls against the minimum, peak traced
memory) and batch upserts of 100,000 contacts by external id (records/s, API calls vs the minimum).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import httpx
from pydantic import SecretStr

from bench_support import add_fields_option, read_fields, wait_ready
from crmsync.connectors.base import WriteOp
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings

EXT = "crmsync_id"
HUGE = 1_000_000_000


async def api_calls(client: httpx.AsyncClient, prefix: str = "") -> int:
    ops: dict[str, Any] = (await client.get("/_emulator/stats")).json()["operations"]
    return sum(v["calls"] for k, v in ops.items() if k.startswith(prefix) and "oauth" not in k)


async def full_read(connector: HubSpotConnector, fields: list[str] | None) -> tuple[int, float]:
    count = 0
    started = time.perf_counter()
    async for page in connector.changes("contacts", None, fields=fields):
        count += len(page.upserts)
    return count, time.perf_counter() - started


async def run(records: int, port: int, writes: int, fields: list[str] | None = None) -> None:
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "crmsync", "emulate", "hubspot", "--port", str(port), "--records", str(records)]
    for name in ("ten_second_limit", "daily_limit", "search_per_second"):
        command += ["--set", f"hubspot.{name}={HUGE}"]
    # Started once, before anything is measured.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())  # noqa: ASYNC220
    try:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            info = await wait_ready(client, process)
            settings = HubSpotSettings(
                base_url=base,
                access_token=SecretStr(info["credentials"]["private_app_token"]),
                ten_second_limit=HUGE,
                daily_limit=HUGE,
                search_per_second=HUGE,
            )
            connector = HubSpotConnector(settings, connection="bench", client=client)
            await connector.ensure_external_id_property("contacts")
            await connector.describe("contacts")
            await client.delete("/_emulator/stats")

            count, elapsed = await full_read(connector, fields)
            calls = await api_calls(client)
            minimum = math.ceil(count / 100)
            print(f"full read: {count:,} contacts (all properties + company links) in {elapsed:.2f}s", end="")
            print(f" = {count / elapsed:,.0f} records/s")
            print(f"  API calls {calls} vs minimum {minimum} ({(calls - minimum) / minimum:+.1%}; 1 search for the")
            print("  incremental starting stamp, 1 list page per 100 records with their associations)")

            tracemalloc.start()
            await full_read(connector, fields)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"  peak traced memory during a full read: {peak / 1e6:.1f} MB (pages of 100 are streamed)")

            await client.delete("/_emulator/stats")
            ops = [
                WriteOp("create", f"bench-{i}", fields={"email": f"bench{i}@bench.example", "firstname": f"B{i}"},
                        external_id=(EXT, f"bench-{i}"))
                for i in range(writes)
            ]  # fmt: skip
            started = time.perf_counter()
            results = await connector.apply("contacts", ops)
            elapsed = time.perf_counter() - started
            ok = sum(r.ok for r in results)
            calls = await api_calls(client)
            minimum = math.ceil(writes / 100)
            print(f"batch upsert: {ok:,}/{writes:,} contacts in {elapsed:.2f}s = {writes / elapsed:,.0f} records/s")
            print(f"  API calls {calls} vs minimum {minimum} ({(calls - minimum) / minimum:+.1%})")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000, help="records seeded (about half are contacts)")
    parser.add_argument("--writes", type=int, default=100_000)
    add_fields_option(parser)
    parser.add_argument("--port", type=int, default=18182)
    args = parser.parse_args()
    asyncio.run(run(args.records, args.port, args.writes, read_fields("hubspot", args.fields)))


if __name__ == "__main__":
    main()
