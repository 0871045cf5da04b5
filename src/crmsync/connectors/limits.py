"""Client-side rate limiting per connection: honour the vendor's limits instead of discovering them.

A connection's limiter is sized to the vendor's documented limits (configurable by edition/tier)
and tightened live by the vendor's signals (`Retry-After`, remaining-in-window headers, daily
usage). A configurable share of the daily quota is reserved for other integrations; live changes
go before backfill; a concurrency cap bounds requests in flight. The window accounting is a
pyrate-limiter bucket: in memory by default, shared (Redis, PostgreSQL) when several workers must
stay under one vendor limit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import httpx
from pyrate_limiter import AbstractBucket, InMemoryBucket, RateItem
from pyrate_limiter import Rate as BucketRate

from crmsync.errors import QuotaExhaustedError


class Priority(IntEnum):
    LIVE = 0
    BACKFILL = 1


@dataclass(frozen=True)
class Rate:
    """At most `limit` requests in any `period_s` seconds."""

    limit: int
    period_s: float


@dataclass(frozen=True)
class LimitSignal:
    """What a vendor's response says about its limits (every field optional)."""

    retry_after: float | None = None
    window_remaining: int | None = None
    window_s: float | None = None
    daily_used: int | None = None
    daily_limit: int | None = None


Signals = Callable[[httpx.Response], LimitSignal]
Clock = Callable[[], float]


class SharedWindows(Protocol):
    """Rate windows several processes count in together (the state database's, in crmsync's service)."""

    async def take(self, key: str, rates: Sequence[tuple[int, float]]) -> float:
        """0.0 when one request is admitted under every rate of `key` (and counted), else seconds to wait."""
        ...


def no_signals(response: httpx.Response) -> LimitSignal:
    return LimitSignal()


