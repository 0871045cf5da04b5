"""Composite API: up to 25 subrequests in one call, with `@{ref.field}` references to earlier results."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.salesforce.api import DATA, Ctx, read_body, routes
from crmsync.emulators.salesforce.errors import SfError, json_parser_error

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

MAX_SUBREQUESTS = 25
_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([A-Za-z0-9_.\[\]]+)\}")


def _lookup(results: dict[str, Any], ref: str, path: str) -> str:
    if ref not in results:
        raise SfError(
            400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {ref}.{path} found in {ref}"
        )
    value: Any = results[ref]
    for part in re.split(r"\.|\[(\d+)\]", path):
        if not part:
            continue
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            value = None
    if value is None:
        raise SfError(
            400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {ref}.{path} found in {ref}"
        )
    return str(value)


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _REF.sub(lambda m: _lookup(results, m.group(1), m.group(2)), value)
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


def composite_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    async def composite(ctx: Ctx) -> Response:
        body = await read_body(ctx.request)
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise json_parser_error("compositeRequest must be an array")
        subrequests: list[Any] = body["compositeRequest"]
        if len(subrequests) > MAX_SUBREQUESTS:
            raise SfError(400, "INVALID_INPUT", f"Limit of {MAX_SUBREQUESTS} subrequests exceeded")
        all_or_none = body.get("allOrNone", False)
        # The whole request is deserialised before any subrequest runs: a malformed one fails the call.
        if not isinstance(all_or_none, bool) or not all(_well_formed(sub) for sub in subrequests):
            raise json_parser_error(
                "Each subrequest needs a method, url and referenceId string, and allOrNone is a boolean"
            )
        app = ctx.request.app
        results: dict[str, Any] = {}
        responses: list[dict[str, Any]] = []
        halted = False
        for sub in subrequests:
            ref = sub["referenceId"]
            if halted:
                responses.append(_halted(ref))
                continue
            try:
                url = _substitute(sub["url"], results)
                payload = _substitute(sub.get("body"), results)
                status, headers, data = await _dispatch(app, ctx, sub["method"].upper(), url, payload)
            except SfError as exc:
                status, headers, data = exc.status, {}, exc.body()
            responses.append({"body": data, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref})
            if status < 300:
                results[ref] = data
            elif all_or_none:
                halted = True
        if all_or_none and halted:
            responses = [r if r["httpStatusCode"] >= 300 else _halted(r["referenceId"]) for r in responses]
        note(ctx.request, records=len(subrequests))
        return json_response({"compositeResponse": responses})

    return routes(vendor, [(f"{DATA}/composite", "composite", ["POST"], composite)])


def _well_formed(sub: Any) -> bool:
    return isinstance(sub, dict) and all(isinstance(sub.get(key), str) for key in ("method", "url", "referenceId"))


def _halted(ref: Any) -> dict[str, Any]:
    return {
        "body": [
            {
                "errorCode": "PROCESSING_HALTED",
                "message": "The transaction was rolled back since another operation in the same transaction failed.",
            }
        ],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


async def _dispatch(app: Any, ctx: Ctx, method: str, url: str, payload: Any) -> tuple[int, dict[str, str], Any]:
    """Run one subrequest through the app in-process (it counts as part of this one API call)."""
    if not url.startswith("/services/data/"):
        raise SfError(400, "INVALID_INPUT", f"Invalid subrequest url: {url}")
    path, _, query = url.partition("?")
    body = b"" if payload is None else orjson.dumps(payload)
    headers = [
        (b"authorization", ctx.request.headers.get("authorization", "").encode()),
        (b"content-type", b"application/json"),
    ]
    host = ctx.request.headers.get("host")
    if host:
        headers.append((b"host", host.encode()))
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": ctx.request.url.scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "app": app,
    }
    sent = False
    status = 500
    chunks: list[bytes] = []
    out_headers: dict[str, str] = {}

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for key, value in message.get("headers", []):
                if key.lower() == b"location":
                    out_headers["Location"] = value.decode()
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app.router(scope, receive, send)
    except HTTPException as exc:
        # No route (or method) for the subrequest: its own error, not the whole call's.
        await ctx.vendor.error_response(exc.status_code, str(exc.detail))(scope, receive, send)
    raw = b"".join(chunks)
    data = orjson.loads(raw) if raw.strip() else None
    if status == 201 and isinstance(data, dict) and "id" in data and "Location" not in out_headers:
        obj = path.rstrip("/").rsplit("/", 1)[-1]
        version = path.split("/")[3]
        out_headers["Location"] = f"/services/data/{version}/sobjects/{obj}/{data['id']}"
    return status, out_headers, data
