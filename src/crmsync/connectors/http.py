"""The HTTP path every connector shares: limiter, token, send, vendor signals, classification, retry.

A connector composes one `VendorHttp` from an injected `httpx.AsyncClient`, its auth, its error
table and its limiter; vendor quirks live in those parts, not here. Only what can succeed is
retried (network errors, throttling, 5xx, vendor lock errors), with exponential backoff and jitter
unless the vendor said how long to wait. A 401 refreshes the token once; a second is fatal.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from crmsync.connectors.auth import StaticToken
from crmsync.connectors.limits import Priority, RateLimiter
from crmsync.errors import (
    CredentialsRefusedError,
    CrmSyncError,
    RetryableError,
    TransientError,
    VendorResponseError,
)

Sleep = Callable[[float], Awaitable[None]]


class TokenProvider(Protocol):
    """Hands out a bearer token, cached until shortly before it expires."""

    async def token(self) -> str: ...

    def invalidate(self) -> None:
        """Forget the cached token (after a 401), so the next `token()` fetches a fresh one."""
        ...


class ErrorClassifier(Protocol):
    """The vendor's error table: a failed response to the exception that says what to do next."""

    def __call__(self, response: httpx.Response, context: str) -> CrmSyncError: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 120.0


TOKEN_REQUEST = RetryPolicy(attempts=1)
"""The retry policy of an OAuth token endpoint's client: none of its own. A token is fetched inside an API
request's retry loop, which retries the fetch with the request; retrying it here too multiplied the attempts
(Dataverse down: 144 token requests and 510 s of backoff for one describe instead of 6 and 17 s)."""


class SentUnansweredError(TransientError):
    """The connection failed once the request may have reached the CRM (a read timeout, a dropped connection): it
    may have taken effect. An idempotent call is sent again; a non-idempotent one is not (`request_json`)."""


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
"""Transport failures before any byte of the request left: safe to send again, whatever the call."""


def network_error(where: str, exc: BaseException) -> TransientError:
    """A request that got no answer, worded the same for every call: what the transport said, never the request
    (its body may hold a secret). A SentUnansweredError unless the request surely never left."""
    message = f"{where}: network error: {type(exc).__name__}: {exc}"
    return TransientError(message) if isinstance(exc, _NEVER_SENT) else SentUnansweredError(message)


class UnreadableResponseError(VendorResponseError):
    """A non-idempotent call whose outcome is unknown: answered 2xx with a body that is not JSON, or left without
    an answer after it was sent. It may have taken effect, so it is not re-sent (and must not be by the caller)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def _outcome_unknown(exc: SentUnansweredError) -> UnreadableResponseError:
    return UnreadableResponseError(f"{exc} (not re-sent: the request is not idempotent and may have been applied)")


PROBE_ATTEMPTS = 2
"""Attempts of a call to a connection being probed (`probing`) when it fails as unavailable."""

_PROBING: ContextVar[frozenset[str]] = ContextVar("crmsync_probing", default=frozenset())


@contextmanager
def probing(connections: Collection[str]) -> Iterator[None]:
    """Within this block, calls to `connections` give up after `PROBE_ATTEMPTS` when the CRM is unavailable.

    The service pauses a CRM that is down; the first pass after the pause is a probe, and waiting out the whole
    retry budget (tens of seconds) there would hold back the changes of the CRMs that are up. A throttled call
    (429) still waits as usual: a CRM that answers is not down.
    """
    token = _PROBING.set(frozenset(connections))
    try:
        yield
    finally:
        _PROBING.reset(token)


def probed() -> frozenset[str]:
    """The connections being probed in this context (see `probing`)."""
    return _PROBING.get()


class _StopIfUnavailable(stop_base):
    """Stops on a failure that says the CRM is down (network error, 5xx, a gateway's page), not on a 429."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(exc, TransientError | VendorResponseError)


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, VendorResponseError):
        return exc.retryable
    return isinstance(exc, RetryableError)


