"""Service benchmark: webhook ingest of `crmsync serve` (target: ≥ 1,000 requests/s, p99 acknowledgement ≤ 50 ms).

`crmsync serve` runs in its own process (`python -m crmsync serve --json-logs`) on a SQLite state database
(or `--state-url`), with `service.poll_interval_s` at a day so that only the webhooks drive it. Three empty
emulators run in their own processes so that the service starts as it does in production (its startup poll
and its passes talk to real APIs). This process is the load generator: `--concurrency` tasks share one
`httpx.AsyncClient` (keep-alive) and fire `--requests` correctly signed HubSpot v3 webhook requests
(`X-HubSpot-Signature-v3` over the exact URL posted to, a fresh `X-HubSpot-Request-Timestamp` per request),
each a JSON array of `--events-per-request` `contact.propertyChange` events for distinct contacts.

The sync passes run during the load, as they do in production: each burst of hints wakes a pass that reads
the hinted contacts again from the HubSpot emulator. The hinted ids do not exist there, so a pass records
nothing and writes nothing, but its reads, its claims and its state-database transactions compete with the
receiver for the service's event loop, the SQLite writer and this machine's CPU. crmsync paces itself to
HubSpot's documented limits (190 requests per 10 s), so passes may fall behind a large burst; what is measured
is the acknowledgement, which comes once the hints are committed to the queue, never after a sync.

Prints requests/s, p50/p95/p99/max acknowledgement latency as the client sees it (send to response), errors
by kind, and checks that every acknowledged event is a job in the state database.

    .venv/bin/python benchmarks/service_ingest.py                                  # 20,000 requests, 32 at once
    .venv/bin/python benchmarks/service_ingest.py --requests 2000 --concurrency 16 --events-per-request 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench_support import (
    latency_line,
    metric_value,
    start_crmsync,
    stop_emulators,
    stop_process,
    wait_emulators,
    wait_service,
    write_config,
)
from crmsync.connectors.hubspot.webhooks import sign_v3
from crmsync.store import open_store
from crmsync.store.tables import jobs
from crmsync.testing.sandbox.config import HS_WEBHOOK_SECRET, WEBHOOK_SECRETS
from engine_sync import endpoints, free_port, spawn_emulators

FIRST_OBJECT_ID = 900_000_000_000
"""Far above any id the emulator hands out: every hinted contact is one HubSpot does not hold."""
KEY_PREFIX = "in:hubspot/contacts/"


@dataclass
class Load:
    """What the load generator saw."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    events: int = 0


def body_of(ids: Iterator[int], count: int, now_ms: int) -> bytes:
    """A HubSpot v3 event array: `count` property changes of distinct contacts."""
    events = [
        {
            "eventId": object_id,
            "subscriptionId": 1,
            "portalId": 1,
            "occurredAt": now_ms,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": object_id,
            "propertyName": "jobtitle",
            "propertyValue": "x",
        }
        for object_id in itertools.islice(ids, count)
    ]
    return orjson.dumps(events)


async def fire(url: str, secret: str, requests: int, concurrency: int, per_request: int, ids: Iterator[int]) -> Load:
    """`requests` signed webhook requests from `concurrency` tasks over keep-alive connections."""
    load = Load()
    todo = iter(range(requests))  # shared: each task takes the next request number
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in todo:
            now_ms = int(time.time() * 1000)
            body = body_of(ids, per_request, now_ms)
            timestamp = str(now_ms)
            headers = {
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, timestamp),
                "X-HubSpot-Request-Timestamp": timestamp,
            }
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                load.errors[type(exc).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            if 200 <= response.status_code < 300:
                load.latencies.append(elapsed)
                load.events += per_request
            else:
                load.errors[f"HTTP {response.status_code}"] += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return load


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of a process (Linux /proc), None where unavailable."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def queued_hints(state_url: str) -> int:
    """Refetch jobs of the hinted contacts in the state database, whatever their status."""
    store = await open_store(state_url, migrate_schema=False)
    try:
        query = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.key.startswith(KEY_PREFIX))
        async with store.read() as tx:
            return int((await tx.connection.execute(query)).scalar_one())
    finally:
        await store.aclose()


