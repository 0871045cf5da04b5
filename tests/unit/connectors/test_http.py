"""Unit tests of the shared HTTP path: retry policy, Retry-After, 401 refresh, classification, parse_json."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from crmsync.connectors.auth import CachedToken, IssuedToken, StaticToken
from crmsync.connectors.http import (
    PROBE_ATTEMPTS,
    RetryPolicy,
    UnreadableResponseError,
    VendorHttp,
    network_error,
    parse_json,
    probing,
)
from crmsync.connectors.limits import LimitSignal, RateLimiter
from crmsync.errors import (
    AuthError,
    CredentialsRefusedError,
    CrmSyncError,
    InvalidRecordError,
    RateLimitedError,
    TransientError,
    VendorResponseError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def classify(response: httpx.Response, context: str) -> CrmSyncError:
    """A tiny vendor error table: 429/5xx retryable (with Retry-After), 418 a non-retryable bad body."""
    retry_after = float(response.headers["Retry-After"]) if "Retry-After" in response.headers else None
    if response.status_code == 429:
        return RateLimitedError(f"{context}: throttled", retry_after=retry_after)
    if response.status_code >= 500:
        return TransientError(f"{context}: HTTP {response.status_code}", retry_after=retry_after)
    if response.status_code == 418:
        return VendorResponseError(f"{context}: nonsense", retryable=False)
    return InvalidRecordError(f"{context}: HTTP {response.status_code}")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_http(
    handler: Handler,
    *,
    auth: StaticToken | CachedToken | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[VendorHttp, Sleeps, httpx.AsyncClient]:
    sleeps = Sleeps()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    http = VendorHttp(
        connection="crm-test",
        client=client,
        auth=auth,
        classify=classify,
        limiter=limiter or RateLimiter("crm-test"),
        retry=retry,
        sleep=sleeps,
        base_url="https://crm.example/api",
    )
    return http, sleeps, client


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """Answers requests with these responses in turn (the last one repeats); records the requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


async def test_success_sends_bearer_and_base_url() -> None:
    handler, seen = scripted(httpx.Response(200, json={"ok": True}))
    http, sleeps, client = make_http(handler, auth=StaticToken("pat-secret"))
    async with client:
        response = await http.request("GET", "/things", context="things list", params={"a": "1"})
    assert parse_json(response, "ctx") == {"ok": True}
    assert str(seen[0].url) == "https://crm.example/api/things?a=1"
    assert seen[0].headers["Authorization"] == "Bearer pat-secret"
    assert http.calls == 1
    assert sleeps.waits == []


async def test_json_body_is_sent_with_content_type() -> None:
    handler, seen = scripted(httpx.Response(201, json={}))
    http, _, client = make_http(handler)
    async with client:
        await http.request("POST", "/things", context="create", json={"name": "x"})
    assert seen[0].headers["Content-Type"] == "application/json"
    assert seen[0].content == b'{"name":"x"}'


async def test_retryable_errors_are_retried_honouring_retry_after() -> None:
    handler, seen = scripted(
        httpx.Response(503, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json={}),
    )
    http, sleeps, client = make_http(handler)
    async with client:
        response = await http.request("GET", "/x", context="x")
    assert response.status_code == 200
    assert len(seen) == 3
    assert sleeps.waits == [7.0, 3.0]


async def test_retry_after_is_capped() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200))
    http, sleeps, client = make_http(handler, retry=RetryPolicy(max_retry_after=60))
    async with client:
        await http.request("GET", "/x", context="x")
    assert sleeps.waits == [60.0]


async def test_backoff_without_retry_after_grows_and_is_bounded() -> None:
    handler, _ = scripted(httpx.Response(500), httpx.Response(500), httpx.Response(500), httpx.Response(200))
    http, sleeps, client = make_http(handler, retry=RetryPolicy(initial_wait=1, max_wait=3))
    async with client:
        await http.request("GET", "/x", context="x")
    assert len(sleeps.waits) == 3
    assert all(0 < wait <= 3 + 1 for wait in sleeps.waits)  # exponential with up to 1 s of jitter, capped


