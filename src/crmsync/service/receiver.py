"""Webhook endpoints: verify, queue the hints durably in one transaction, then acknowledge; never sync inline."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import Counter
from starlette.datastructures import URL
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import ChangeHint, WebhookDecoder
from crmsync.engine.connections import webhook_decoder
from crmsync.engine.outbox import refetch_job
from crmsync.errors import SignatureError, VendorResponseError
from crmsync.model.values import ObjectKind
from crmsync.service.metrics import ServiceMetrics
from crmsync.store import NewJob, Store

LIVE_PRIORITY = 10
"""Webhook hints go before polled backfill (refetch jobs of awaiting children have priority 0)."""

log = structlog.get_logger("crmsync.service.webhooks")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One connection's webhook endpoint: its decoder and the vendor objects it syncs, by canonical kind."""

    connection: str
    decoder: WebhookDecoder
    kinds: Mapping[str, ObjectKind]  # vendor object name -> canonical kind


def endpoints(config: SyncConfig) -> dict[str, Endpoint]:
    """An endpoint per connection that has its webhook secret configured."""
    found: dict[str, Endpoint] = {}
    for name, connection in config.connections.items():
        decoder = webhook_decoder(connection)
        if decoder is None:
            continue
        kinds = {
            config.mappings.get(connection.vendor, kind).object: kind
            for kind, settings in config.objects.items()
            if name in settings.connections and config.mappings.has(connection.vendor, kind)
        }
        found[name] = Endpoint(name, decoder, kinds)
    return found


def hint_jobs(endpoint: Endpoint, hints: Sequence[ChangeHint]) -> tuple[list[NewJob], int]:
    """Refetch jobs for the hints about synced objects, and how many hints named objects that are not synced."""
    jobs: list[NewJob] = []
    ignored = 0
    for hint in hints:
        kind = endpoint.kinds.get(hint.object)
        if kind is None:
            ignored += 1
            continue
        reason = f"webhook: {hint.kind}" + (f" (event {hint.event_id})" if hint.event_id else "")
        job = refetch_job(kind, endpoint.connection, hint.object, hint.id, reason=reason)
        jobs.append(NewJob(job.key, job.kind, job.payload, priority=LIVE_PRIORITY))
    return jobs, ignored


