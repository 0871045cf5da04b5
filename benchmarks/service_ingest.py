"""Service benchmark: webhook ingest of `crmsync serve` (target: ≥ 1,000 requests/s, p99 acknowledgement ≤ 50 ms).

`crmsync serve` runs in its own process (`python -m crmsync serve --json-logs`) on a SQLite state database
(or `--state-url`), with `service.poll_interval_s` at a day so that only the webhooks drive it. Three empty
emulators run in their own processes so that the service starts as it does in production (its startup poll
and its passes talk to real APIs). This process is the load generator: `--concurrency` keep-alive
connections fire `--requests` correctly signed HubSpot v3 webhook requests (`X-HubSpot-Signature-v3` over the
exact URL posted to, with `X-HubSpot-Request-Timestamp`), each a JSON array of `--events-per-request`
`contact.propertyChange` events for distinct contacts.

By default each connection sends its next request as soon as the last one is answered (closed loop: the
service's peak rate, latencies at saturation); `--rate 1000` sends on a fixed schedule instead (open loop: the
latencies at that rate, counted from when each request was due, so falling behind shows).

The load generator must be cheap, or it measures itself: on a 2-core machine it competes with the service for
CPU. By default (`--client raw`) every request is rendered and signed before the clock starts (a v3 signature
stays valid for 5 minutes; requests still unsent after 4 are signed again) and written as pre-rendered
HTTP/1.1 bytes to raw asyncio streams on uvloop, reading back only the status line, the headers and
`Content-Length` bytes of body. `--client httpx` is the former generator (one shared `httpx.AsyncClient`,
each request built and signed as it goes), several times dearer per request. Both print their own CPU time.

The sync passes run during the load, as they do in production: each burst of hints wakes a pass that reads
the hinted contacts again from the HubSpot emulator. The hinted ids do not exist there, so a pass records
nothing and writes nothing, but its reads, its claims and its state-database transactions compete with the
receiver for the service's event loop, the SQLite writer and this machine's CPU. crmsync paces itself to
HubSpot's documented limits (190 requests per 10 s), so passes may fall behind a large burst; what is measured
is the acknowledgement, which comes once the hints are committed to the queue, never after a sync.

Prints requests/s, p50/p95/p99/max acknowledgement latency as the client sees it (send to response), errors
by kind, CPU milliseconds per request of the service and of the load generator, and checks that every
acknowledged event is a job in the state database. Needs only the project's virtualenv (uvloop comes with
`uvicorn[standard]`; without it the standard event loop is used).

    .venv/bin/python benchmarks/service_ingest.py                                  # 20,000 requests, 32 at once
    .venv/bin/python benchmarks/service_ingest.py --requests 2000 --concurrency 16 --events-per-request 10
    .venv/bin/python benchmarks/service_ingest.py --rate 1000                      # 1,000 requests/s, open loop
    .venv/bin/python benchmarks/service_ingest.py --client httpx                   # the dearer generator
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
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

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
RESIGN_AFTER_S = 240.0
"""HubSpot v3 timestamps are accepted for 5 minutes: a pre-signed request older than this is signed again."""
Client = Literal["raw", "httpx"]


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


class Presigned:
    """Every request of a run as HTTP/1.1 bytes, signed before the clock starts (and again if it waits too long)."""

    def __init__(self, url: str, secret: str, requests: int, per_request: int, ids: Iterator[int]) -> None:
        parts = urlsplit(url)
        self.url = url
        self.secret = secret
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._path = parts.path
        now_ms = int(time.time() * 1000)
        self._bodies = [body_of(ids, per_request, now_ms) for _ in range(requests)]
        self._signed_at = time.monotonic()
        self._rendered = [self._render(body, now_ms) for body in self._bodies]
        self.per_request = per_request

    def __len__(self) -> int:
        return len(self._rendered)

    def __getitem__(self, index: int) -> bytes:
        if time.monotonic() - self._signed_at > RESIGN_AFTER_S:
            now_ms = int(time.time() * 1000)
            self._rendered[index:] = [self._render(body, now_ms) for body in self._bodies[index:]]
            self._signed_at = time.monotonic()
        return self._rendered[index]

    def _render(self, body: bytes, now_ms: int) -> bytes:
        timestamp = str(now_ms)
        head = (
            f"POST {self._path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-HubSpot-Signature-v3: {sign_v3(self.secret, 'POST', self.url, body, timestamp)}\r\n"
            f"X-HubSpot-Request-Timestamp: {timestamp}\r\n"
            "\r\n"
        )
        return head.encode("ascii") + body


class ResponseError(Exception):
    """A response this generator cannot read (no Content-Length, a malformed status line)."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status code of the next response, and whether the server keeps the connection; its body is drained."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 ") or not head[9:12].isdigit():
        raise ResponseError("malformed status line")
    status = int(head[9:12])
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start < 0:
        raise ResponseError("response without Content-Length")
    end = lower.index(b"\r\n", start + 2)
    length = int(lower[start + 17 : end])
    if length:
        await reader.readexactly(length)
    return status, b"\r\nconnection: close\r\n" not in lower


