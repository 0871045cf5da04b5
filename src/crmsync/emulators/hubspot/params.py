"""Request parsing shared by the HubSpot routes: JSON bodies, list parameters, object types, cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request

from crmsync.emulators.core.http import read_json
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.schema import ObjectType, object_type


async def json_body(request: Request) -> Any:
    try:
        return await read_json(request)
    except ValueError as exc:
        raise errors.invalid_json(str(exc)) from exc


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.invalid_json("expected a JSON object")
    return body


def object_type_param(name: str) -> ObjectType:
    found = object_type(name)
    if found is None:
        raise errors.unknown_object_type(name)
    return found


def list_param(request: Request, name: str) -> list[str] | None:
    """A list parameter sent repeated (`a=1&a=2`, as the SDK does) or comma-separated (`a=1,2`)."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.validation(f"Invalid input JSON: {what} must be an array of strings")
    return value


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise errors.validation(f"Invalid value for query parameter {name}: {raw} is not a boolean")
    return lowered == "true"


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise errors.validation(f"Invalid value for query parameter {name}: {raw} is not an integer") from exc
    if value < low or value > high:
        raise errors.validation(f"{name} must be between {low} and {high}, got {value}")
    return value


def encode_cursor(position: int) -> str:
    """List cursors look like HubSpot's: a base64 text of an offset (e.g. "NTI1Cg==")."""
    return base64.b64encode(f"{position}\n".encode()).decode()


def decode_cursor(value: str | None) -> int:
    if not value:
        return 0
    try:
        text = base64.b64decode(value.encode(), validate=True).decode().strip()
        return max(int(text), 0)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise errors.validation(f"Invalid value for query parameter after: {value} is not a valid paging cursor")
