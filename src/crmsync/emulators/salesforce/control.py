"""Salesforce control-plane actions: merge, outbound messages, limits, custom fields, sessions, users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from crmsync.emulators.core.http import base_url, json_response
from crmsync.emulators.core.limits import DailyBudget
from crmsync.emulators.salesforce.config import CustomField
from crmsync.emulators.salesforce.errors import SfError

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

_FIELDS = TypeAdapter(list[CustomField])


async def _body(request: Request) -> dict[str, Any]:
    import orjson

    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


async def handle_control(vendor: SalesforceVendor, action: str, request: Request) -> Response:
    body = await _body(request) if request.method in {"POST", "PUT"} else {}
    org = vendor.org
    try:
        if action == "merge" and request.method == "POST":
            obj = org.object(str(body.get("object", "")))
            victims = body.get("victim_ids")
            if obj is None or not isinstance(victims, list) or not isinstance(body.get("master_id"), str):
                return _bad("merge needs object, master_id and victim_ids")
            master = org.merge(obj, body["master_id"], [str(v) for v in victims], body.get("fields") or {}, org.user_id)
            vendor.outbound.flush()
            return json_response({"id": master.id, "mergedRecordIds": [str(v) for v in victims], "success": True})
        if action == "outbound-messages":
            if request.method == "POST":
                obj = org.object(str(body.get("object", "")))
                url, fields = body.get("url"), body.get("fields", [])
                if obj is None or not isinstance(url, str) or not isinstance(fields, list):
                    return _bad("registration needs object, url and a list of fields")
                unknown = [f for f in fields if obj.field(str(f)) is None]
                if unknown:
                    return _bad(f"unknown fields on {obj.name}: {unknown}")
                names = [fdef.name for f in fields if (fdef := obj.field(str(f))) is not None]
                reg = vendor.outbound.register(obj.name, url, names, base_url(request))
                return json_response({"action_id": reg.action_id, "object": obj.name, "url": url, "fields": reg.fields})
            if request.method == "DELETE":
                vendor.outbound.reset()
            return json_response(
                [
                    {"action_id": r.action_id, "object": r.object_name, "url": r.url, "fields": r.fields}
                    for r in vendor.outbound.registrations
                ]
            )
        if action == "limits":
            if request.method == "POST":
                limit = body.get("daily_api_limit", vendor.budget.limit)
                used = body.get("used", 0)
                if not isinstance(limit, int) or not isinstance(used, int) or limit < 1 or used < 0:
                    return _bad("daily_api_limit and used must be non-negative integers")
                vendor.budget = DailyBudget(vendor.runtime.clock, limit)
                for _ in range(min(used, limit)):
                    vendor.budget.try_take()
            return json_response({"daily_api_limit": vendor.budget.limit, "used": vendor.budget.used})
        if action == "custom-fields" and request.method == "POST":
            obj = org.object(str(body.get("object", "")))
            if obj is None:
                return _bad("unknown object")
            try:
                specs = _FIELDS.validate_python(body.get("fields", []))
            except ValidationError as exc:
                return json_response({"error": "invalid custom fields", "details": exc.errors(include_url=False)}, 400)
            org.add_custom_fields(obj.name, specs)
            vendor.touch_schema()
            return json_response({"object": obj.name, "fields": [s.name for s in specs]})
        if action == "expire-tokens" and request.method == "POST":
            return json_response({"expired": vendor.auth.tokens.expire_all()})
        if action == "sessions" and request.method == "POST":
            token = vendor.auth.tokens.issue(org.user_id, vendor.config.session_timeout_s)
            return json_response({"access_token": token, "instance_url": base_url(request)})
        if action == "users" and request.method == "POST":
            first, last = str(body.get("first_name", "Sync")), str(body.get("last_name", "User"))
            username = str(body.get("username", f"{first}.{last}@crmsync.example".lower()))
            user_id = org.ids.next("005")
            org.insert_raw("User", user_id, org.user_fields(first, last, username))
            token = vendor.auth.tokens.issue(user_id, vendor.config.session_timeout_s)
            return json_response({"id": user_id, "access_token": token})
    except SfError as exc:
        return json_response({"error": exc.code, "message": exc.message}, 400)
    return json_response({"error": f"unknown action {request.method} {action}"}, 404)
