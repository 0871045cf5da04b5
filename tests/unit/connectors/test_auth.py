"""Unit tests of the shared token cache: reuse, refresh before expiry, invalidation, one fetch for many."""

from __future__ import annotations

import asyncio

import pytest

from crmsync.connectors.auth import CachedToken, IssuedToken, StaticToken
from crmsync.errors import AuthError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """Hands out numbered tokens; optionally waits on an event so concurrent callers pile up."""

    def __init__(self, expires_in: float | None = 1800.0) -> None:
        self.count = 0
        self.expires_in = expires_in
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> IssuedToken:
        self.count += 1
        number = self.count
        if self.gate is not None:
            await self.gate.wait()
        return IssuedToken(f"token-{number}", self.expires_in)


async def test_token_is_fetched_once_and_reused() -> None:
    issuer = Issuer()
    cached = CachedToken(issuer, clock=FakeClock())
    assert await cached.token() == "token-1"
    assert await cached.token() == "token-1"
    assert issuer.count == 1
    assert cached.fetches == 1


async def test_token_is_refreshed_margin_before_expiry() -> None:
    clock = FakeClock()
    issuer = Issuer(expires_in=1800)
    cached = CachedToken(issuer, margin_s=60, clock=clock)
    assert await cached.token() == "token-1"
    clock.now += 1800 - 61
    assert await cached.token() == "token-1"
    clock.now += 2  # now inside the margin: refresh before the vendor would refuse it
    assert await cached.token() == "token-2"
    assert issuer.count == 2


async def test_short_lived_token_is_not_refetched_on_every_call() -> None:
    # A lifetime shorter than the margin must not make every call fetch a new token.
    clock = FakeClock()
    issuer = Issuer(expires_in=30)
    cached = CachedToken(issuer, margin_s=60, clock=clock)
    assert await cached.token() == "token-1"
    assert await cached.token() == "token-1"
    clock.now += 29.9
    assert await cached.token() == "token-2"


async def test_token_without_lifetime_is_kept_until_invalidated() -> None:
    clock = FakeClock()
    issuer = Issuer(expires_in=None)
    cached = CachedToken(issuer, default_lifetime_s=None, clock=clock)
    assert await cached.token() == "token-1"
    clock.now += 10 * 86400
    assert await cached.token() == "token-1"
    cached.invalidate()
    assert await cached.token() == "token-2"


async def test_default_lifetime_applies_when_vendor_gives_none() -> None:
    clock = FakeClock()
    cached = CachedToken(Issuer(expires_in=None), default_lifetime_s=600, margin_s=60, clock=clock)
    assert await cached.token() == "token-1"
    clock.now += 541
    assert await cached.token() == "token-2"


async def test_concurrent_callers_share_one_fetch() -> None:
    issuer = Issuer()
    issuer.gate = asyncio.Event()
    cached = CachedToken(issuer, clock=FakeClock())
    tasks = [asyncio.create_task(cached.token()) for _ in range(20)]
    await asyncio.sleep(0)
    issuer.gate.set()
    assert set(await asyncio.gather(*tasks)) == {"token-1"}
    assert issuer.count == 1


async def test_failed_fetch_is_retried_by_the_next_caller() -> None:
    calls = 0

    async def flaky() -> IssuedToken:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AuthError("conn: token endpoint refused")
        return IssuedToken("ok", 100)

    cached = CachedToken(flaky, clock=FakeClock())
    with pytest.raises(AuthError):
        await cached.token()
    assert await cached.token() == "ok"


async def test_static_token() -> None:
    static = StaticToken("pat-1")
    assert await static.token() == "pat-1"
    static.invalidate()
    assert await static.token() == "pat-1"
    with pytest.raises(AuthError):
        StaticToken("")
