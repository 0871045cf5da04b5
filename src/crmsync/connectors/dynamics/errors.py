"""Dataverse's error table: `{error: {code, message}}` by status and hex code → crmsync exceptions / WriteErrors."""

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
    FatalError,
    InvalidRecordError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

DUPLICATE_KEY = "0x80040237"
NOT_FOUND = "0x80040217"
VALIDATION = "0x80044331"
VERSION_MISMATCH = "0x80060882"
EXPIRED_VERSION_STAMP = "0x80044352"
THROTTLING = frozenset({"0x80072322", "0x80072321", "0x80072326"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Attribute names quoted in Dataverse validation and payload messages.
_ATTRIBUTE_PATTERNS = (
    re.compile(r"The length of the '([A-Za-z0-9_]+)' attribute"),
    re.compile(r"of '([A-Za-z0-9_]+)' on record of type"),
    re.compile(r"The property '([A-Za-z0-9_@.]+)' does not exist"),
    re.compile(r"'([A-Za-z0-9_]+)' is required"),
    re.compile(r"undeclared property '([A-Za-z0-9_]+)'"),
)


class DeltaTokenExpiredError(ConfigError):
    """The change-tracking token is older than the org keeps versions: fall back to polling (never raised out)."""


def error_body(content: bytes) -> tuple[str, str]:
    """(code, message) of a Dataverse error body; ("", text) when it is not the documented envelope."""
    try:
        body: Any = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        text = content.decode("utf-8", "replace").strip().replace("\n", " ")
        return "", text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", str(body)[:300]
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str) else ""), (message if isinstance(message, str) else "")


def retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP-date: let the backoff decide


def attribute_names(message: str) -> tuple[str, ...]:
    for pattern in _ATTRIBUTE_PATTERNS:
        match = pattern.search(message)
        if match is not None:
            return (match.group(1),)
    return ()


def classify(response: httpx.Response, context: str) -> CrmSyncError:
    """A failed top-level response → the exception that says what to do next (the `VendorHttp` classifier)."""
    status = response.status_code
    code, message = error_body(response.content)
    detail = f"HTTP {status}{' ' + code if code else ''}: {message[:300]}"
    wait = retry_after(response.headers)
    if status == 429 or code in THROTTLING:
        return RateLimitedError(f"{context}: Dataverse service protection: {detail}", retry_after=wait)
    if status in RETRYABLE_STATUSES:
        return TransientError(f"{context}: {detail}", retry_after=wait)
    if code == EXPIRED_VERSION_STAMP:
        return DeltaTokenExpiredError(f"{context}: the change-tracking token expired: {detail}")
    if status == 401:
        return AuthError(f"{context}: Dataverse refused the token: {detail}")
    if status == 403:
        return FatalError(f"{context}: the application user lacks a privilege: {detail}")
    if status == 404:
        return ConfigError(f"{context}: not found: {detail}")
    if status in (400, 405, 412, 413):
        method = response.request.method if _has_request(response) else "GET"
        if method == "GET":
            return ConfigError(f"{context}: Dataverse rejected the query: {detail}")
        return InvalidRecordError(f"{context}: {detail}")
    if 200 <= status < 300:
        return VendorResponseError(f"{context}: unexpected response: {detail}")
    return FatalError(f"{context}: {detail}")


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 (raises when the response was built without a request)
    except RuntimeError:
        return False
    return True


def write_error(status: int, content: bytes) -> WriteError:
    """One `$batch` part's failure, classified per item.

    A part's error is its record's (Dataverse answered the `$batch` and reported this operation: a 503 part is
    a transient lock or timeout of that write), except service protection (429, the throttling codes), which
    refuses the caller whatever the record.
    """
    code, message = error_body(content)
    scope: ErrorScope = "call" if status == 429 or code in THROTTLING else "record"
    classification: ErrorClass
    if status in RETRYABLE_STATUSES or code in THROTTLING:
        classification = "retryable"
    elif code == DUPLICATE_KEY:
        classification = "duplicate"
    elif code == VERSION_MISMATCH or (status == 412 and code != DUPLICATE_KEY):
        classification = "conflict"
    elif status == 404 or code == NOT_FOUND:
        classification = "not_found"
    elif status == 401:
        classification = "auth"
    elif status == 403:
        classification = "fatal"
    elif 400 <= status < 500:
        classification = "invalid"
    else:
        classification = "fatal"
    return WriteError(
        classification=classification,
        code=code or f"HTTP {status}",
        message=message or f"HTTP {status}",
        fields=attribute_names(message),
        scope=scope,
    )
