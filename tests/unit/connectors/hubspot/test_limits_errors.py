"""The error table, rate-limit signals, tier-sized limiters, 429 policies, daily quota and its reserve."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.connectors.hubspot.errors import HubSpotRequestError, classify, error_for_exception, write_error
from crmsync.connectors.hubspot.limits import signals
from crmsync.emulators.hubspot import HubSpotEmulator
from crmsync.errors import (
    AuthError,
    ConfigError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)
from tests.unit.connectors.hubspot.conftest import MakeConnector, Sleeps, api, control
from tests.unit.connectors.hubspot.helpers import drain


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.Response(status, content=content, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "wait"),
    [
        (429, {"policyName": "TEN_SECONDLY_ROLLING", "category": "RATE_LIMITS"}, {}, RateLimitedError, 10.0),
        (429, {"policyName": "SECONDLY"}, {}, RateLimitedError, 1.0),
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "3"}, RateLimitedError, 3.0),
        (429, {"policyName": "DAILY"}, {}, QuotaExhaustedError, None),
        (502, b"<html>Bad Gateway</html>", {}, TransientError, None),
        (504, {"status": "error", "message": "timeout"}, {}, TransientError, None),
        (401, {"category": "INVALID_AUTHENTICATION", "message": "no"}, {}, AuthError, None),
        (403, {"category": "MISSING_SCOPES", "message": "scopes"}, {}, AuthError, None),
        (
            400,
            {"category": "VALIDATION_ERROR", "message": "Unable to infer object type from: x"},
            {},
            ConfigError,
            None,
        ),
        (400, {"category": "VALIDATION_ERROR", "message": "bad"}, {}, HubSpotRequestError, None),
        (400, b"<html>oops</html>", {}, VendorResponseError, None),
    ],
)
def test_error_table(
    status: int, body: Any, headers: dict[str, str], expected: type[Exception], wait: float | None
) -> None:
    error = classify(response(status, body, headers), "hs-test: hubspot contacts list")
    assert type(error) is expected
    assert str(error).startswith("hs-test: hubspot contacts list")
    if wait is not None:
        assert isinstance(error, RateLimitedError) and error.retry_after == wait


def test_batch_item_errors_are_classified() -> None:
    conflict = write_error({"category": "CONFLICT", "message": "Contact already exists. Existing ID: 551"})
    assert (conflict.classification, conflict.existing_id) == ("duplicate", "551")
    missing = write_error({"category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": ["1"]}})
    assert missing.classification == "not_found" and not missing.retryable
    limited = write_error({"category": "RATE_LIMITS", "message": "slow down"})
    assert limited.retryable
    embedded = (
        'Property values were not valid: [{"isValid":false,"message":"x is not midnight!","error":"INVALID_DATE",'
        '"name":"birthday"},{"isValid":false,"message":"bad","error":"INVALID_LONG","name":"employees"}]'
    )
    invalid = write_error({"category": "VALIDATION_ERROR", "message": embedded})
    assert invalid.fields == ("birthday", "employees") and invalid.code == "VALIDATION_ERROR"


def test_item_errors_are_the_records_but_a_rate_limit() -> None:
    locked = write_error({"category": "LOCKED", "message": "busy", "context": {"ids": ["1"]}})
    assert locked.retryable and locked.scope == "record"  # retryable, but the record's: it spends an attempt
    invalid = write_error({"category": "VALIDATION_ERROR", "message": "bad"})
    assert invalid.scope == "record"
    limited = write_error({"category": "RATE_LIMITS", "message": "slow down"})
    assert limited.retryable and limited.scope == "call"  # the portal's limit, whatever the record
    assert error_for_exception(TransientError("hs: 503")).scope == "call"
    assert error_for_exception(AuthError("hs: refused")).scope == "call"
    refused = HubSpotRequestError("hs: 400", status=400, body={"category": "VALIDATION_ERROR", "message": "bad"})
    assert error_for_exception(refused).scope == "record"  # a request refused for its one input


async def test_signals_come_from_hubspot_headers(client: httpx.AsyncClient) -> None:
    found = signals(await api(client, "GET", "/crm/v3/properties/contacts"))
    assert found.window_remaining is not None and found.window_s == 10.0
    assert found.daily_limit == 1_000_000 and found.daily_used == 1
    search = await api(client, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
    assert signals(search).window_remaining is None  # search answers carry no limit headers


def test_limiters_are_sized_by_tier(make: MakeConnector) -> None:
    connector = make(ten_second_limit=None, tier="starter", reserve_share=0.2, search_per_second=5)
    assert [(r.limit, r.period_s) for r in connector.limiter.rates] == [(100, 10.0)]
    assert connector.limiter.daily_limit == 250_000 and connector.limiter.reserve_share == 0.2
    assert [(r.limit, r.period_s) for r in connector.search_limiter.rates] == [(5, 1.0)]


async def test_a_429_storm_waits_as_hubspot_asks(
    client: httpx.AsyncClient, connector: HubSpotConnector, sleeps: Sleeps
) -> None:
    await control(client, "PUT", "faults", {"rules": [{"kind": "rate_limit", "path": "properties", "times": 3}]})
    await connector.describe("companies")
    assert sleeps.waits == [10.0, 10.0, 10.0]


async def test_the_search_secondly_limit_waits_one_second(
    client: httpx.AsyncClient, vendor: HubSpotEmulator, make: MakeConnector
) -> None:
    class MovesEmulatorTime(Sleeps):
        async def __call__(self, seconds: float) -> None:
            self.waits.append(seconds)
            await control(client, "POST", "clock", {"advance_ms": int(seconds * 1000)})

    vendor.limits.configure(1_000_000, 1_000_000, 1)
    await control(client, "POST", "clock", {"freeze": True})
    sleeps = MovesEmulatorTime()
    connector = HubSpotConnector(make().settings, connection="hs-test", client=client, sleep=sleeps)
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=["email"])
    await drain(connector, "contacts", cursor, fields=["email"])  # a second search within the same second
    assert sleeps.waits == [1.0]


async def test_daily_quota_and_its_reserve(
    client: httpx.AsyncClient, vendor: HubSpotEmulator, make: MakeConnector
) -> None:
    vendor.limits.configure(1_000_000, 10, 100)
    connector = make(reserve_share=0.5)
    for _ in range(5):
        await connector.describe("notes")
    with pytest.raises(QuotaExhaustedError, match="reserved"):
        await connector.describe("notes")  # 5 of 10 used: the other half is left for other integrations
    greedy = make(reserve_share=0.0)
    for _ in range(5):
        await greedy.describe("notes")
    with pytest.raises(QuotaExhaustedError, match="10 of 10"):
        await greedy.describe("notes")  # the headers said the quota is gone: not even sent
    with pytest.raises(QuotaExhaustedError, match="DAILY"):
        await make().describe("notes")  # a connection that has not seen the headers yet hears HubSpot's 429