class GroupCommit:
    """Queues the hints of concurrent requests in one transaction, and answers each once that commits.

    A request waits for the commit that holds its hints (so a 2xx still means durable), but a burst of
    requests shares a few transactions instead of one each: on SQLite a transaction is the ingest's cost.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[Sequence[NewJob], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def queue(self, jobs: Sequence[NewJob]) -> None:
        """Return once `jobs` are committed; raise what the commit raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((jobs, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch: list[tuple[Sequence[NewJob], asyncio.Future[None]]] = []
            try:
                async with self.store.begin() as tx:
                    # Taken once the writer is ours: requests that came while a sync pass held it join this
                    # commit instead of waiting for the next one (fewer, fuller transactions under load).
                    batch, self._pending = self._pending, []
                    await tx.jobs.enqueue_many([job for jobs, _ in batch for job in jobs])
            except Exception as exc:  # every request of the batch answers 5xx; the vendor retries it
                if not batch:  # the transaction could not even begin: fail the waiting requests, not loop
                    batch, self._pending = self._pending, []
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class WebhookReceiver:
    """Handles POST /webhooks/{connection} (an ASGI app): 2xx only once the hints are committed to the queue.

    Refusals say why: 404 unknown connection (or no secret configured), 413 body too large, 401 bad
    signature, key or replayed timestamp, 400 a body that is not the vendor's notification. A refused
    request queues nothing; every outcome is counted in `crmsync_webhook_requests`.

    It speaks ASGI rather than taking a Starlette `Request`: at a thousand requests a second the request
    object, its header and URL wrappers and the per-request exception plumbing were a fair share of the CPU.
    """

    def __init__(
        self,
        config: SyncConfig,
        store: Store,
        metrics: ServiceMetrics,
        *,
        public_url: str | None = None,
        on_queued: Callable[[int], None] = lambda queued: None,
    ) -> None:
        self.endpoints = endpoints(config)
        self.store = store
        self.metrics = metrics
        self.public_url = public_url.rstrip("/") if public_url else None
        self.max_body_bytes = config.service.max_body_bytes
        self._on_queued = on_queued
        self._commit = GroupCommit(store)
        self._counters: dict[tuple[Counter, str, str], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._handle(scope, receive)
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        connection = str(scope["path_params"]["connection"])
        endpoint = self.endpoints.get(connection)
        if endpoint is None:
            # Not labelled with the name from the URL: anyone could mint new label values.
            return self._refuse("(unknown)", 404, "unknown", f"no webhook endpoint for connection {connection[:64]!r}")
        headers = _headers(scope)
        body = await self._body(headers, receive)
        if body is None:
            limit = self.max_body_bytes
            return self._refuse(connection, 413, "too_large", f"the body is larger than {limit} bytes")
        try:
            endpoint.decoder.verify(scope["method"], self._signed_url(scope, headers), headers, body)
        except SignatureError as exc:
            return self._refuse(connection, 401, "bad_signature", str(exc))
        except VendorResponseError as exc:  # a Salesforce envelope that cannot be parsed to find its org
            return self._refuse(connection, 400, "malformed", str(exc))
        try:
            hints = endpoint.decoder.decode(body)
        except VendorResponseError as exc:
            return self._refuse(connection, 400, "malformed", str(exc))
        jobs, ignored = hint_jobs(endpoint, hints)
        if jobs:
            await self._commit.queue(jobs)
            self._on_queued(len(jobs))
        for hint in hints:
            self._counter(self.metrics.hints, connection, hint.kind).inc()
        self._counter(self.metrics.webhooks, connection, "accepted").inc()
        log.debug("webhook accepted", connection=connection, hints=len(hints), queued=len(jobs), ignored=ignored)
        status, ack_headers, content = endpoint.decoder.acknowledge()
        return Response(content, status, ack_headers)

    async def _body(self, headers: Mapping[str, str], receive: Receive) -> bytes | None:
        """The body, or None once it passes the size limit (read no further than that)."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""  # the sender gave up: nothing to verify, so nothing is queued
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _signed_url(self, scope: Scope, headers: Mapping[str, str]) -> str:
        """The URL as the vendor called it: behind a proxy, the configured public URL with this path and query."""
        server = scope.get("server")
        url = _request_url(
            scope.get("scheme", "http"),
            tuple(server) if server is not None else None,
            scope["path"],
            scope.get("query_string", b""),
            headers.get("host"),
        )
        if self.public_url is None:
            return str(url)
        query = f"?{url.query}" if url.query else ""
        return f"{self.public_url}{url.path}{query}"

    def _counter(self, metric: Counter, *labels: str) -> Counter:
        """A labelled child of `metric`, kept: `labels()` validates and locks on every call."""
        key = (metric, labels[0], labels[1])
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = metric.labels(*labels)
        return child

    def _refuse(self, connection: str, status: int, outcome: str, reason: str) -> Response:
        self._counter(self.metrics.webhooks, connection, outcome).inc()
        log.warning("webhook refused", connection=connection, status=status, reason=reason)
        return JSONResponse({"error": outcome, "message": reason}, status)


class WebhookRoute:
    """The ASGI endpoint routed to POST /webhooks/{connection}: the running receiver, else 503.

    An instance rather than a function, so that Starlette hands it the raw ASGI call (see WebhookReceiver).
    """

    def __init__(self, current: Callable[[], WebhookReceiver | None]) -> None:
        self._current = current

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self._current()
        if receiver is None:
            message = "the service is starting or stopping"
            await JSONResponse({"error": "unavailable", "message": message}, 503)(scope, receive, send)
            return
        await receiver(scope, receive, send)


@functools.lru_cache(maxsize=256)
def _request_url(scheme: str, server: tuple[str, int] | None, path: str, query: bytes, host: str | None) -> URL:
    """The request's URL as Starlette builds it (what the vendor signed), kept: a vendor calls a few URLs only."""
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "path": path,
        "query_string": query,
        "headers": headers,
    }
    return URL(scope=scope)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name; the first of repeated headers wins, as in Starlette."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


__all__ = ["LIVE_PRIORITY", "Endpoint", "WebhookReceiver", "WebhookRoute", "endpoints", "hint_jobs"]
