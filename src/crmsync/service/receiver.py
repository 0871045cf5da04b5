"""Webhook endpoints: verify, queue the hints durably in one transaction, then acknowledge; never sync inline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

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
            batch, self._pending = self._pending, []
            try:
                async with self.store.begin() as tx:
                    await tx.jobs.enqueue_many([job for jobs, _ in batch for job in jobs])
            except Exception as exc:  # every request of the batch answers 5xx; the vendor retries it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class WebhookReceiver:
    """Handles POST /webhooks/{connection}: 2xx only once the hints are committed to the queue.

    Refusals say why: 404 unknown connection (or no secret configured), 413 body too large, 401 bad
    signature, key or replayed timestamp, 400 a body that is not the vendor's notification. A refused
    request queues nothing; every outcome is counted in `crmsync_webhook_requests`.
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

    async def __call__(self, request: Request) -> Response:
        connection = str(request.path_params["connection"])
        endpoint = self.endpoints.get(connection)
        if endpoint is None:
            # Not labelled with the name from the URL: anyone could mint new label values.
            return self._refuse("(unknown)", 404, "unknown", f"no webhook endpoint for connection {connection[:64]!r}")
        body = await self._body(request)
        if body is None:
            limit = self.max_body_bytes
            return self._refuse(connection, 413, "too_large", f"the body is larger than {limit} bytes")
        try:
            endpoint.decoder.verify(request.method, self._signed_url(request), dict(request.headers), body)
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
            self.metrics.hints.labels(connection, hint.kind).inc()
        self.metrics.webhooks.labels(connection, "accepted").inc()
        log.debug("webhook accepted", connection=connection, hints=len(hints), queued=len(jobs), ignored=ignored)
        status, headers, content = endpoint.decoder.acknowledge()
        return Response(content, status, headers)

    async def _body(self, request: Request) -> bytes | None:
        """The body, or None once it passes the size limit (read no further than that)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body_bytes:
                    return None
                chunks.append(chunk)
        except ClientDisconnect:
            return b""
        return b"".join(chunks)

    def _signed_url(self, request: Request) -> str:
        """The URL as the vendor called it: behind a proxy, the configured public URL with this path and query."""
        if self.public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{self.public_url}{request.url.path}{query}"

    def _refuse(self, connection: str, status: int, outcome: str, reason: str) -> Response:
        self.metrics.webhooks.labels(connection, outcome).inc()
        log.warning("webhook refused", connection=connection, status=status, reason=reason)
        return JSONResponse({"error": outcome, "message": reason}, status)


__all__ = ["LIVE_PRIORITY", "Endpoint", "WebhookReceiver", "endpoints", "hint_jobs"]