async def run(args: argparse.Namespace) -> None:
    emulators, urls = spawn_emulators(0, args.seed, {})
    try:
        await wait_emulators(emulators, urls)
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-ingest-") as scratch:
            directory = Path(scratch)
            state_url = args.state_url or f"sqlite:///{directory / 'state.db'}"
            port = free_port()
            service = {"host": "127.0.0.1", "port": port, "poll_interval_s": 86_400}
            config = write_config(directory, endpoints(urls, {}), state_url, service=service)
            log = directory / "serve.log"
            process = await start_crmsync("serve", config, log, "--port", str(port))
            try:
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                    await wait_service(http, process, log)
                    url = f"{base}/webhooks/hubspot"
                    secret = WEBHOOK_SECRETS[HS_WEBHOOK_SECRET]
                    ids = itertools.count(FIRST_OBJECT_ID)
                    warm = await fire(url, secret, args.warmup, args.concurrency, args.events_per_request, ids)
                    if warm.errors:
                        raise SystemExit(f"the warm-up was refused: {dict(warm.errors)}")
                    passes_before = int((await http.get("/readyz")).json().get("passes", 0))
                    service_cpu = cpu_seconds(process.pid)
                    client_cpu = time.process_time()
                    started = time.perf_counter()
                    load = await fire(url, secret, args.requests, args.concurrency, args.events_per_request, ids)
                    wall = time.perf_counter() - started
                    client_cpu = time.process_time() - client_cpu
                    service_after = cpu_seconds(process.pid)
                    ready = (await http.get("/readyz")).json()
                    metrics = (await http.get("/metrics")).text
                expected = warm.events + load.events
                queued = await queued_hints(state_url)
                ok = len(load.latencies)
                print(
                    f"webhook ingest: {args.requests:,} requests ({args.events_per_request} events each), "
                    f"{args.concurrency} concurrent, state {make_url(state_url).render_as_string(hide_password=True)}"
                )
                print(f"  {ok / wall:,.0f} requests/s acknowledged ({load.events / wall:,.0f} events/s) in {wall:.2f}s")
                print(f"  acknowledgement: {latency_line(load.latencies)}")
                errors = ", ".join(f"{kind} {count}" for kind, count in load.errors.most_common()) or "none"
                print(f"  errors: {sum(load.errors.values())} ({errors})")
                accepted = metric_value(
                    metrics, "crmsync_webhook_requests_total", connection="hubspot", outcome="accepted"
                )
                print(f"  service counted {accepted:,.0f} accepted webhook requests (warm-up {args.warmup} included)")
                check = "ok" if queued == expected else "MISMATCH"
                print(f"  hints in the state database: {queued:,} of {expected:,} acknowledged events ({check})")
                passes = int(ready.get("passes", 0)) - passes_before
                print(f"  sync passes during the load: {passes}; last: {ready.get('last_pass', {}).get('summary')}")
                if service_cpu is not None and service_after is not None:
                    print(f"  CPU: service {service_after - service_cpu:.1f}s, load generator {client_cpu:.1f}s")
                print(f"  machine: {os.cpu_count()} CPUs shared by the service, the load generator and the emulators")
            finally:
                code = await stop_process(process)
                if code not in (0, -signal.SIGTERM, None):  # uvicorn re-raises the SIGTERM it handled
                    print(f"crmsync serve exited with {code}")
    finally:
        stop_emulators(emulators)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000, help="webhook requests to time (default 20,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default 32)")
    parser.add_argument(
        "--events-per-request", type=int, default=1, help="events in each request's array (HubSpot sends up to 100)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="the emulators' seed (they hold no records)")
    parser.add_argument(
        "--state-url", default=os.environ.get("CRMSYNC_BENCH_STATE_URL"), help="default: SQLite in a temp directory"
    )
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1 or not 1 <= args.events_per_request <= 100:
        parser.error("--requests and --concurrency must be positive; --events-per-request 1 to 100")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
