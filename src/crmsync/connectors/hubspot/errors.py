"""HubSpot's error table: error envelopes to crmsync exceptions, and 207 batch items to WriteErrors."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from crmsync.connectors.base import ErrorClass, ErrorScope, WriteError
from crmsync.errors import (
    AuthError,
    ConfigError,
    CrmSyncError,
    InvalidRecordError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

# What HubSpot's own SDK waits when a 429 carries no Retry-After: a rolling 10 s window, or 1 s for search.
POLICY_WAIT_S = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")
_PROPERTY_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')
_MISSING_PROPERTY = re.compile(r'Property "([^"]+)" does not exist')
_MAX_MESSAGE = 500

CATEGORY_CLASS: dict[str, ErrorClass] = {
    "VALIDATION_ERROR": "invalid",
    "OBJECT_NOT_FOUND": "not_found",
    "CONFLICT": "duplicate",
    "RATE_LIMITS": "retryable",
    "INTERNAL_ERROR": "retryable",
    "SERVICE_UNAVAILABLE": "retryable",
    "LOCKED": "retryable",
    "TIMEOUT": "retryable",
    "INVALID_AUTHENTICATION": "auth",
    "EXPIRED_AUTHENTICATION": "auth",
    "MISSING_SCOPES": "auth",
}
# Categories that refuse the caller whatever the record, even when reported for one input.
CALL_CATEGORIES = frozenset({"RATE_LIMITS"})


class HubSpotRequestError(InvalidRecordError):
    """A whole request was refused for its input (400/409/404); keeps the envelope for per-item results."""

    def __init__(self, message: str, *, status: int, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The error body as a dict; empty when it is not JSON (HTML proxy pages, truncated bodies)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


def _describe(body: dict[str, Any], response: httpx.Response) -> str:
    message = body.get("message")
    if not isinstance(message, str):
        message = response.text.strip().replace("\n", " ")
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    category = body.get("category") or body.get("policyName") or ""
    correlation = body.get("correlationId")
    suffix = f" (correlationId {correlation})" if isinstance(correlation, str) else ""
    return f"HubSpot {response.status_code} {category}: {message}{suffix}".replace("  ", " ")


def classify(response: httpx.Response, context: str) -> CrmSyncError:
    """The error table: what a failed HubSpot response means for the caller."""
    status = response.status_code
    body = envelope(response)
    text = f"{context}: {_describe(body, response)}"
    if status == 429:
        policy = str(body.get("policyName", ""))
        if policy == "DAILY":
            return QuotaExhaustedError(text)
        wait = _retry_after(response)
        return RateLimitedError(text, retry_after=wait if wait is not None else POLICY_WAIT_S.get(policy, 10.0))
    if status >= 500 or status in (408, 423):
        return TransientError(text, retry_after=_retry_after(response))
    if not body and status not in (401, 403):
        return VendorResponseError(f"{text} (not a HubSpot error envelope)", retryable=False)
    if status in (401, 403):
        return AuthError(text)
    message = str(body.get("message", ""))
    if status == 414 or message.startswith("Unable to infer object type"):
        return ConfigError(text)
    return HubSpotRequestError(text, status=status, body=body)


def _embedded_problems(message: str) -> list[dict[str, Any]]:
    """HubSpot embeds a JSON list of per-property problems in `Property values were not valid: [...]`."""
    start = message.find("[")
    if start < 0:
        return []
    try:
        found = orjson.loads(message[start:])
    except orjson.JSONDecodeError:
        return [{"name": name} for name in _PROPERTY_NAME.findall(message)]
    return [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []


def write_error(body: dict[str, Any]) -> WriteError:
    """One batch item error (a `StandardError`), or the envelope of a request refused for its one input, classified.

    Scoped to the record (HubSpot answered for that input), except a rate limit, which refuses the caller whatever
    the record.
    """
    category = str(body.get("category") or "")
    message = str(body.get("message") or "")
    classification = CATEGORY_CLASS.get(category, "fatal")
    scope: ErrorScope = "call" if category in CALL_CATEGORIES else "record"
    problems = _embedded_problems(message) if classification == "invalid" else []
    fields: list[str] = [str(p["name"]) for p in problems if isinstance(p.get("name"), str)]
    for item in body.get("errors") or []:
        context = item.get("context") if isinstance(item, dict) else None
        names = context.get("propertyName") if isinstance(context, dict) else None
        if isinstance(names, list):
            fields += [str(n) for n in names]
    fields += _MISSING_PROPERTY.findall(message)
    codes = [str(p["error"]) for p in problems if isinstance(p.get("error"), str)]
    existing = _EXISTING_ID.search(message)
    return WriteError(
        classification=classification,
        code=codes[0] if len(set(codes)) == 1 else (category or "UNKNOWN"),
        message=message[:_MAX_MESSAGE],
        fields=tuple(dict.fromkeys(fields)),
        existing_id=existing.group(1) if existing and classification == "duplicate" else None,
        scope=scope,
    )


def error_for_exception(exc: CrmSyncError) -> WriteError:
    """A whole-request failure that ended one item's write (after retries, or a single-item batch).

    A request HubSpot refused for its input (HubSpotRequestError, once bisected down to one input) is that
    record's; every other failure is the call's.
    """
    if isinstance(exc, HubSpotRequestError):
        return write_error(exc.body)
    if isinstance(exc, AuthError):
        return WriteError("auth", "AUTH", str(exc), scope="call")
    if isinstance(exc, VendorResponseError):
        return WriteError("retryable" if exc.retryable else "fatal", "BAD_RESPONSE", str(exc), scope="call")
    if isinstance(exc, RateLimitedError | TransientError):
        return WriteError("retryable", type(exc).__name__, str(exc), scope="call")
    return WriteError("fatal", type(exc).__name__, str(exc), scope="call")
