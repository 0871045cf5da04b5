"""Builders of Dataverse's `{"error": {"code", "message"}}` envelopes, raised as `ApiError`."""

from __future__ import annotations

from typing import NoReturn

from starlette.responses import Response

from crmsync.emulators.core.http import ApiError
from crmsync.emulators.dynamics.responses import JSON_MINIMAL as JSON_MINIMAL
from crmsync.emulators.dynamics.responses import ODATA_HEADERS as ODATA_HEADERS
from crmsync.emulators.dynamics.responses import odata_json

NOT_FOUND = "0x80040217"
DUPLICATE_KEY = "0x80040237"
VALIDATION = "0x80044331"
VERSION_MISMATCH = "0x80060882"
PAYLOAD = "0x80048d19"
ODATA = "0x80060888"
QUERY = "0x0"
REQUIRED = "0x80040203"
THROTTLE_REQUESTS = "0x80072322"
THROTTLE_CONCURRENCY = "0x80072326"
UNAVAILABLE = "0x80040216"
EXPIRED_VERSION_STAMP = "0x80044352"
INVALID_STATE = "0x80040203"


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return odata_json({"error": {"code": code, "message": message}}, status, headers)


def fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    raise ApiError(error_response(status, code, message, headers))


def not_found(logical: str, record_id: str) -> NoReturn:
    fail(404, NOT_FOUND, f"{logical} With Id = {record_id} Does Not Exist")


def key_not_found(logical: str) -> NoReturn:
    fail(404, NOT_FOUND, f"A record with the specified key values does not exist in {logical} entity")


def query_error(message: str) -> NoReturn:
    fail(400, QUERY, message)


def no_property(logical: str, name: str) -> NoReturn:
    query_error(f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical}'.")


def payload_error(entity_set: str, inner: str) -> NoReturn:
    """Body deserialisation failures (unknown property, wrong JSON type) carry the OData reader's message."""
    fail(
        400,
        PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on "
        f"this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def bad_request(message: str, code: str = ODATA) -> NoReturn:
    fail(400, code, message)


def validation(message: str) -> NoReturn:
    fail(400, VALIDATION, f"A validation error occurred.  {message}")


def duplicate_key(message: str = "A record with matching key values already exists.") -> NoReturn:
    fail(412, DUPLICATE_KEY, message)


def version_mismatch() -> NoReturn:
    fail(
        412,
        VERSION_MISMATCH,
        "The version of the existing record doesn't match the RowVersion property provided.",
    )
