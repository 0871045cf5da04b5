"""The Dataverse error table, per-part classification, and responses that are not what the vendor documents."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest

from crmsync.connectors.auth import StaticToken
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.dynamics.errors import DeltaTokenExpiredError, classify, write_error
from crmsync.emulators.dynamics import DynamicsConfig
from crmsync.errors import (
    AuthError,
    ConfigError,
    FatalError,
    InvalidRecordError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

from .conftest import ORG_URL, Sleeps, settings_for


def _response(status: int, code: str, message: str, method: str = "GET", **headers: str) -> httpx.Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    request = httpx.Request(method, f"{ORG_URL}/api/data/v9.2/contacts")
    return httpx.Response(status, content=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (_response(429, "0x80072322", "Number of requests exceeded", **{"Retry-After": "7"}), RateLimitedError),
        (_response(429, "0x80072326", "Number of concurrent requests exceeded"), RateLimitedError),
        (_response(503, "0x80040216", "An unexpected error occurred"), TransientError),
        (_response(502, "", "Bad gateway"), TransientError),
        (_response(401, "", "ExpiredAuthTicket"), AuthError),
        (_response(403, "0x80040220", "PrivilegeDenied"), FatalError),
        (_response(404, "0x80060888", "Resource not found for the segment 'leads'."), ConfigError),
        (_response(400, "0x0", "Could not find a property named 'x'"), ConfigError),
        (_response(400, "0x80044331", "A validation error occurred.", method="PATCH"), InvalidRecordError),
        (_response(400, "0x80044352", "Version stamp associated with the client has expired."), DeltaTokenExpiredError),
    ],
)
def test_classify_follows_the_table(response: httpx.Response, kind: type[Exception]) -> None:
    error = classify(response, "dv: contacts")
    assert type(error) is kind
    assert str(error).startswith("dv: contacts")


def test_retry_after_is_kept() -> None:
    error = classify(_response(429, "0x80072322", "slow down", **{"Retry-After": "12"}), "dv")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("status", "code", "message", "classification", "fields"),
    [
        (412, "0x80040237", "A record with matching key values already exists.", "duplicate", ()),
        (412, "0x80060882", "The version of the existing record doesn't match", "conflict", ()),
        (404, "0x80040217", "contact With Id = 1 Does Not Exist", "not_found", ()),
        (
            400,
            "0x80044331",
            "A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded",
            "invalid",
            ("subject",),
        ),
        (
            400,
            "0x80048d19",
            "The property 'bogus' does not exist on type 'Microsoft.Dynamics.CRM.contact'",
            "invalid",
            ("bogus",),
        ),
        (400, "0x80040203", "'lastname' is required and cannot be null", "invalid", ("lastname",)),
        (503, "0x80040216", "An unexpected error occurred. Please retry the request.", "retryable", ()),
        (429, "0x80072322", "Number of requests exceeded", "retryable", ()),
    ],
)
def test_write_errors_are_classified_per_item(
    status: int, code: str, message: str, classification: str, fields: tuple[str, ...]
) -> None:
    error = write_error(status, orjson.dumps({"error": {"code": code, "message": message}}))
    assert error.classification == classification
    assert error.code == code
    assert error.fields == fields


@pytest.mark.parametrize(
    ("status", "code", "scope"),
    [
        (503, "0x80040216", "record"),  # a transient failure of this operation: retryable, and it spends an attempt
        (500, "0x80044150", "record"),
        (400, "0x80044331", "record"),
        (429, "0x80072322", "call"),  # service protection refuses the caller, whatever the record
        (503, "0x80072326", "call"),
    ],
)
def test_a_parts_error_is_the_records_but_service_protection(status: int, code: str, scope: str) -> None:
    assert write_error(status, orjson.dumps({"error": {"code": code, "message": "m"}})).scope == scope


def test_write_error_without_the_envelope() -> None:
    error = write_error(500, b"<html>Server Error</html>")
    assert error.classification == "retryable"
    assert "Server Error" in error.message


def _mock_connector(config: DynamicsConfig, handler: Callable[[httpx.Request], httpx.Response]) -> DynamicsConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return DynamicsConnector(
        settings_for(config), connection="dv-mock", client=client, sleep=Sleeps(), token=StaticToken("t")
    )


async def test_html_pages_are_classified_errors_naming_connection_and_object(config: DynamicsConfig) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"<html><body>Proxy login</body></html>", headers={"content-type": "text/html"}
        )

    connector = _mock_connector(config, handler)
    with pytest.raises(VendorResponseError, match=r"dv-mock.*contact"):
        async for _ in connector.changes("contact", None):
            pass


async def test_rows_of_the_wrong_shape_fail_the_page_not_the_process(config: DynamicsConfig) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        rows = [{"contactid": "0d15ea5e-0000-4000-8000-000000000001", "modifiedon": 17}]
        return httpx.Response(200, json={"value": rows, "@odata.deltaLink": f"{ORG_URL}/d"})

    connector = _mock_connector(config, handler)
    with pytest.raises(VendorResponseError, match=r"dv-mock.*contact 0d15ea5e-0000-4000-8000-000000000001.*modifiedon"):
        await connector.fetch("contact", ["0d15ea5e-0000-4000-8000-000000000001"])


async def test_a_truncated_batch_response_fails_its_items_retryably(config: DynamicsConfig) -> None:
    from crmsync.connectors.base import WriteOp

    def handler(request: httpx.Request) -> httpx.Response:
        body = b"--batchresponse_1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n"
        return httpx.Response(200, content=body, headers={"content-type": "multipart/mixed; boundary=batchresponse_1"})

    connector = _mock_connector(config, handler)
    results = await connector.apply(
        "contact", [WriteOp("update", "r1", id="0d15ea5e-0000-4000-8000-000000000001", fields={"firstname": "A"})]
    )
    assert len(results) == 1
    assert not results[0].ok
    assert results[0].error is not None
    assert results[0].error.classification == "retryable"
    assert results[0].error.scope == "call"  # an unreadable answer is the call's, not the record's
    assert "truncated" in results[0].error.message
