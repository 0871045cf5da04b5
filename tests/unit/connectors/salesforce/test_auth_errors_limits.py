"""Auth flows, the error table and limit signals of the Salesforce connector against the emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.connectors.salesforce.errors import QueryLocatorExpired, classify, item_error
from crmsync.connectors.salesforce.limits import limit_signals
from crmsync.errors import (
    AuthError,
    ConfigError,
    InvalidRecordError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

from .conftest import BASE, Admin, Sleeps


async def test_jwt_bearer_signs_in_and_uses_instance_url(connector: SalesforceConnector) -> None:
    schema = await connector.describe("Account")
    assert schema.name == "Account"
    assert connector.auth.instance_url == BASE


async def test_client_credentials_flow(client: httpx.AsyncClient, credentials: dict[str, Any]) -> None:
    settings = SalesforceSettings(
        auth_flow="client_credentials",
        login_url=BASE,
        client_id=credentials["client_id"],
        client_secret=SecretStr(credentials["client_secret"]),
    )
    connector = SalesforceConnector(settings, connection="sf-cc", client=client)
    assert (await connector.describe("Contact")).name == "Contact"


async def test_refused_credentials_name_the_connection_and_hide_the_secret(
    client: httpx.AsyncClient, credentials: dict[str, Any]
) -> None:
    settings = SalesforceSettings(
        auth_flow="client_credentials",
        login_url=BASE,
        client_id=credentials["client_id"],
        client_secret=SecretStr("wrong-secret-value"),
    )
    connector = SalesforceConnector(settings, connection="sf-bad", client=client)
    with pytest.raises(AuthError) as info:
        await connector.describe("Contact")
    assert "sf-bad" in str(info.value)
    assert "wrong-secret-value" not in str(info.value)
    assert "wrong-secret-value" not in repr(settings)


async def test_an_unreachable_token_endpoint_says_why_and_hides_the_secret(
    credentials: dict[str, Any], sleeps: Sleeps
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    settings = SalesforceSettings(
        auth_flow="client_credentials",
        login_url=BASE,
        client_id=credentials["client_id"],
        client_secret=SecretStr("a-secret-value"),
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as refusing:
        connector = SalesforceConnector(settings, connection="sf-down", client=refusing, sleep=sleeps)
        with pytest.raises(TransientError) as info:
            await connector.describe("Contact")
    message = str(info.value)
    assert "sf-down: salesforce token request (client_credentials): network error: ConnectError" in message
    assert "All connection attempts failed" in message and "a-secret-value" not in message


async def test_expired_session_is_refreshed_once(connector: SalesforceConnector, admin: Admin) -> None:
    await connector.describe("Account")
    await admin.control("expire-tokens")
    await connector.describe("Contact")
    assert connector.auth.provider.fetches == 2  # type: ignore[union-attr]


async def test_second_401_is_a_fatal_auth_error(client: httpx.AsyncClient) -> None:
    settings = SalesforceSettings(auth_flow="session", session_id=SecretStr("00Dnot-a-session"), instance_url=BASE)
    connector = SalesforceConnector(settings, connection="sf-session", client=client)
    with pytest.raises(AuthError, match="sf-session"):
        await connector.describe("Account")


async def test_unknown_object_is_a_config_error(connector: SalesforceConnector) -> None:
    with pytest.raises(ConfigError, match="sf-test"):
        await connector.describe("Nope__c")


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Response(200, json=body).content
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request("GET", BASE))


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", QuotaExhaustedError),
        (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded", RateLimitedError),
        (400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", TransientError),
        (503, "SERVER_UNAVAILABLE", "down", TransientError),
        (500, "UNKNOWN_EXCEPTION", "boom", TransientError),
        (400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", InvalidRecordError),
        (400, "MALFORMED_QUERY", "bad", ConfigError),
        (400, "INVALID_QUERY_LOCATOR", "invalid query locator", QueryLocatorExpired),
    ],
)
def test_error_table(status: int, code: str, message: str, expected: type[Exception]) -> None:
    error = classify(_response(status, [{"message": message, "errorCode": code}]), "sf-test: salesforce Contact x")
    assert type(error) is expected
    assert "sf-test" in str(error)
    assert code in str(error)


def test_html_error_page_is_a_vendor_response_error() -> None:
    error = classify(_response(502, b"<html>Bad gateway</html>", {"content-type": "text/html"}), "sf-test: x")
    assert isinstance(error, TransientError)
    error = classify(_response(400, b"<html>nope</html>", {"content-type": "text/html"}), "sf-test: x")
    assert isinstance(error, VendorResponseError)
    assert not error.retryable


@pytest.mark.parametrize(
    ("code", "classification"),
    [
        ("UNABLE_TO_LOCK_ROW", "retryable"),
        ("DUPLICATE_VALUE", "duplicate"),
        ("ENTITY_IS_DELETED", "not_found"),
        ("INVALID_EMAIL_ADDRESS", "invalid"),
        ("INSUFFICIENT_ACCESS_OR_READONLY", "auth"),
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "retryable"),
    ],
)
def test_item_error_classes(code: str, classification: str) -> None:
    error = item_error([{"statusCode": code, "message": "m", "fields": ["Email"]}])
    assert error.classification == classification
    assert error.fields == ("Email",)


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        ("UNABLE_TO_LOCK_ROW", "record"),  # retryable, but the record's: its write spends an attempt
        ("UNKNOWN_EXCEPTION", "record"),
        ("DUPLICATE_VALUE", "record"),
        ("REQUEST_LIMIT_EXCEEDED", "call"),  # the org's API limit, whatever the record
    ],
)
def test_item_errors_are_scoped_to_the_record_but_the_org_limit(code: str, scope: str) -> None:
    assert item_error([{"statusCode": code, "message": "m", "fields": []}]).scope == scope
    assert item_error([{"nothing": "useful"}]).scope == "record"  # an unreadable item is still that item's


def test_duplicate_names_the_existing_record() -> None:
    message = "duplicate value found: Crmsync_Id__c duplicates value on record with id: 001dM0000000001QAA"
    error = item_error([{"statusCode": "DUPLICATE_VALUE", "message": message, "fields": []}])
    assert error.existing_id == "001dM0000000001QAA"


def test_limit_info_header() -> None:
    signal = limit_signals(_response(200, [], {"Sforce-Limit-Info": "api-usage=73/15000"}))
    assert (signal.daily_used, signal.daily_limit) == (73, 15000)
    assert limit_signals(_response(200, [])).daily_used is None


def test_edition_sizing() -> None:
    common: dict[str, Any] = {"auth_flow": "session", "session_id": SecretStr("x"), "instance_url": BASE}
    assert SalesforceSettings(**common, edition="developer").resolved_daily_limit == 15_000
    assert SalesforceSettings(**common, edition="enterprise", licences=20).resolved_daily_limit == 120_000
    assert SalesforceSettings(**common, edition="unlimited", licences=10).resolved_daily_limit == 150_000
    assert SalesforceSettings(**common, daily_api_limit=5).resolved_daily_limit == 5
    assert SalesforceSettings(**common, edition="developer").resolved_concurrency == 5


async def test_reserve_share_stops_before_the_vendor_does(connector: SalesforceConnector, admin: Admin) -> None:
    await admin.control("limits", {"daily_api_limit": 1000, "used": 895})
    await connector.describe("Account")  # learns usage 896/1000 from Sforce-Limit-Info

    async def describe_everything() -> None:
        for obj in ("Contact", "Task", "Event", "User", "OpportunityContactRole", "Opportunity"):
            await connector.describe(obj)

    with pytest.raises(QuotaExhaustedError, match="sf-test"):
        await describe_everything()
    assert (await admin.control("limits", method="GET"))["used"] == 900  # 10% of 1,000 left to others


async def test_vendor_quota_exhausted_is_fatal_not_retried(
    connector: SalesforceConnector, admin: Admin, sleeps: Sleeps
) -> None:
    await connector.describe("Account")
    await admin.control("limits", {"daily_api_limit": 10, "used": 10})
    connector.limiter.daily_limit = None  # bypass the client-side reserve to see the vendor's answer
    with pytest.raises(QuotaExhaustedError, match="REQUEST_LIMIT_EXCEEDED"):
        await connector.describe("Contact")
    assert sleeps.calls == []


async def test_server_errors_are_retried_with_injected_sleep(
    connector: SalesforceConnector, admin: Admin, sleeps: Sleeps
) -> None:
    await admin.control("faults", {"rules": [{"kind": "status", "status": 503, "path": "describe", "times": 2}]}, "PUT")
    assert (await connector.describe("Account")).name == "Account"
    assert len(sleeps.calls) == 2
