"""Builds an emulator's ASGI app: vendor routes behind statistics, faults and limits, plus `/_emulator`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmsync.emulators.core.faults import FaultPlan
from crmsync.emulators.core.http import ApiError, json_response, read_json
from crmsync.emulators.core.vendor import Vendor

CONTROL_PREFIX = "/_emulator"
SETTLE_TIMEOUT_S = 10.0
"""Longest a `GET …/deliveries?settled=true` waits for the webhooks due to be attempted (and `faults?fired=N`)."""
log = logging.getLogger("crmsync.emulators")


class _CrashGuardMiddleware:
    """An unexpected failure still answers in the vendor's error shape, never with a traceback."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app = app
        self.vendor = vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except InjectedDrop:
            raise
        except ClientDisconnect:
            # The caller went away mid-request (killed, timed out): no one to answer, and nothing failed here.
            log.debug("emulator %s: client gone during %s %s", self.vendor.name, scope["method"], scope["path"])
        except Exception:
            log.exception("emulator %s failed on %s %s", self.vendor.name, scope["method"], scope["path"])
            if started:
                raise
            response = self.vendor.error_response(500, "An unexpected error occurred in the emulator.")
            await response(scope, receive, send)


class _StatsMiddleware:
    """Counts every API call by operation, with its status and record count."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app = app
        self.vendor = vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            op = scope.get("crmsync.op")
            if op is None:
                route = scope.get("route")
                op = f"{scope['method']} {getattr(route, 'path', scope['path'])}"
            self.vendor.runtime.stats.record(op, status, int(scope.get("crmsync.records", 0)))


class _FaultAndLimitMiddleware:
    """Applies the fault plan, then the vendor's rate limits, then adds the vendor's limit headers."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app = app
        self.vendor = vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        vendor = self.vendor
        faults = vendor.runtime.faults
        if faults.active:
            decision = faults.decide(scope["method"], scope["path"])
            if decision is not None:
                rule = decision.rule
                scope["crmsync.fault"] = decision.kind
                if rule.latency_ms:
                    await asyncio.sleep(rule.latency_ms / 1000)
                if decision.kind == "status":
                    response = vendor.error_response(rule.status, "injected fault", retry_after_s=rule.retry_after_s)
                    await response(scope, receive, send)
                    return
                if decision.kind == "rate_limit":
                    await vendor.rate_limited_response(rule.retry_after_s)(scope, receive, send)
                    return
                if decision.kind == "drop":
                    await _drop(send)
                    return
                if decision.kind == "expire_token":
                    vendor.expire_token_of(Request(scope))
                if decision.kind == "partial_batch":
                    scope["crmsync.partial_failure"] = rule.fail_share
        admission = vendor.admit(scope)
        if admission.rejection is not None:
            await admission.rejection(scope, receive, send)
            return
        extra = admission.headers

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if admission.release:
                vendor.release(scope)


class InjectedDrop(ConnectionResetError):
    """Raised after a cut-short response: over a socket the server closes the connection; in-process
    (httpx.ASGITransport) the client sees a connection reset, as it would from a real network."""