async def test_non_retryable_errors_are_raised_at_once() -> None:
    handler, seen = scripted(httpx.Response(400, json={"message": "bad"}))
    http, sleeps, client = make_http(handler)
    async with client:
        with pytest.raises(InvalidRecordError, match="crm-test: contacts create"):
            await http.request("POST", "/x", context="contacts create", json={})
    assert len(seen) == 1
    assert sleeps.waits == []


async def test_non_retryable_vendor_response_error_is_not_retried() -> None:
    handler, seen = scripted(httpx.Response(418))
    http, _, client = make_http(handler)
    async with client:
        with pytest.raises(VendorResponseError):
            await http.request("GET", "/x", context="x")
    assert len(seen) == 1


async def test_retries_stop_after_the_configured_attempts() -> None:
    handler, seen = scripted(httpx.Response(503))
    http, sleeps, client = make_http(handler, retry=RetryPolicy(attempts=4))
    async with client:
        with pytest.raises(TransientError, match="HTTP 503"):
            await http.request("GET", "/x", context="x")
    assert len(seen) == 4
    assert len(sleeps.waits) == 3


async def test_network_errors_become_transient_and_are_retried() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.Response(200))
    http, _, client = make_http(handler)
    async with client:
        assert (await http.request("GET", "/x", context="x")).status_code == 200
    assert len(seen) == 3


async def test_network_error_message_names_the_connection() -> None:
    handler, _ = scripted(httpx.ConnectError("refused"))
    http, _, client = make_http(handler, retry=RetryPolicy(attempts=1))
    async with client:
        with pytest.raises(TransientError, match=r"crm-test: deals read: network error: ConnectError"):
            await http.request("GET", "/x", context="deals read")


async def test_accepted_statuses_are_returned() -> None:
    handler, _ = scripted(httpx.Response(404, json={}))
    http, _, client = make_http(handler)
    async with client:
        assert (await http.request("GET", "/x", context="x", accept=(404,))).status_code == 404


class TokenIssuer:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> IssuedToken:
        self.count += 1
        return IssuedToken(f"tok-{self.count}", 3600)


async def test_401_refreshes_the_token_once_and_retries() -> None:
    issuer = TokenIssuer()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok-1":
            return httpx.Response(401, json={"message": "expired"})
        return httpx.Response(200, json={})

    http, sleeps, client = make_http(handler, auth=CachedToken(issuer))
    async with client:
        assert (await http.request("GET", "/x", context="x")).status_code == 200
    assert issuer.count == 2
    assert sleeps.waits == []


async def test_second_401_is_a_fatal_auth_error_naming_the_connection() -> None:
    issuer = TokenIssuer()
    handler, seen = scripted(httpx.Response(401, json={"message": "nope"}))
    http, _, client = make_http(handler, auth=CachedToken(issuer))
    async with client:
        with pytest.raises(AuthError) as caught:
            await http.request("GET", "/x", context="contacts read")
    assert "crm-test" in str(caught.value)
    assert "contacts read" in str(caught.value)
    assert "tok-" not in str(caught.value)  # never a credential in a message
    assert len(seen) == 2
    assert issuer.count == 2


async def test_a_refused_static_token_is_an_auth_error_naming_its_setting_not_the_token() -> None:
    handler, seen = scripted(httpx.Response(401, json={}))
    http, _, client = make_http(handler, auth=StaticToken("pat-very-secret", setting="session_id"))
    async with client:
        with pytest.raises(CredentialsRefusedError) as caught:
            await http.request("GET", "/x", context="x")
    assert "pat-very-secret" not in str(caught.value)
    assert "the token in the connection's session_id, used as it is" in str(caught.value)
    assert len(seen) == 1  # nothing to refresh: asking again would be refused alike


async def test_concurrent_401s_cause_one_refresh() -> None:
    """Requests in flight with an expired token all get 401; only one new token may be fetched."""
    issuer = TokenIssuer()
    arrived = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        if request.headers["Authorization"] == "Bearer tok-1":
            arrived += 1
            if arrived == 5:
                release.set()
            await release.wait()  # every request is in flight with the old token before any is refused
            return httpx.Response(401, json={})
        return httpx.Response(200, json={})

    sleeps = Sleeps()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        http = VendorHttp(
            connection="crm-test",
            client=client,
            auth=CachedToken(issuer),
            classify=classify,
            limiter=RateLimiter("crm-test"),
            sleep=sleeps,
            base_url="https://crm.example",
        )
        responses = await asyncio.gather(*(http.request("GET", f"/x/{i}", context="x") for i in range(5)))
    assert all(r.status_code == 200 for r in responses)
    assert issuer.count == 2  # the first token plus exactly one refresh


