"""The HubSpot vendor: wires routes, auth, limits, webhooks and the control plane onto the shared core."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Scope

from crmsync.emulators.core.vendor import Admission, EmulatorRuntime
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.auth import HubSpotAuth
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.control import ControlActions
from crmsync.emulators.hubspot.limits import HubSpotLimits, rate_limited
from crmsync.emulators.hubspot.openapi import build_openapi
from crmsync.emulators.hubspot.params import object_type_param
from crmsync.emulators.hubspot.routes_associations import AssociationRoutes
from crmsync.emulators.hubspot.routes_batch import BatchRoutes
from crmsync.emulators.hubspot.routes_metadata import MetadataRoutes
from crmsync.emulators.hubspot.routes_objects import ObjectRoutes
from crmsync.emulators.hubspot.routes_search import SearchRoutes
from crmsync.emulators.hubspot.routing import RouteTable
from crmsync.emulators.hubspot.seed import seed_portal
from crmsync.emulators.hubspot.state import Portal
from crmsync.emulators.hubspot.webhooks import WebhookHub


class HubSpotEmulator:
    """HubSpot CRM v3/v4 as one portal; implements the `Vendor` protocol."""

    name = "hubspot"

    def __init__(self, config: HubSpotConfig | None = None) -> None:
        self.config = config or HubSpotConfig()
        self.runtime = EmulatorRuntime.create(stamp_resolution_ms=1)
        self.portal = Portal(self.runtime.store, portal_id=self.config.portal_id, app_id=self.config.app_id)
        self.auth = HubSpotAuth(self.config, self.runtime.clock)
        self.ctx = HubSpotContext(self.config, self.runtime, self.portal, self.auth)
        self.limits = HubSpotLimits(self.runtime.clock, self.config)
        self.webhook_hub = WebhookHub(self.runtime, self.portal, self.config)
        self.metadata = MetadataRoutes(self.ctx)
        self.search = SearchRoutes(self.ctx)
        self.control_actions = ControlActions(self.ctx, self.webhook_hub, self.limits, self.metadata)
        self._apply_custom_properties()

    def _apply_custom_properties(self) -> None:
        for definition in self.config.custom_properties:
            ot = object_type_param(str(definition.get("objectType", "")))
            self.metadata.add_property(ot, definition)

    def routes(self) -> list[BaseRoute]:
        table = [
            *self.auth.routes(),
            *self.search.routes(),
            *BatchRoutes(self.ctx).routes(),
            *ObjectRoutes(self.ctx).routes(),
            *AssociationRoutes(self.ctx).routes(),
            *self.metadata.routes(),
        ]
        return [RouteTable(table)]

    def error_response(self, status: int, message: str, *, retry_after_s: float | None = None) -> Response:
        if status == 429:
            return rate_limited("TEN_SECONDLY_ROLLING", retry_after_s)
        response = errors.error_response(status, message)
        if retry_after_s is not None:
            response.headers["Retry-After"] = str(max(int(retry_after_s + 0.999), 0))
        return response

    def rate_limited_response(self, retry_after_s: float | None) -> Response:
        return rate_limited("TEN_SECONDLY_ROLLING", retry_after_s)

    def admit(self, scope: Scope) -> Admission:
        return self.limits.admit(scope)

    def release(self, scope: Scope) -> None:
        return None

    def expire_token_of(self, request: Request) -> None:
        self.auth.expire(request)

    def credentials(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "private_app_token": cfg.private_app_token,
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "refresh_token": cfg.refresh_token,
            "authorization_code": cfg.authorization_code,
            "token_path": "/oauth/v1/token",
            "portal_id": cfg.portal_id,
            "app_id": cfg.app_id,
        }

    def reset(self) -> None:
        self.webhook_hub.configure(None)
        self.portal.reset()
        self.auth.reset()
        self.limits.reset()
        self.search.clear()
        self._apply_custom_properties()

    def seed(self, seed: int, records: int) -> dict[str, int]:
        return seed_portal(self.portal, seed, records)

    async def control(self, action: str, request: Request) -> Response:
        return await self.control_actions.handle(action, request)

    def openapi(self) -> dict[str, Any]:
        return build_openapi()