async def _drop(send: Send) -> None:
    """Start a response and cut it short: the client sees the peer close mid-body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
    raise InjectedDrop("connection dropped by the emulator's fault plan")


def partial_failure_share(request: Request) -> float:
    """The share of batch items a `partial_batch` fault asks this call to fail (0 when none)."""
    return float(request.scope.get("crmsync.partial_failure", 0.0))


def build_app(vendor: Vendor, *, debug: bool = False) -> Starlette:
    runtime = vendor.runtime

    async def info(request: Request) -> Response:
        return json_response(
            {
                "vendor": vendor.name,
                "credentials": vendor.credentials(),
                "clock": _clock_state(vendor),
                "counts": runtime.store.counts(),
            }
        )

    async def reset(request: Request) -> Response:
        vendor.reset()
        runtime.faults.clear()
        runtime.stats.reset()
        runtime.webhooks.clear()
        return json_response({"reset": True})

    async def seed(request: Request) -> Response:
        body = await _optional_json(request)
        try:
            seed_value = int(body.get("seed", 1))
            records = int(body.get("records", 100))
        except (TypeError, ValueError):
            return json_response({"error": "seed and records must be integers"}, 400)
        if records < 0 or records > 5_000_000:
            return json_response({"error": "records must be between 0 and 5,000,000"}, 400)
        return json_response({"seeded": vendor.seed(seed_value, records)})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _optional_json(request)
            try:
                if "set_ms" in body:
                    runtime.clock.set(int(body["set_ms"]))
                if "advance_ms" in body:
                    runtime.clock.advance(int(body["advance_ms"]))
                if body.get("freeze") is True:
                    runtime.clock.freeze()
                if body.get("freeze") is False:
                    runtime.clock.thaw()
            except (TypeError, ValueError):
                return json_response({"error": "set_ms and advance_ms must be integers"}, 400)
        return json_response(_clock_state(vendor))

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                plan = FaultPlan.model_validate(await read_json(request))
            except ValueError as exc:
                errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
                return json_response({"error": "invalid fault plan", "details": errors}, 400)
            runtime.faults.set_plan(plan)
        elif request.method == "DELETE":
            runtime.faults.clear()
        elif (fired := request.query_params.get("fired", "")).isdigit():
            # Answers once the plan's rules fired that often in all, so a test awaits a client meeting its fault;
            # bounded like `deliveries?settled=true` (the report then says how often they did fire).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.faults.wait_fired(int(fired)), SETTLE_TIMEOUT_S)
        return json_response({"plan": runtime.faults.plan.model_dump(), "rules": runtime.faults.report()})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            runtime.stats.reset()
        return json_response(runtime.stats.snapshot())

    async def deliveries(request: Request) -> Response:
        if request.method == "DELETE":
            runtime.webhooks.clear()
        elif request.query_params.get("settled") == "true":
            # Answers once no delivery is due (one waiting for a later retry does not count), so a test awaits the
            # webhooks of what it did instead of polling; bounded, so a stuck receiver cannot hold the call.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.webhooks.wait_idle(), SETTLE_TIMEOUT_S)
        return json_response({"deliveries": [d.summary() for d in runtime.webhooks.deliveries]})

    async def openapi(request: Request) -> Response:
        return json_response(vendor.openapi())

    async def vendor_action(request: Request) -> Response:
        return await vendor.control(request.path_params["action"], request)

    methods = ["GET", "POST", "PUT", "DELETE"]
    control = [
        Route(f"{CONTROL_PREFIX}", info, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/seed", seed, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/deliveries", deliveries, methods=["GET", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/openapi.json", openapi, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/{{action:path}}", vendor_action, methods=methods),
    ]

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return vendor.error_response(404, f"The requested resource does not exist: {request.url.path}")
        if exc.status_code == 405:
            return vendor.error_response(405, f"HTTP method {request.method} is not allowed for this resource")
        return vendor.error_response(exc.status_code, str(exc.detail))

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(runtime.webhooks.run(), name=f"{vendor.name}-webhooks")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = Starlette(
        debug=debug,
        routes=[*control, *vendor.routes()],
        exception_handlers={
            HTTPException: on_http_exception,
            ApiError: on_api_error,
        },
        lifespan=lifespan,
    )
    app.add_middleware(_CrashGuardMiddleware, vendor=vendor)
    app.add_middleware(_FaultAndLimitMiddleware, vendor=vendor)
    app.add_middleware(_StatsMiddleware, vendor=vendor)
    app.state.vendor = vendor
    return app


def _clock_state(vendor: Vendor) -> dict[str, Any]:
    clock = vendor.runtime.clock
    return {"now_ms": clock.now_ms(), "now": clock.now().isoformat(), "frozen": clock.frozen}


async def _optional_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        value = await read_json(request)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