async def test_limiter_is_released_and_fed_the_signals() -> None:
    seen_statuses: list[int] = []

    def signals(response: httpx.Response) -> LimitSignal:
        seen_statuses.append(response.status_code)
        return LimitSignal(daily_used=int(response.headers.get("X-Used", "0")), daily_limit=1000)

    limiter = RateLimiter("crm-test", concurrency=1, signals=signals)
    handler, _ = scripted(httpx.Response(503), httpx.Response(200, headers={"X-Used": "17"}))
    http, _, client = make_http(handler, limiter=limiter)
    async with client:
        await http.request("GET", "/x", context="x")
    assert seen_statuses == [503, 200]
    state = limiter.state()
    assert state["in_flight"] == 0
    assert state["daily_used"] == 17


async def test_parse_json_turns_html_into_a_vendor_response_error() -> None:
    response = httpx.Response(502, headers={"content-type": "text/html"}, content=b"<html>Bad gateway</html>")
    with pytest.raises(VendorResponseError, match=r"conn: accounts page: expected JSON .*HTTP 502.*Bad gateway"):
        parse_json(response, "conn: accounts page")


async def test_parse_json_turns_a_truncated_body_into_a_vendor_response_error() -> None:
    response = httpx.Response(200, headers={"content-type": "application/json"}, content=b'{"records": [{"Id')
    with pytest.raises(VendorResponseError) as caught:
        parse_json(response, "conn: Account query")
    assert caught.value.retryable


async def test_truncated_body_from_the_http_path_is_retried_when_the_connector_parses_it() -> None:
    # VendorHttp returns the 200; the connector's parse raises a retryable VendorResponseError.
    handler, _ = scripted(httpx.Response(200, content=b'{"partial'))
    http, _, client = make_http(handler)
    async with client:
        response = await http.request("GET", "/x", context="x")
    with pytest.raises(VendorResponseError):
        parse_json(response, "x")


async def test_request_json_retries_a_truncated_2xx_and_returns_the_parsed_body() -> None:
    handler, seen = scripted(
        httpx.Response(200, headers={"content-type": "application/json"}, content=b'{"records": [{"Id'),
        httpx.Response(200, json={"records": [{"Id": "001"}]}),
    )
    http, sleeps, client = make_http(handler)
    async with client:
        body = await http.request_json("GET", "/query", context="Account query")
    assert body == {"records": [{"Id": "001"}]}
    assert len(seen) == 2
    assert len(sleeps.waits) == 1  # one retry, with the usual backoff


async def test_request_json_retries_an_html_page_for_an_idempotent_write() -> None:
    handler, seen = scripted(
        httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html>Maintenance</html>"),
        httpx.Response(200, json=[{"success": True}]),
    )
    http, _, client = make_http(handler)
    async with client:
        body = await http.request_json("PATCH", "/upsert", context="Account upsert", json={"records": []})
    assert body == [{"success": True}]
    assert len(seen) == 2
    assert seen[0].content == seen[1].content == b'{"records":[]}'


async def test_request_json_does_not_resend_a_non_idempotent_call_with_an_unreadable_answer() -> None:
    handler, seen = scripted(
        httpx.Response(201, headers={"content-type": "application/json"}, content=b'[{"id": "001'),
        httpx.Response(201, json=[{"id": "001", "success": True}]),
    )
    http, sleeps, client = make_http(handler)
    async with client:
        with pytest.raises(VendorResponseError, match=r"crm-test: Account create: expected JSON") as caught:
            await http.request_json("POST", "/create", context="Account create", json={}, idempotent=False)
    assert isinstance(caught.value, UnreadableResponseError)
    assert not caught.value.retryable  # callers must not re-send it either
    assert len(seen) == 1
    assert sleeps.waits == []


async def test_request_json_still_retries_status_failures_of_non_idempotent_calls() -> None:
    # Only an unreadable success is ambiguous; a failure status is retried exactly as `request` retries it.
    handler, seen = scripted(httpx.Response(503), httpx.Response(201, json={"id": "001"}))
    http, _, client = make_http(handler)
    async with client:
        body = await http.request_json("POST", "/create", context="create", json={}, idempotent=False)
    assert body == {"id": "001"}
    assert len(seen) == 2


