"""Salesforce error envelopes: the JSON array of single-resource calls and the per-item `statusCode` form."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from crmsync.emulators.core.http import ApiError, json_response


class SfError(Exception):
    """A Salesforce error before it is rendered (single call → errorCode array, collection item → statusCode)."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def item(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.body(), self.status, headers=headers)

    def api_error(self) -> ApiError:
        return ApiError(self.response())


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response([{"message": message, "errorCode": code}], status, headers=headers)


def not_found() -> SfError:
    return SfError(404, "NOT_FOUND", "The requested resource does not exist")


def json_parser_error(message: str) -> SfError:
    return SfError(400, "JSON_PARSER_ERROR", message)


def invalid_session() -> ApiError:
    return ApiError(error_response(401, "INVALID_SESSION_ID", "Session expired or invalid"))


def malformed_id(label: str, value: object, field: str) -> SfError:
    return SfError(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [field])


def entity_deleted() -> SfError:
    return SfError(400, "ENTITY_IS_DELETED", "entity is deleted", [])


STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
    504: "SERVER_UNAVAILABLE",
}
