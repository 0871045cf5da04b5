"""The Dataverse vendor: wires auth, the Web API router, limits, webhooks and the control plane together."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from crmsync.emulators.core.app import partial_failure_share
from crmsync.emulators.core.http import base_url, bearer_token, json_response, note, read_json
from crmsync.emulators.core.vendor import Admission, EmulatorRuntime
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.api import WebApi
from crmsync.emulators.dynamics.auth import EntraAuth
from crmsync.emulators.dynamics.config import CustomColumn, DynamicsConfig
from crmsync.emulators.dynamics.context import Call
from crmsync.emulators.dynamics.limits import ServiceProtection, throttled_requests
from crmsync.emulators.dynamics.schema import add_custom_column, add_key
from crmsync.emulators.dynamics.state import DataverseState, parse_guid
from crmsync.emulators.dynamics.webhooks import WebhookRegistration, Webhooks

API_ROOT = "/api/data/v9.2"
_STATUS_CODES = {400: errors.ODATA, 404: errors.ODATA, 405: errors.ODATA, 429: errors.THROTTLE_REQUESTS}


class DynamicsEmulator:
    name = "dynamics"

    def __init__(self, config: DynamicsConfig | None = None, runtime: EmulatorRuntime | None = None) -> None:
        self.config = config or DynamicsConfig()
        self.runtime = runtime or EmulatorRuntime.create(stamp_resolution_ms=1000)
        self.state = DataverseState(self.runtime, self.config)
        self.auth = EntraAuth(self.config, self.runtime.clock)
        self.limits = ServiceProtection(self.config, self.runtime.clock, self._principal_of)
        self.webhooks = Webhooks(self.state)
        self.runtime.store.subscribe(self.webhooks.on_event)
        self.api = WebApi(self.state, self.webhooks)

    # ---- routes -----------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [
            *self.auth.routes(),
            Route(API_ROOT, self._api, methods=methods),
            Route(API_ROOT + "/{rest:path}", self._api, methods=methods),
        ]

    async def _api(self, request: Request) -> Response:
        principal = self.auth.authenticate(request)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        call = Call(
            method=request.method,
            path=request.path_params.get("rest", ""),
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers=headers,
            body=await request.body(),
            api_root=f"{base_url(request)}{API_ROOT}",
            principal=principal,
            partial_failure=partial_failure_share(request),
        )
        response = self.api.handle(call)
        note(request, op=call.op or None, records=call.records)
        return response

    # ---- vendor protocol --------------------------------------------------------------------
    def error_response(self, status: int, message: str, *, retry_after_s: float | None = None) -> Response:
        if status == 429:
            return self.rate_limited_response(retry_after_s)
        headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))} if retry_after_s is not None else None
        code = _STATUS_CODES.get(status, errors.UNAVAILABLE if status >= 500 else "")
        return errors.error_response(status, code, message, headers)

    def rate_limited_response(self, retry_after_s: float | None) -> Response:
        return throttled_requests(self.config, retry_after_s)

    def admit(self, scope: Scope) -> Admission:
        return self.limits.admit(scope)

    def release(self, scope: Scope) -> None:
        self.limits.release(scope)

    def expire_token_of(self, request: Request) -> None:
        self.auth.expire(bearer_token(request))

    def _principal_of(self, token: str | None) -> str:
        status, issued = self.auth.tokens.check(token)
        return issued.principal if issued is not None and status != "invalid" else "anonymous"

    def credentials(self) -> dict[str, Any]:
        config = self.config
        return {
            "tenant_id": config.tenant_id,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "token_path": f"/{config.tenant_id}/oauth2/v2.0/token",
            "authority_path": f"/{config.tenant_id}",
            "api_path": API_ROOT,
            "scope": "<base_url>/.default",
            "application_user_id": config.application_user_id,
        }

    def reset(self) -> None:
        self.state.reset()
        self.limits.reset()
        self.webhooks.clear()

    def seed(self, seed: int, records: int) -> dict[str, int]:
        from crmsync.emulators.dynamics.seeding import seed_world

        return seed_world(self.state, seed, records)

    def openapi(self) -> dict[str, Any]:
        from crmsync.emulators.dynamics.openapi import openapi_document

        return openapi_document(self.state)

    # ---- control plane ----------------------------------------------------------------------
    async def control(self, action: str, request: Request) -> Response:
        try:
            body = await self._control_body(request)
            return self._control(action, request.method, body, request)
        except (ValueError, ValidationError) as exc:
            detail = (
                exc.errors(include_url=False, include_context=False) if isinstance(exc, ValidationError) else str(exc)
            )
            return json_response({"error": "invalid control request", "details": detail}, 400)

    async def _control_body(self, request: Request) -> dict[str, Any]:
        if request.method not in ("POST", "PUT"):
            return {}
        raw = await request.body()
        if not raw.strip():
            return {}
        value = await read_json(request)
        if not isinstance(value, dict):
            raise ValueError("the control request body must be a JSON object")
        return value

    def _control(self, action: str, method: str, body: dict[str, Any], request: Request) -> Response:
        if action == "webhooks":
            if method == "POST":
                registration = self.webhooks.register(WebhookRegistration.model_validate(body))
                return json_response(registration.model_dump(), 201)
            if method == "DELETE":
                self.webhooks.clear()
            return json_response({"webhooks": [r.model_dump() for r in self.webhooks.registrations]})
        if action == "merge" and method == "POST":
            return self._control_merge(body)
        if action == "limits":
            if method == "POST":
                for name in ("requests_per_window", "window_s", "concurrent_requests"):
                    if name in body:
                        value = body[name]
                        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                            raise ValueError(f"{name} must be a positive integer")
                        setattr(self.config, name, value)
                self.limits.reset()
            return json_response(
                {
                    "requests_per_window": self.config.requests_per_window,
                    "window_s": self.config.window_s,
                    "concurrent_requests": self.config.concurrent_requests,
                    "usage": self.limits.usage(),
                }
            )
        if action == "columns" and method == "POST":
            table = self._table_named(body.get("table"))
            column = add_custom_column(table, CustomColumn.model_validate(body.get("column")))
            self.state.declare_keys(table)
            return json_response({"table": table.logical_name, "column": column.name}, 201)
        if action == "keys" and method == "POST":
            table = self._table_named(body.get("table"))
            columns = body.get("columns")
            if not isinstance(columns, list) or not columns or not all(c in table.columns for c in columns):
                raise ValueError("columns must list existing columns of the table")
            name = add_key(table, tuple(columns))
            self.state.declare_keys(table)
            return json_response({"table": table.logical_name, "key": name}, 201)
        if action == "token" and method == "POST":
            token, _ = self.auth.issue_token(f"{base_url(request)}")
            return json_response(
                {"token_type": "Bearer", "expires_in": self.config.token_lifetime_s, "access_token": token}
            )
        if action == "tokens/expire" and method == "POST":
            return json_response({"expired": self.auth.tokens.expire_all()})
        return json_response({"error": f"unknown control action {method} {action}"}, 404)

    def _table_named(self, name: Any) -> Any:
        if not isinstance(name, str) or name not in self.state.tables:
            raise ValueError(f"unknown table {name!r}")
        return self.state.tables[name]

    def _control_merge(self, body: dict[str, Any]) -> Response:
        table = self._table_named(body.get("table"))
        if not table.mergeable:
            raise ValueError("only account and contact merge")
        target_id = parse_guid(str(body.get("target", "")))
        sub_id = parse_guid(str(body.get("subordinate", "")))
        collection = self.state.collection(table)
        target = collection.get(target_id) if target_id else None
        subordinate = collection.get(sub_id) if sub_id else None
        if target is None or subordinate is None or target.id == subordinate.id:
            raise ValueError("target and subordinate must be two existing records")
        content = body.get("update_content") or {}
        changes = self.api.writer.parse(table, content, creating=False) if content else {}
        self.api.actions.merge_records(table, target, subordinate, changes, principal=self.config.application_user_id)
        return json_response({"merged": subordinate.id, "into": target.id})
