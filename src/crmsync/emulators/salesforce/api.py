"""Shared plumbing of the REST handlers: version and session checks, body parsing, route registration."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import ApiError, note
from crmsync.emulators.salesforce.errors import SfError, json_parser_error, not_found

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.org import Org
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

# ASCII digits only, and the whole segment: "v60.0\n" or "v٦٠.٠" is no version.
_VERSION = re.compile(r"v([0-9]{2})\.([0-9])")
DATA = "/services/data/{version}"


@dataclass(slots=True)
class Ctx:
    """What a handler needs: the request, the acting user and the API version it called."""

    request: Request
    vendor: SalesforceVendor
    user: str
    version: str

    @property
    def org(self) -> Org:
        return self.vendor.org

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Ctx], Awaitable[Response]]


def check_version(vendor: SalesforceVendor, version: str) -> None:
    match = _VERSION.fullmatch(version)
    cfg = vendor.config
    if match is None or not cfg.min_api_version <= float(version[1:]) <= cfg.max_api_version:
        raise not_found()


def wrap(
    vendor: SalesforceVendor, op: str, handler: Handler, *, versioned: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        note(request, op=op)
        try:
            version = str(request.path_params.get("version", ""))
            if versioned:
                check_version(vendor, version)
            user = vendor.auth.session_user(request)
            response = await handler(Ctx(request, vendor, user, version))
            vendor.outbound.flush()
            return response
        except SfError as exc:
            return exc.response()
        except ApiError as exc:
            return exc.response

    return endpoint


def routes(vendor: SalesforceVendor, table: Sequence[tuple[str, str, list[str], Handler]]) -> list[BaseRoute]:
    """Each path also answers with a trailing slash, as Salesforce does (simple-salesforce sends both)."""
    out: list[BaseRoute] = []
    for path, op, methods, handler in table:
        endpoint = wrap(vendor, op, handler)
        out.append(Route(path, endpoint, methods=methods))
        out.append(Route(path + "/", endpoint, methods=methods))
    return out


async def read_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise json_parser_error("No content to map due to end-of-input at [line:1, column:0]")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise json_parser_error(
            f"Unexpected character at [line:{getattr(exc, 'lineno', 1)}, column:{getattr(exc, 'colno', 1)}]"
        ) from None
