"""Builders of HubSpot's error envelopes, raised as `ApiError` so any handler can stop with them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

from crmsync.emulators.core.http import ApiError, json_response

STATUS_OF_CATEGORY = {
    "VALIDATION_ERROR": 400,
    "INVALID_AUTHENTICATION": 401,
    "EXPIRED_AUTHENTICATION": 401,
    "MISSING_SCOPES": 403,
    "OBJECT_NOT_FOUND": 404,
    "CONFLICT": 409,
    "RATE_LIMITS": 429,
}
CATEGORY_OF_STATUS = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(message: str, category: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id()}
    if category is not None:
        body["category"] = category
    body.update(extra)
    return body


def error_response(status: int, message: str, category: str | None = None, **extra: Any) -> Response:
    if category is None:
        category = CATEGORY_OF_STATUS.get(status)
    return json_response(error_body(message, category, **extra), status)


def api_error(status: int, message: str, category: str | None = None, **extra: Any) -> ApiError:
    return ApiError(error_response(status, message, category, **extra))


def validation(message: str, **extra: Any) -> ApiError:
    return api_error(400, message, "VALIDATION_ERROR", **extra)


def not_found(message: str = "resource not found") -> ApiError:
    return api_error(404, message, "OBJECT_NOT_FOUND")


def invalid_json(reason: str) -> ApiError:
    return validation(f"Invalid input JSON on line 1, column 1: {reason}")


def unknown_object_type(name: str) -> ApiError:
    return validation(f"Unable to infer object type from: {name}")


def property_error(name: str, code: str, message: str) -> dict[str, Any]:
    """One entry of the `Property values were not valid` list (HubSpot's own per-property record)."""
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }


def property_errors_body(problems: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """HubSpot embeds the per-property list as JSON inside `message` and repeats it in `errors[]`."""
    embedded = orjson.dumps(list(problems)).decode()
    errors = [{"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}} for p in problems]
    return error_body(f"Property values were not valid: {embedded}", "VALIDATION_ERROR", errors=errors)


def property_errors(problems: Sequence[dict[str, Any]]) -> ApiError:
    return ApiError(json_response(property_errors_body(problems), 400))


def conflict(existing_id: str) -> ApiError:
    return api_error(409, f"Contact already exists. Existing ID: {existing_id}", "CONFLICT")