class RateLimiter:
    """Admits requests within every rate and the concurrency cap; live requests jump the queue."""

    def __init__(
        self,
        connection: str,
        rates: Sequence[Rate] = (),
        *,
        concurrency: int = 8,
        daily_limit: int | None = None,
        reserve_share: float = 0.0,
        signals: Signals = no_signals,
        clock: Clock = time.monotonic,
        bucket: AbstractBucket | None = None,
    ) -> None:
        if not 0 <= reserve_share < 1:
            raise ValueError("reserve_share must be in [0, 1)")
        self.connection = connection
        self.rates = tuple(rates)
        self.daily_limit = daily_limit
        self.reserve_share = reserve_share
        self.signals = signals
        self.clock = clock
        # Shorter periods first, as pyrate-limiter requires ("generous before tight").
        ordered = sorted(self.rates, key=lambda r: r.period_s)
        self._bucket = bucket or (
            InMemoryBucket([BucketRate(r.limit, max(int(r.period_s * 1000), 1)) for r in ordered]) if ordered else None
        )
        self._puts = 0
        self._shared: SharedWindows | None = None
        self._in_flight = 0
        self.concurrency = concurrency
        self._paused_until = 0.0
        self._daily_used: int | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0
        self.waits = 0
        self.waited_s = 0.0
        self.admitted = 0  # requests sent through this limiter (API calls)

    # ---- admission ------------------------------------------------------------------------
    async def acquire(self, priority: Priority = Priority.LIVE) -> None:
        self._check_daily()
        started = self.clock()
        waited = False
        while True:
            delay = self._delay()
            if delay == 0 and not self._ahead_of(priority):
                delay = await self._take_window_slot()
                if delay == 0:
                    break
            waited = True
            await self._wait(priority, delay)
        self._in_flight += 1
        self.admitted += 1
        if self._daily_used is not None:
            self._daily_used += 1
        if waited:
            self.waits += 1
            self.waited_s += self.clock() - started

    def release(self) -> None:
        self._in_flight = max(self._in_flight - 1, 0)
        self._wake()

    def _ahead_of(self, priority: Priority) -> bool:
        """True when a more urgent request is already waiting (backfill yields to live)."""
        return any(p < priority for p, _, f in self._waiters if not f.done())

    def _delay(self) -> float:
        """Seconds until a request may go as far as pauses and concurrency go (inf: wait for a release)."""
        delay = max(self._paused_until - self.clock(), 0.0)
        if self._in_flight >= self.concurrency:
            return float("inf")
        return delay

    def share(self, windows: SharedWindows) -> None:
        """Count this limiter's rate windows together with every other process sharing `windows`.

        The key is the limiter's name (the connection, or `hubspot (search)`): the same connection
        in every worker counts in one window, so N workers stay under the vendor's limit together.
        """
        self._shared = windows

    async def _take_window_slot(self) -> float:
        """Record one request in the rate windows; 0 when admitted, else seconds until one fits."""
        if self._shared is not None:
            if not self.rates:
                return 0.0
            return await self._shared.take(self.connection, [(r.limit, r.period_s) for r in self.rates])
        bucket = self._bucket
        if bucket is None:
            return 0.0
        now_ms = int(self.clock() * 1000)
        item = RateItem(self.connection, now_ms, 1)
        admitted = bucket.put(item)
        if inspect.isawaitable(admitted):
            admitted = await admitted
        if admitted:
            self._puts += 1
            if self._puts % 1024 == 0:  # drop aged-out entries so the in-memory log stays small
                leaked = bucket.leak(now_ms)
                if inspect.isawaitable(leaked):
                    await leaked
            return 0.0
        wait_ms = bucket.waiting(item)
        if inspect.isawaitable(wait_ms):
            wait_ms = await wait_ms
        return max(int(wait_ms), 1) / 1000

    async def _wait(self, priority: Priority, delay: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._seq += 1
        entry = (int(priority), self._seq, future)
        self._waiters.append(entry)
        try:
            timeout = None if delay == float("inf") else max(delay, 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._waiters.remove(entry)

    def _wake(self) -> None:
        for _, _, future in sorted(self._waiters, key=lambda w: (w[0], w[1])):
            if not future.done():
                future.set_result(None)

    # ---- vendor signals -------------------------------------------------------------------
    def observe(self, response: httpx.Response) -> None:
        signal = self.signals(response)
        now = self.clock()
        if signal.retry_after is not None:
            self.pause(signal.retry_after, now=now)
        if signal.window_remaining is not None and signal.window_remaining <= 0 and signal.window_s:
            self.pause(signal.window_s, now=now)
        if signal.daily_used is not None:
            own = self._daily_used or 0
            # The vendor's figure lags behind the calls still in flight, so a slightly lower figure is that lag
            # and must not rewind our count (it would spend the reserved share); a much lower one is a new day.
            lag = self._in_flight + (self.concurrency or 0)
            self._daily_used = signal.daily_used if signal.daily_used < own - lag else max(own, signal.daily_used)
        if signal.daily_limit is not None:
            self.daily_limit = signal.daily_limit

    def pause(self, seconds: float, *, now: float | None = None) -> None:
        """Send nothing for `seconds` (the vendor told us to back off)."""
        self._paused_until = max(self._paused_until, (now if now is not None else self.clock()) + seconds)

    def _check_daily(self) -> None:
        if self.daily_limit is None or self._daily_used is None:
            return
        allowed = int(self.daily_limit * (1 - self.reserve_share))
        if self._daily_used >= allowed:
            raise QuotaExhaustedError(
                f"{self.connection}: {self._daily_used:,} of {self.daily_limit:,} daily API calls used; "
                f"{self.reserve_share:.0%} is reserved for other integrations",
            )

    def state(self) -> dict[str, float | int | None]:
        return {
            "in_flight": self._in_flight,
            "waiting": len(self._waiters),
            "paused_for_s": max(self._paused_until - self.clock(), 0.0),
            "daily_used": self._daily_used,
            "daily_limit": self.daily_limit,
            "waits": self.waits,
            "waited_s": round(self.waited_s, 3),
            "admitted": self.admitted,
        }