class VendorHttp:
    """One connection's HTTP client: every request goes through limits, auth, classification and retry."""

    def __init__(
        self,
        *,
        connection: str,
        client: httpx.AsyncClient,
        auth: TokenProvider | None,
        classify: ErrorClassifier,
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        base_url: Callable[[], str] | str = "",
    ) -> None:
        self.connection = connection
        self.client = client
        self.auth = auth
        self.classify = classify
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._base_url = base_url
        self.calls = 0

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        base = self._base_url() if callable(self._base_url) else self._base_url
        return base.rstrip("/") + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        context: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        priority: Priority = Priority.LIVE,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send until it succeeds or fails for good. 2xx (and statuses in `accept`) come back.

        `context` says what this call is about ("hubspot contacts batch/update") and is prefixed
        with the connection in every error, never with a credential. A call that is not `idempotent` is not sent
        again once it may have reached the CRM unanswered: UnreadableResponseError (see `request_json`).
        """

        body, send_headers = _body(json, content, headers)
        async for attempt in self._retrying():
            with attempt:
                try:
                    return await self._send_once(method, path, context, params, body, send_headers, accept, priority)
                except SentUnansweredError as exc:
                    if idempotent:
                        raise
                    raise _outcome_unknown(exc) from exc
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        context: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        priority: Priority = Priority.LIVE,
        idempotent: bool = True,
    ) -> Any:
        """Like `request`, but returns the parsed JSON body (None for a 204), parsed inside the retry loop.

        An HTML page or truncated body on a 2xx (a retryable VendorResponseError), or a connection lost after the
        request was sent, is re-requested when the call is `idempotent` (reads, upserts by external id, updates,
        deletes). A non-idempotent call (a plain create without an external id) may already have taken effect, so
        either raises UnreadableResponseError at once rather than risk a duplicate. Failures classified from the
        status, and connections that failed before the request left, are retried exactly as `request` retries them.
        """
        body, send_headers = _body(json, content, headers)
        where = f"{self.connection}: {context}"
        unreadable: VendorResponseError | None = None
        async for attempt in self._retrying():
            with attempt:
                try:
                    response = await self._send_once(
                        method, path, context, params, body, send_headers, accept, priority
                    )
                except SentUnansweredError as exc:
                    if idempotent:
                        raise
                    raise _outcome_unknown(exc) from exc
                if response.status_code == 204:
                    return None
                try:
                    return parse_json(response, where)
                except VendorResponseError as exc:
                    if idempotent:
                        raise
                    # Leaving the attempt without an exception ends the retry loop; raised below.
                    unreadable = UnreadableResponseError(
                        f"{exc} (not re-sent: the request is not idempotent and may have been applied)"
                    )
                    unreadable.__cause__ = exc
        if unreadable is not None:
            raise unreadable
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _retrying(self) -> AsyncRetrying:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableError) and exc.retry_after is not None:
                return min(exc.retry_after, self.retry.max_retry_after)
            return _backoff(self.retry, state.attempt_number)

        stop: stop_base = stop_after_attempt(self.retry.attempts)
        if self.connection in probed():
            stop = stop | (stop_after_attempt(PROBE_ATTEMPTS) & _StopIfUnavailable())
        return AsyncRetrying(
            sleep=self._sleep or asyncio.sleep,
            retry=retry_if_exception(_is_retryable),
            wait=wait,
            stop=stop,
            reraise=True,
        )

    async def _send_once(
        self,
        method: str,
        path: str,
        context: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        body: bytes | None,
        headers: dict[str, str],
        accept: Collection[int],
        priority: Priority,
    ) -> httpx.Response:
        refreshed = False
        while True:
            response, sent_token = await self._send_limited(method, path, context, params, body, headers, priority)
            if response.status_code == 401 and self.auth is not None and 401 not in accept:
                if isinstance(self.auth, StaticToken):
                    raise CredentialsRefusedError(
                        f"{self.connection}: {context}: the CRM refused the credentials: the token in the "
                        f"connection's {self.auth.setting}, used as it is (nothing to refresh) ({_short(response)})"
                    )
                if refreshed:
                    raise CredentialsRefusedError(
                        f"{self.connection}: {context}: the CRM refused the credentials after a token refresh "
                        f"({_short(response)})"
                    )
                # Requests in flight together all fail with the same expired token: only the first to
                # see the 401 drops it, the others retry with the token it already fetched.
                if await self.auth.token() == sent_token:
                    self.auth.invalidate()
                refreshed = True
                continue
            if response.is_success or response.status_code in accept:
                return response
            raise self.classify(response, f"{self.connection}: {context}")

    async def _send_limited(
        self,
        method: str,
        path: str,
        context: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        body: bytes | None,
        headers: dict[str, str],
        priority: Priority,
    ) -> tuple[httpx.Response, str | None]:
        await self.limiter.acquire(priority)
        try:
            send_headers = dict(headers)
            token = None
            if self.auth is not None:
                try:
                    token = await self.auth.token()
                except SentUnansweredError as exc:
                    raise TransientError(str(exc)) from exc  # the token request failed: this call never left
                send_headers["Authorization"] = f"Bearer {token}"
            self.calls += 1
            try:
                response = await self.client.request(
                    method, self.url(path), params=params, content=body, headers=send_headers
                )
            except (httpx.TransportError, ConnectionError) as exc:
                # ConnectionError: a peer reset seen in-process (ASGI transports) rather than by httpcore.
                raise network_error(f"{self.connection}: {context}", exc) from exc
            self.limiter.observe(response)
            return response, token
        finally:
            self.limiter.release()


def _body(json: Any, content: bytes | None, headers: Mapping[str, str] | None) -> tuple[bytes | None, dict[str, str]]:
    """The bytes to send (JSON serialised once, re-sent as-is by every retry) and the headers they need."""
    send_headers = dict(headers or {})
    if json is not None:
        send_headers.setdefault("Content-Type", "application/json")
        return orjson.dumps(json), send_headers
    return content, send_headers


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with up to one second of jitter, capped at `max_wait`.

    Computed here rather than with tenacity's `wait_exponential_jitter`, whose `initial` argument is
    deprecated in tenacity 9.2 (a DeprecationWarning on every retry) and whose replacement
    `multiplier` does not exist in older 9.x releases.
    """
    return min(policy.initial_wait * 2.0 ** (attempt - 1) + random.uniform(0, 1), policy.max_wait)


def parse_json(response: httpx.Response, context: str) -> Any:
    """The body as JSON, or a classified error when it is HTML, truncated or otherwise not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        kind = response.headers.get("content-type", "unknown content type")
        raise VendorResponseError(
            f"{context}: expected JSON from the CRM (HTTP {response.status_code}, {kind}), got: {_short(response)}"
        ) from exc


def _short(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")