async def fire_raw(prepared: Presigned, concurrency: int, rate: float | None = None) -> Load:
    """Every pre-signed request, `concurrency` keep-alive connections at a time.

    Without `rate`, as fast as the service answers (each connection sends its next request on the last
    response), timed from write to response. With `rate`, request i is due `i / rate` seconds after the start
    and timed from when it was due, so a service that falls behind shows its queueing delay in the latencies.
    """
    load = Load()
    todo = iter(range(len(prepared)))  # shared: each connection takes the next request number
    perf_counter = time.perf_counter
    start = perf_counter()

    async def connection() -> None:
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            for index in todo:
                request = prepared[index]
                try:
                    if streams is None:  # (re)connecting is not timed: the vendor keeps its connections
                        streams = await asyncio.open_connection(prepared.host, prepared.port)
                    reader, writer = streams
                    started = perf_counter()
                    if rate is not None:
                        due = start + index / rate
                        if due > started:  # pacing the generator itself: no condition to await here
                            await asyncio.sleep(due - started)
                        started = due
                    writer.write(request)
                    status, keep = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ResponseError) as exc:
                    load.errors[type(exc).__name__] += 1
                    status, keep = 0, False
                if 200 <= status < 300:
                    load.latencies.append(perf_counter() - started)
                    load.events += prepared.per_request
                elif status:
                    load.errors[f"HTTP {status}"] += 1
                if not keep and streams is not None:
                    streams[1].close()
                    streams = None
        finally:
            if streams is not None:
                streams[1].close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return load


async def fire_httpx(
    url: str, secret: str, requests: int, concurrency: int, per_request: int, ids: Iterator[int]
) -> Load:
    """`requests` webhook requests, each built and signed as it goes, from `concurrency` tasks sharing one client."""
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


def firing(
    args: argparse.Namespace, url: str, requests: int, ids: Iterator[int]
) -> Callable[[], Coroutine[Any, Any, Load]]:
    """The chosen generator, its requests prepared (signed, for `raw`) now: call the result to fire them."""
    secret = WEBHOOK_SECRETS[HS_WEBHOOK_SECRET]
    if args.client == "httpx":
        return lambda: fire_httpx(url, secret, requests, args.concurrency, args.events_per_request, ids)
    prepared = Presigned(url, secret, requests, args.events_per_request, ids)
    return lambda: fire_raw(prepared, args.concurrency, args.rate)


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


def per_request_ms(seconds: float, requests: int) -> str:
    return f"{seconds:.1f}s ({seconds * 1000 / max(requests, 1):.2f} ms per request)"


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
                    ids = itertools.count(FIRST_OBJECT_ID)
                    warm = await firing(args, url, args.warmup, ids)()
                    if warm.errors:
                        raise SystemExit(f"the warm-up was refused: {dict(warm.errors)}")
                    fire = firing(args, url, args.requests, ids)  # signed here, before the clock starts
                    passes_before = int((await http.get("/readyz")).json().get("passes", 0))
                    service_cpu = cpu_seconds(process.pid)
                    client_cpu = time.process_time()
                    started = time.perf_counter()
                    load = await fire()
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
                    f"{args.concurrency} concurrent, {args.client} client"
                    f"{f' at {args.rate:,.0f} requests/s' if args.rate else ''}, "
                    f"state {make_url(state_url).render_as_string(hide_password=True)}"
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
                    print(f"  CPU: service {per_request_ms(service_after - service_cpu, args.requests)}")
                print(f"  CPU: load generator {per_request_ms(client_cpu, args.requests)}")
                load_average = ", ".join(f"{value:.2f}" for value in os.getloadavg())
                print(
                    f"  machine: {os.cpu_count()} CPUs shared by the service, the load generator and the emulators; "
                    f"load average {load_average}"
                )
            finally:
                code = await stop_process(process)
                if code not in (0, -signal.SIGTERM, None):  # uvicorn re-raises the SIGTERM it handled
                    print(f"crmsync serve exited with {code}")
    finally:
        stop_emulators(emulators)


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard]): its streams cost the generator less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000, help="webhook requests to time (default 20,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default 32)")
    parser.add_argument(
        "--events-per-request", type=int, default=1, help="events in each request's array (HubSpot sends up to 100)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (default 200)")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: pre-signed requests on raw keep-alive streams (default); httpx: built and signed as they go",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="raw client: send at this many requests/s (open loop) instead of as fast as answered",
    )
    parser.add_argument("--seed", type=int, default=1, help="the emulators' seed (they hold no records)")
    parser.add_argument(
        "--state-url", default=os.environ.get("CRMSYNC_BENCH_STATE_URL"), help="default: SQLite in a temp directory"
    )
    args = parser.parse_args()
    if args.rate is not None and (args.rate <= 0 or args.client != "raw"):
        parser.error("--rate must be positive, and needs --client raw")
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0 or not 1 <= args.events_per_request <= 100:
        parser.error(
            "--requests and --concurrency must be positive, --warmup not negative; --events-per-request 1 to 100"
        )
    with asyncio.Runner(loop_factory=event_loop) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
