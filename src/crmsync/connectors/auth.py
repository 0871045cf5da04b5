"""Token caching shared by every auth flow: fetch once, reuse, refresh before expiry or after a 401."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from crmsync.errors import AuthError


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: float | None  # seconds; None when the vendor does not say (Salesforce sessions)


class StaticToken:
    """A token that never expires (HubSpot private-app tokens)."""

    def __init__(self, token: str, setting: str = "access_token") -> None:
        if not token:
            raise AuthError(f"an empty {setting} was configured")
        self._token = token
        self.setting = setting
        """The connection setting the token came from: a refused one is named, not refreshed."""

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        """Nothing to refresh: a refused static token is a fatal auth error at the next 401."""


class CachedToken:
    """Wraps a vendor's token request; concurrent callers share one fetch.

    Tokens are refreshed `margin_s` before they expire (HubSpot: 1,800 s, Entra: 3,599 s); a token
    without a stated lifetime is kept for `default_lifetime_s` or until a 401 invalidates it.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[IssuedToken]],
        *,
        margin_s: float = 60.0,
        default_lifetime_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = margin_s
        self._default_lifetime = default_lifetime_s
        self._clock = clock
        self._token: str | None = None
        self._refresh_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _fresh(self) -> bool:
        if self._token is None:
            return False
        return self._refresh_at is None or self._clock() < self._refresh_at

    async def token(self) -> str:
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():
                issued = await self._fetch()
                self.fetches += 1
                lifetime = issued.expires_in if issued.expires_in is not None else self._default_lifetime
                self._token = issued.access_token
                # A lifetime shorter than the margin would make every call fetch: refresh at half-life then.
                self._refresh_at = None
                if lifetime is not None:
                    self._refresh_at = self._clock() + lifetime - min(self._margin, lifetime / 2)
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        self._token = None
        self._refresh_at = None
