"""`crmsync serve` (webhooks, scheduler, /metrics) and `crmsync worker` (more hands on the queue), until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Annotated

import structlog
import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from crmsync.cli.status import DEFAULT_CONFIG, ConfigOption, fail, load, state_failure
from crmsync.config.values import SyncConfig
from crmsync.engine.connections import open_connectors
from crmsync.engine.redis_windows import check_redis
from crmsync.engine.runlock import acquire_serve_lease, new_serve_id
from crmsync.engine.runner import SyncRunner
from crmsync.errors import CrmSyncError
from crmsync.heap import freeze_start_up_objects
from crmsync.service.app import SyncService
from crmsync.service.logs import configure_logging
from crmsync.service.metrics import ServiceMetrics
from crmsync.service.worker import IDLE_S, Worker
from crmsync.store import open_store

log = structlog.get_logger("crmsync.cli.worker")


def serve(
    config_path: ConfigOption = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default: service.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: service.port).")] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between incremental polls (default: service.poll_interval_s)."),
    ] = None,
    json_logs: Annotated[
        bool | None,
        typer.Option("--json-logs/--console-logs", help="Log JSON lines (default when stderr is not a terminal)."),
    ] = None,
) -> None:
    """Keep the CRMs in sync continuously: webhooks trigger a sync within a second, polls catch what they miss.

    Serves POST /webhooks/<connection>, /healthz, /readyz and /metrics (Prometheus).
    """
    config = load(config_path)
    listen_host = host or config.service.host
    listen_port = config.service.port if port is None else port
    sock = listen(listen_host, listen_port)
    try:
        usable_state(config)
        configure_logging(config, json=not sys.stderr.isatty() if json_logs is None else json_logs)
        serve_id = only_serve(config)
        url = service_url(listen_host, listen_port)
        service = SyncService(config, poll_interval_s=poll_interval, service_url=url, serve_id=serve_id)
        log.info("crmsync serving", url=url, webhooks="/webhooks/<connection>")
        freeze_start_up_objects()
        # No access log: a Salesforce outbound message's URL carries its token in the query string. No log config
        # of uvicorn's own: its records go through `configure_logging` (JSON lines, secrets masked).
        settings = uvicorn.Config(
            service.app, host=listen_host, port=listen_port, access_log=False, log_level="warning", log_config=None
        )
        uvicorn.Server(settings).run(sockets=[sock])
        if service.refused is not None:  # lost the lease between `only_serve` and startup (its TTL ran out)
            raise fail(service.refused)
    finally:
        sock.close()


def only_serve(config: SyncConfig) -> str:
    """Take the state database's `serve` lease for this process; another serve running is one error line.

    Two serves on one state database ran two schedulers whose passes overlapped, and duplicated records; a
    serve that is gone (SIGKILL) is taken over: at once on the same host, when its lease expires (90 s) from
    another. Taken before the app starts, so a refused serve registers no webhook and runs no pass. The app's
    startup takes it again under the same id and renews it.
    """
    serve_id = new_serve_id()

    async def acquire() -> None:
        store = await open_store(config.state_url)
        try:
            await acquire_serve_lease(store, serve_id)  # logs a takeover from a serve that is gone
        finally:
            await store.aclose()

    try:
        asyncio.run(acquire())
    except CrmSyncError as exc:
        raise fail(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise state_failure(exc, config) from None
    return serve_id


def service_url(host: str, port: int) -> str | None:
    """Where the CRMs (the emulators' webhooks) reach the service; None for port 0, known only once bound.

    An IPv6 address goes in brackets: `http://::1:8080` is no URL, and the emulators' deliveries to it failed.
    """
    if not port:
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """The service's listening socket, bound before anything starts: a taken port is one error line.

    Bound by uvicorn, it failed after startup had registered the webhooks and begun a poll, with exit code 3.
    """
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets of that proto (no delayed-ACK waits).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise fail(f"cannot listen on {host}:{port}: {reason}; choose another with --port or service.port") from None
    return sock


def worker(
    config_path: ConfigOption = DEFAULT_CONFIG,
    idle: Annotated[float, typer.Option(min=0.05, help="Seconds between looks at an empty queue.")] = IDLE_S,
    json_logs: Annotated[
        bool | None,
        typer.Option("--json-logs/--console-logs", help="Log JSON lines (default when stderr is not a terminal)."),
    ] = None,
) -> None:
    """Work the queue beside `crmsync serve`: reconcile hinted records and deliver writes (scale-out).

    Run as many as you like, here or on other machines, against the same PostgreSQL state URL.
    SIGTERM finishes the batch under way and gives back anything not started.
    """
    config = load(config_path)
    usable_state(config)
    configure_logging(config, json=not sys.stderr.isatty() if json_logs is None else json_logs)
    if make_url(config.state_url).get_backend_name() == "sqlite":
        log.warning("on SQLite, workers on this machine share one writer; use PostgreSQL to scale out")
    try:
        asyncio.run(_work(config, idle))
    except CrmSyncError as exc:
        raise fail(str(exc)) from None


def usable_state(config: SyncConfig) -> None:
    """Open (and migrate) the state database, and reach `state.redis_url` if set, once before starting: one that
    cannot be used is one error line.

    Inside uvicorn's lifespan or the worker's loop, the same failure was a driver traceback of a hundred lines;
    a Redis database number the server does not have only showed as every request waiting for Redis.
    """

    async def open_and_close() -> None:
        store = await open_store(config.state_url)
        await store.aclose()

    try:
        asyncio.run(open_and_close())
    except CrmSyncError as exc:
        raise fail(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise state_failure(exc, config) from None
    if config.redis_url is not None:
        try:
            asyncio.run(check_redis(config.redis_url.get_secret_value()))
        except CrmSyncError as exc:
            raise fail(str(exc)) from None


async def _work(config: SyncConfig, idle: float) -> None:
    store = await open_store(config.state_url)
    try:
        async with open_connectors(config) as connectors, SyncRunner(config, store, connectors) as runner:
            loop = Worker(runner, ServiceMetrics(), idle_s=idle)
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, loop.stop)
            freeze_start_up_objects()
            log.info("worker started", state=config.state_url_safe, redis=config.redis_url_safe)
            await loop.run()
            log.info("worker stopped", passes=loop.passes, handled=loop.handled)
    finally:
        await store.aclose()
