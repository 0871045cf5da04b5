"""Salesforce's error table: `[{message, errorCode, fields}]` responses and `statusCode` items, classified."""

from __future__ import annotations

import re
from dataclasses import replace
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
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

# Codes whose request can succeed unchanged later (vendor locks, outages).
RETRYABLE_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}
)
DUPLICATE_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATES_DETECTED", "DUPLICATE_EXTERNAL_ID"})
NOT_FOUND_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})
ACCESS_CODES = frozenset(
    {
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "INSUFFICIENT_ACCESS",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
        "FUNCTIONALITY_NOT_ENABLED",
    }
)
# The request itself names something the org does not have: a configuration problem, not a record problem.
CONFIG_CODES = frozenset(
    {"INVALID_TYPE", "INVALID_FIELD", "MALFORMED_QUERY", "NOT_FOUND", "INVALID_QUERY_FILTER_OPERATOR"}
)
# Rolled back only because another item failed (allOrNone); the item itself is fine.
ROLLED_BACK_CODES = frozenset({"ALL_OR_NONE_OPERATION_ROLLED_BACK", "PROCESSING_HALTED"})


class QueryLocatorExpired(VendorResponseError):
    """A `nextRecordsUrl` whose locator expired: the read restarts from its last cursor instead of retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


_DUPLICATE_ID = re.compile(r"\bid:\s*([a-zA-Z0-9]{15,18})\b")


def first_error(body: Any) -> tuple[str, str, tuple[str, ...]]:
    """(errorCode, message, fields) of the envelope's first entry; ("", "", ()) when the body is not the envelope."""
    entry = body[0] if isinstance(body, list) and body else body
    if not isinstance(entry, dict):
        return "", "", ()
    code = entry.get("errorCode", entry.get("statusCode", ""))
    message = entry.get("message", "")
    fields = entry.get("fields") or ()
    return (
        str(code) if isinstance(code, str) else "",
        str(message)[:500],
        tuple(str(f) for f in fields) if isinstance(fields, list) else (),
    )


def classify(response: httpx.Response, context: str) -> CrmSyncError:
    """One failed Salesforce response to the crmsync exception that says what to do next."""
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    code, message, _ = first_error(body)
    if not code:
        kind = response.headers.get("content-type", "unknown content type")
        text = response.text.strip().replace("\n", " ")[:200]
        if status >= 500 or status in (408, 429):
            return TransientError(f"{context}: HTTP {status} ({kind}): {text}")
        return VendorResponseError(
            f"{context}: HTTP {status} without Salesforce's error envelope ({kind}): {text}", retryable=False
        )
    detail = f"{context}: HTTP {status} {code}: {message}"
    if code == "REQUEST_LIMIT_EXCEEDED":
        # The daily allocation is spent until the rolling window moves; concurrent-request limits pass soon.
        if "concurrent" in message.lower() or "longtxn" in message.lower():
            return RateLimitedError(detail, retry_after=5.0)
        return QuotaExhaustedError(detail)
    if code == "INVALID_QUERY_LOCATOR":
        return QueryLocatorExpired(detail)
    if code == "INVALID_SESSION_ID" or status == 401:
        return AuthError(detail)
    if code in RETRYABLE_CODES or status >= 500:
        return TransientError(detail)
    if code in ACCESS_CODES:
        return FatalError(detail)
    if code in CONFIG_CODES or status == 404:
        return ConfigError(detail)
    return InvalidRecordError(detail)


def item_error(errors: Any) -> WriteError:
    """A collection item's `errors` array to a classified WriteError."""
    code, message, fields = first_error(errors)
    if not code:
        message = "the item reported failure without a Salesforce error"
        return WriteError("retryable", "MALFORMED_RESULT", message, scope="record")
    owner = duplicate_owner(code, message)
    return WriteError(item_class(code), code, message, fields, existing_id=owner, scope=item_scope(code))


def delete_item_error(errors: Any) -> WriteError:
    """A delete item's error: an id no record holds (hard-deleted, or purged from the Recycle Bin) fails with
    INVALID_CROSS_REFERENCE_KEY, one still in the bin with ENTITY_IS_DELETED; both mean the record is gone."""
    error = item_error(errors)
    if error.code == "INVALID_CROSS_REFERENCE_KEY":
        return replace(error, classification="not_found")
    return error


def item_class(code: str) -> ErrorClass:
    if code in RETRYABLE_CODES or code in ROLLED_BACK_CODES or code == "REQUEST_LIMIT_EXCEEDED":
        return "retryable"
    if code in DUPLICATE_CODES:
        return "duplicate"
    if code in NOT_FOUND_CODES:
        return "not_found"
    if code in ACCESS_CODES:
        return "auth"
    return "invalid"


def item_scope(code: str) -> ErrorScope:
    """An item's error is its record's (a row lock, a validation rule), except the org's API limit reported per item:
    that one refuses whatever the record, as the whole call's 403 would."""
    return "call" if code == "REQUEST_LIMIT_EXCEEDED" else "record"


def duplicate_owner(code: str, message: str) -> str | None:
    """`duplicate value found: X duplicates value on record with id: 001…` names the record holding the key."""
    if code not in DUPLICATE_CODES:
        return None
    match = _DUPLICATE_ID.search(message)
    return match.group(1) if match else None
