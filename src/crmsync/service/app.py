"""The `crmsync serve` ASGI app: webhook endpoints, health, metrics, and the scheduler as its background task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.engine.connections import open_connectors
from crmsync.engine.runlock import ServeInProgressError, new_serve_id, serve_lease
from crmsync.engine.runner import SyncRunner
from crmsync.service.alerts import POST_TIMEOUT_S, Alerter
from crmsync.service.emulator_webhooks import register_emulator_webhooks
from crmsync.service.logs import Redactor, configured_secrets
from crmsync.service.metrics import ServiceMetrics
from crmsync.service.receiver import WebhookReceiver, WebhookRoute
from crmsync.service.scheduler import Scheduler
from crmsync.store import Store, open_store
from crmsync.store.values import JobStatus

JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "done", "dead")
SHUTDOWN_GRACE_S = 30.0
"""On SIGTERM the pass under way may finish its batch this long before it is cancelled (its claims return)."""

log = structlog.get_logger("crmsync.service")


@dataclass
class Running:
    """What the app holds while it serves (set by the lifespan)."""

    store: Store
    connectors: Mapping[str, Connector]
    receiver: WebhookReceiver
    scheduler: Scheduler
    task: asyncio.Task[None]


class SyncService:
    """Builds the ASGI app for one configuration; `running` is set between startup and shutdown.

    `store` and `connectors` may be given (tests, the demo); otherwise the app opens them from the
    configuration at startup and closes them at shutdown. `service_url` is where the CRMs reach this
    service (for registering the emulators' webhooks).

    One service per state database: startup takes the `serve` lease (as `serve_id`, which `crmsync serve`
    already took before listening, or a new id) before it registers a webhook or schedules a pass, and holds
    it until shutdown. Refused, startup fails and `refused` says why.
    """

    def __init__(
        self,
        config: SyncConfig,
        *,
        store: Store | None = None,
        connectors: Mapping[str, Connector] | None = None,
        poll_interval_s: float | None = None,
        service_url: str | None = None,
        serve_id: str | None = None,
    ) -> None:
        self.config = config
        self.serve_id = serve_id or new_serve_id()
        self.refused: str | None = None  # why startup was refused: another serve holds the state database
        self.lost: str | None = None  # why scheduling stopped: another serve took the state database over
        self.metrics = ServiceMetrics()
        self.poll_interval_s = poll_interval_s or config.service.poll_interval_s
        self.service_url = config.service.public_url or service_url
        self._store = store
        self._connectors = connectors
        self.running: Running | None = None
        # Imported here: FastAPI and Jinja2 load only in a serving process, not in every CLI command or worker.
        from crmsync.dashboard import Dashboard

        # The dashboard (pages at /, JSON at /api) goes after the service's own unauthenticated endpoints.
        self.dashboard = Dashboard(config, lambda: self.running)
        self.app = Starlette(
            routes=[
                # Raw ASGI (no Request/Response wrapping), first in line: the hot path of a busy service.
                Route("/webhooks/{connection}", WebhookRoute(self._receiver), methods=["POST"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/readyz", self._readyz, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
                *self.dashboard.routes(),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = self._store
            if store is None:
                store = await open_store(self.config.state_url)
                stack.push_async_callback(store.aclose)
            try:
                # Before anything reaches a CRM: a refused serve registers no webhook and schedules no pass.
                await stack.enter_async_context(serve_lease(store, self.serve_id, lost=self._lose))
            except ServeInProgressError as exc:
                self.refused = str(exc)
                log.error("service refused", reason=self.refused)
                raise
            connectors = self._connectors
            if connectors is None:
                connectors = await stack.enter_async_context(open_connectors(self.config))
            runner = SyncRunner(self.config, store, connectors)
            stack.push_async_callback(runner.aclose)  # after the scheduler stopped: its Redis client, if any
            self.metrics.watch_limiters(
                {name: tuple(getattr(connector, "limiters", ())) for name, connector in connectors.items()}
            )
            alerter = await self._alerter(stack, store, connectors)
            scheduler = Scheduler(
                runner,
                self.metrics,
                poll_interval_s=self.poll_interval_s,
                sweep_interval_s=self.config.service.sweep_interval_s,
                link_scan_interval_s=self.config.service.link_scan_interval_s,
                after_pass=alerter.after_pass if alerter is not None else None,
                connections=tuple(self.config.connections),
                queue_mark=partial(_due_mark, store),
                checkpoint=store.checkpoint if store.dialect == "sqlite" else None,
            )
            receiver = WebhookReceiver(
                self.config,
                store,
                self.metrics,
                public_url=self.config.service.public_url,
                on_queued=scheduler.hints_queued,
            )
            if self.config.service.register_emulator_webhooks:
                await self._register(receiver)
            task = asyncio.create_task(scheduler.run(), name="crmsync-scheduler")
            self.running = Running(store, connectors, receiver, scheduler, task)
            log.info(
                "service started",
                webhooks=sorted(receiver.endpoints),
                poll_interval_s=self.poll_interval_s,
                state=self.config.state_url_safe,
                redis=self.config.redis_url_safe,
            )
            try:
                yield
            finally:
                self.running = None
                scheduler.stop()
                try:
                    await asyncio.wait_for(task, SHUTDOWN_GRACE_S)
                except TimeoutError:
                    log.warning("the sync pass did not finish in time: cancelled; its claims are returned")
                except Exception:
                    log.exception("the scheduler ended with an error")
                log.info("service stopped")

    async def _alerter(
        self, stack: contextlib.AsyncExitStack, store: Store, connectors: Mapping[str, Connector]
    ) -> Alerter | None:
        """The alerter when `service.alerts.urls` lists any; it finishes its POSTs before its client closes."""
        settings = self.config.service.alerts
        if not settings.urls:
            return None
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=POST_TIMEOUT_S))
        scrub = Redactor(configured_secrets(self.config)).scrub
        alerter = Alerter(settings, client, self.metrics, store=store, connectors=connectors, scrub=scrub)
        stack.push_async_callback(alerter.aclose)
        return alerter

    async def _register(self, receiver: WebhookReceiver) -> None:
        if self.service_url is None:
            log.error("register_emulator_webhooks needs service.public_url or a fixed port; nothing registered")
            return
        async with httpx.AsyncClient(timeout=30) as client:
            try:
                await register_emulator_webhooks(self.config, self.service_url, client)
            except httpx.HTTPError as exc:
                log.error("could not register the emulators' webhooks", error=str(exc))

    def _lose(self, reason: str) -> None:
        """The serve lease went to another serve: stop scheduling (two schedulers duplicate records)."""
        self.lost = reason
        log.error("service stops scheduling", reason=reason)
        if self.running is not None:
            self.running.scheduler.stop()

    def _receiver(self) -> WebhookReceiver | None:
        return self.running.receiver if self.running is not None else None

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        """Ready when the state database answers and the scheduler runs; says why not otherwise."""
        running = self.running
        if self.lost is not None:
            return JSONResponse({"status": "unavailable", "reason": self.lost}, 503)
        if running is None:
            return JSONResponse({"status": "unavailable", "reason": "starting or stopping"}, 503)
        if running.task.done():
            return JSONResponse({"status": "unavailable", "reason": "the scheduler stopped"}, 503)
        try:
            async with running.store.read() as tx:
                await tx.jobs.counts()
        except Exception as exc:  # any database failure means not ready; its text names no secret
            return JSONResponse({"status": "unavailable", "reason": f"state database: {type(exc).__name__}"}, 503)
        last = running.scheduler.last
        body: dict[str, object] = {"status": "ok", "passes": running.scheduler.passes}
        paused = running.scheduler.breaker.state()
        if paused:
            body["paused_connections"] = paused  # failing CRMs left alone for this many seconds
        if last is not None:
            body["last_pass"] = {
                "trigger": last.trigger,
                "started": last.started.isoformat(),
                "seconds": round(last.seconds, 3),
                "ok": last.ok,
                "summary": last.message,
            }
        return JSONResponse(body)

    async def _metrics(self, request: Request) -> Response:
        running = self.running
        if running is not None:
            async with running.store.read() as tx:
                counts = await tx.jobs.counts()
                oldest = await tx.jobs.oldest_pending()
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
            self.metrics.set_queue({status: counts.get(status, 0) for status in JOB_STATUSES}, max(age, 0.0))
        return Response(self.metrics.render(), media_type=self.metrics.content_type)


async def _due_mark(store: Store) -> tuple[int, int]:
    async with store.read() as tx:
        return await tx.jobs.due_mark()


__all__ = ["SHUTDOWN_GRACE_S", "SyncService"]
