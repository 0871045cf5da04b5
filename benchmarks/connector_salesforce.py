"""Benchmark of the Salesforce connector against the emulator in its own process (run by hand).

    .venv/bin/python benchmarks/connector_salesforce.py [--records 200000] [--port 18181]

Starts `python -m crmsync emulate salesforce` with a huge daily limit, then measures a full read of
Contact (records/s, API calls against the minimum, peak traced memory) and batch upserts of 100,000
contacts by external id (records/s, API calls against the minimum).
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
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings

EXT = "Crmsync_Id__c"


async def api_calls(client: httpx.AsyncClient, operation: str | None = None) -> int:
    stats = (await client.get("/_emulator/stats")).json()
    ops: dict[str, Any] = stats["operations"]
    return sum(v["calls"] for k, v in ops.items() if (operation is None and "token" not in k) or k == operation)


async def full_read(connector: SalesforceConnector, fields: list[str] | None) -> tuple[int, float]:
    count = 0
    started = time.perf_counter()
    async for page in connector.changes("Contact", None, fields=fields):
        count += len(page.upserts) + len(page.tombstones)
    return count, time.perf_counter() - started


async def run(process: subprocess.Popen[bytes], port: int, writes: int, fields: list[str] | None = None) -> None:
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        info = await wait_ready(client, process)
        creds = info["credentials"]
        await client.post(
            "/_emulator/custom-fields",
            json={"object": "Contact", "fields": [{"name": EXT, "external_id": True, "unique": True}]},
        )
        settings = SalesforceSettings(
            login_url=base,
            client_id=creds["consumer_key"],
            username=creds["username"],
            private_key_pem=SecretStr(creds["jwt_private_key_pem"]),
            external_id_fields={"Contact": EXT},
        )
        connector = SalesforceConnector(settings, connection="bench", client=client)
        await connector.describe("Contact")
        await client.delete("/_emulator/stats")

        count, elapsed = await full_read(connector, fields)
        calls = await api_calls(client)
        minimum = math.ceil(count / 2000)
        print(f"full read: {count:,} Contact records in {elapsed:.2f}s = {count / elapsed:,.0f} records/s")
        print(f"  API calls {calls} vs minimum {minimum} ({(calls - minimum) / minimum:+.1%})")

        tracemalloc.start()
        await full_read(connector, fields)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  peak traced memory during a full read: {peak / 1e6:.1f} MB (pages of 2,000 are streamed)")

        await client.delete("/_emulator/stats")
        ops = [
            WriteOp("create", f"bench-{i}", fields={"LastName": f"Bench {i}"}, external_id=(EXT, f"bench-{i}"))
            for i in range(writes)
        ]
        started = time.perf_counter()
        chunk = 2000
        results = await asyncio.gather(
            *(connector.apply("Contact", ops[i : i + chunk]) for i in range(0, len(ops), chunk))
        )
        elapsed = time.perf_counter() - started
        ok = sum(r.ok for batch in results for r in batch)
        calls = await api_calls(client, "collections_upsert")
        minimum = math.ceil(writes / 200)
        print(f"batch upsert: {ok:,}/{writes:,} contacts in {elapsed:.2f}s = {writes / elapsed:,.0f} records/s")
        print(f"  API calls {calls} vs minimum {minimum} ({(calls - minimum) / minimum:+.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000, help="records seeded (about half are contacts)")
    parser.add_argument("--writes", type=int, default=100_000)
    add_fields_option(parser)
    parser.add_argument("--port", type=int, default=18181)
    args = parser.parse_args()
    command = [sys.executable, "-m", "crmsync", "emulate", "salesforce", "--port", str(args.port)]
    command += ["--records", str(args.records), "--set", "salesforce.daily_api_limit=1000000000"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        asyncio.run(run(process, args.port, args.writes, read_fields("salesforce", args.fields)))
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