async def test_request_json_does_not_resend_a_non_idempotent_call_whose_answer_was_lost_after_sending() -> None:
    # A read timeout: the CRM may have created the record; sending the create again could make it twice.
    handler, seen = scripted(httpx.ReadTimeout("timed out"), httpx.Response(201, json={"id": "001"}))
    http, sleeps, client = make_http(handler)
    async with client:
        with pytest.raises(UnreadableResponseError, match=r"ReadTimeout.*not re-sent") as caught:
            await http.request_json("POST", "/create", context="Account create", json={}, idempotent=False)
    assert not caught.value.retryable
    assert len(seen) == 1
    assert sleeps.waits == []


async def test_request_json_resends_a_non_idempotent_call_that_never_left() -> None:
    # Refused at connect: nothing reached the CRM, so sending it again is safe.
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={"id": "001"}))
    http, _, client = make_http(handler)
    async with client:
        body = await http.request_json("POST", "/create", context="create", json={}, idempotent=False)
    assert body == {"id": "001"}
    assert len(seen) == 2


async def test_request_json_resends_an_idempotent_call_whose_answer_was_lost() -> None:
    handler, seen = scripted(httpx.RemoteProtocolError("server disconnected"), httpx.Response(200, json=[]))
    http, _, client = make_http(handler)
    async with client:
        body = await http.request_json("PATCH", "/upsert", context="upsert", json={})
    assert body == []
    assert len(seen) == 2


async def test_a_non_idempotent_call_whose_token_request_timed_out_is_sent_once_the_token_comes() -> None:
    # The token endpoint's read timed out: the call itself never left, so it is no unknown outcome.
    class SlowIssuer:
        def __init__(self) -> None:
            self.count = 0

        async def __call__(self) -> IssuedToken:
            self.count += 1
            if self.count == 1:
                raise network_error("crm-test: token", httpx.ReadTimeout("timed out"))
            return IssuedToken("tok", 3600)

    handler, seen = scripted(httpx.Response(201, json={"id": "001"}))
    http, _, client = make_http(handler, auth=CachedToken(SlowIssuer()))
    async with client:
        body = await http.request_json("POST", "/create", context="create", json={}, idempotent=False)
    assert body == {"id": "001"}
    assert len(seen) == 1


async def test_request_json_gives_up_after_the_configured_attempts() -> None:
    handler, seen = scripted(httpx.Response(200, content=b"<html>"))
    http, _, client = make_http(handler, retry=RetryPolicy(attempts=3))
    async with client:
        with pytest.raises(VendorResponseError, match="crm-test: x"):
            await http.request_json("GET", "/x", context="x")
    assert len(seen) == 3


async def test_request_json_returns_none_for_no_content() -> None:
    handler, _ = scripted(httpx.Response(204))
    http, _, client = make_http(handler)
    async with client:
        assert await http.request_json("DELETE", "/x", context="x") is None


async def test_a_probed_connection_that_is_still_down_gives_up_after_the_probe_attempts() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"))
    http, sleeps, client = make_http(handler, retry=RetryPolicy(attempts=6))
    async with client:
        with probing({"crm-test"}), pytest.raises(TransientError, match="network error"):
            await http.request("GET", "/x", context="x")
    assert len(seen) == PROBE_ATTEMPTS and len(sleeps.waits) == PROBE_ATTEMPTS - 1


async def test_probing_leaves_other_connections_and_throttling_to_the_full_retry_budget() -> None:
    handler, seen = scripted(httpx.Response(503))
    http, _, client = make_http(handler, retry=RetryPolicy(attempts=4))
    async with client:
        with probing({"another-crm"}), pytest.raises(TransientError):
            await http.request("GET", "/x", context="x")
    assert len(seen) == 4
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "1"}))
    http, _, client = make_http(handler, retry=RetryPolicy(attempts=4))
    async with client:
        with probing({"crm-test"}), pytest.raises(RateLimitedError):
            await http.request("GET", "/x", context="x")
    assert len(seen) == 4  # a CRM that answers 429 is up: its calls wait as usual
