"""The Salesforce vendor: wires org, auth, queries, limits and outbound messages into the shared runtime."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from crmsync.emulators.core.limits import DailyBudget
from crmsync.emulators.core.vendor import Admission, EmulatorRuntime
from crmsync.emulators.salesforce.auth import Auth
from crmsync.emulators.salesforce.config import SalesforceConfig
from crmsync.emulators.salesforce.dispatch import Dispatch
from crmsync.emulators.salesforce.errors import STATUS_CODES, error_response
from crmsync.emulators.salesforce.org import Org
from crmsync.emulators.salesforce.outbound import OutboundMessages
from crmsync.emulators.salesforce.query import QueryEngine
from crmsync.emulators.salesforce.routes_soap import LIMIT_EXCEEDED, fault_response

STAMP_RESOLUTION_MS = 1000


class SalesforceVendor:
    name = "salesforce"

    def __init__(self, config: SalesforceConfig | None = None, runtime: EmulatorRuntime | None = None) -> None:
        self.config = config or SalesforceConfig()
        self.runtime = runtime or EmulatorRuntime.create(stamp_resolution_ms=STAMP_RESOLUTION_MS)
        self.org = Org(self.runtime.store, self.config)
        self.auth = Auth(self.config, self.runtime.clock, self.org.org_id)
        self.queries = QueryEngine(self.org, self.config.query_locator_ttl_s)
        self.budget = DailyBudget(self.runtime.clock, self.config.daily_api_limit)
        self.outbound = OutboundMessages(self)
        self.schema_changed = datetime.now(UTC).replace(microsecond=0)
        self.auth.reset(self.org.user_id)

    def touch_schema(self) -> None:
        """Describe's Last-Modified moves when the schema changes (If-Modified-Since then misses)."""
        self.schema_changed = datetime.fromtimestamp(self.runtime.clock.now_ms() // 1000, UTC)

    # ---- Vendor protocol ------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        from crmsync.emulators.salesforce.routes_collections import collection_routes
        from crmsync.emulators.salesforce.routes_composite import composite_routes
        from crmsync.emulators.salesforce.routes_meta import meta_routes
        from crmsync.emulators.salesforce.routes_query import query_routes
        from crmsync.emulators.salesforce.routes_records import record_routes
        from crmsync.emulators.salesforce.routes_soap import soap_routes

        token = Route("/services/oauth2/token", self.auth.token_endpoint, methods=["POST"])
        table = [
            token,
            *meta_routes(self),
            *query_routes(self),
            *collection_routes(self),
            *composite_routes(self),
            *record_routes(self),
            *soap_routes(self),
        ]
        return [Dispatch(table)]

    def error_response(self, status: int, message: str, *, retry_after_s: float | None = None) -> Response:
        code = STATUS_CODES.get(status, "UNKNOWN_EXCEPTION" if status >= 500 else "BAD_REQUEST")
        if status == 404:
            message = "The requested resource does not exist"
        return error_response(status, code, message)

    def rate_limited_response(self, retry_after_s: float | None) -> Response:
        return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def admit(self, scope: Scope) -> Admission:
        if not scope["path"].startswith(("/services/data", "/services/Soap")):
            return Admission()
        if not self.budget.try_take():
            if scope["path"].startswith("/services/Soap"):
                rejection = fault_response("sf:REQUEST_LIMIT_EXCEEDED", LIMIT_EXCEEDED)
                return Admission(rejection=rejection, headers=self._limit_headers())
            return Admission(rejection=self.rate_limited_response(None), headers=self._limit_headers())
        return Admission(headers=self._limit_headers())

    def _limit_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"sforce-limit-info", f"api-usage={self.budget.used}/{self.budget.limit}".encode())]

    def release(self, scope: Scope) -> None:
        return None

    def expire_token_of(self, request: Request) -> None:
        self.auth.expire(request)

    def credentials(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "consumer_key": cfg.consumer_key,
            "username": cfg.username,
            "session_id": cfg.static_session_token,
            "token_url_path": "/services/oauth2/token",
            "jwt_private_key_pem": self.auth.private_pem,
            "jwt_audiences": cfg.jwt_audiences,
            "org_id": self.org.org_id,
            "user_id": self.org.user_id,
            "api_versions": f"v{cfg.min_api_version:.1f}..v{cfg.max_api_version:.1f}",
        }

    def reset(self) -> None:
        self.org.reset()
        self.auth.reset(self.org.user_id)
        self.queries.reset()
        self.budget.reset()
        self.outbound.reset()

    def seed(self, seed: int, records: int) -> dict[str, int]:
        from crmsync.emulators.salesforce.seeding import seed_org

        return seed_org(self.org, seed, records)

    async def control(self, action: str, request: Request) -> Response:
        from crmsync.emulators.salesforce.control import handle_control

        return await handle_control(self, action, request)

    def openapi(self) -> dict[str, Any]:
        from crmsync.emulators.salesforce.openapi import build_openapi

        return build_openapi(self)
