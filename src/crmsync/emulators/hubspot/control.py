"""HubSpot control-plane actions: webhooks, UI edits and merges, restores, limits, properties, tokens."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmsync.emulators.core.http import json_response
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.limits import HubSpotLimits
from crmsync.emulators.hubspot.params import json_object, object_type_param
from crmsync.emulators.hubspot.render import RecordView
from crmsync.emulators.hubspot.routes_metadata import MetadataRoutes, render_property
from crmsync.emulators.hubspot.routes_objects import merge_records
from crmsync.emulators.hubspot.state import Writer
from crmsync.emulators.hubspot.webhooks import WebhookHub, parse_settings


class ControlActions:
    def __init__(self, ctx: HubSpotContext, hub: WebhookHub, limits: HubSpotLimits, metadata: MetadataRoutes) -> None:
        self.ctx = ctx
        self.hub = hub
        self.limits = limits
        self.metadata = metadata

    def ui_writer(self) -> Writer:
        """Edits made "in the HubSpot UI" by the portal's user: webhooks report changeSource CRM."""
        return Writer("CRM", str(self.ctx.config.user_id))

    async def handle(self, action: str, request: Request) -> Response:
        handlers = {
            "webhooks": self.webhooks,
            "merge": self.merge,
            "ui-edit": self.ui_edit,
            "restore": self.restore,
            "limits": self.limits_action,
            "properties": self.properties,
            "tokens/expire": self.expire_tokens,
            "tokens/issue": self.issue_token,
        }
        handler = handlers.get(action.strip("/"))
        if handler is None:
            known = ", ".join(sorted(handlers))
            return json_response({"error": f"unknown HubSpot control action {action!r}; known: {known}"}, 404)
        return await handler(request)

    async def _body(self, request: Request) -> dict[str, Any]:
        if not (await request.body()).strip():
            return {}
        return await json_object(request)

    async def webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            self.hub.configure(parse_settings(await json_object(request), self.ctx.config))
        elif request.method == "DELETE":
            self.hub.configure(None)
        return json_response(self.hub.describe())

    async def merge(self, request: Request) -> Response:
        body = await json_object(request)
        ot = object_type_param(str(body.get("objectType", "contacts")))
        primary, other = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
        record = merge_records(self.ctx, ot, primary, other, self.ui_writer())
        return json_response(RecordView(self.ctx.portal, ot).render_all(record))

    async def ui_edit(self, request: Request) -> Response:
        body = await json_object(request)
        ot = object_type_param(str(body.get("objectType", "contacts")))
        portal = self.ctx.portal
        object_id = body.get("id")
        if object_id is None:
            record = portal.create(ot, body.get("properties", {}), self.ui_writer())
            return json_response(RecordView(portal, ot).render_all(record), 201)
        found = portal.resolve(ot, str(object_id))
        if found is None:
            raise errors.not_found()
        record = found
        if body.get("archive") is True:
            portal.archive(ot, record, self.ui_writer())
            return json_response({"archived": record.id})
        portal.update(ot, record, body.get("properties", {}), self.ui_writer())
        return json_response(RecordView(portal, ot).render_all(record))

    async def restore(self, request: Request) -> Response:
        body = await json_object(request)
        ot = object_type_param(str(body.get("objectType", "contacts")))
        coll = self.ctx.portal.collection(ot)
        record = coll.get(str(body.get("id", "")), include_deleted=True)
        if record is None or record.merged_into is not None:
            raise errors.not_found()
        coll.restore(record.id, source=self.ui_writer().store_source)
        self.ctx.portal.writes[ot.name] += 1
        return json_response(RecordView(self.ctx.portal, ot).render_all(record))

    async def limits_action(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._body(request)
            values = {
                "ten_second": body.get("ten_second_limit", self.limits.ten_second_limit),
                "daily": body.get("daily_limit", self.limits.daily_limit),
                "search_per_second": body.get("search_per_second", self.limits.search_per_second),
            }
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values.values()):
                raise errors.validation("limits must be positive integers")
            self.limits.configure(**values)
        return json_response(self.limits.state())

    async def properties(self, request: Request) -> Response:
        body = await json_object(request)
        ot = object_type_param(str(body.get("objectType", "")))
        prop = self.metadata.add_property(ot, body)
        return json_response(render_property(prop), 201)

    async def expire_tokens(self, request: Request) -> Response:
        body = await self._body(request)
        token = body.get("token")
        tokens = self.ctx.auth.tokens
        count = (1 if tokens.expire(token) else 0) if isinstance(token, str) else tokens.expire_all()
        return json_response({"expired": count})

    async def issue_token(self, request: Request) -> Response:
        cfg = self.ctx.config
        token = self.ctx.auth.tokens.issue(f"API:{cfg.app_id}", cfg.access_token_lifetime_s)
        return json_response({"access_token": token, "expires_in": cfg.access_token_lifetime_s})
