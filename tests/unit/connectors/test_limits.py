"""Unit tests of the client-side limiter: rates, concurrency cap, priority, vendor signals, daily reserve.

Waits here are real but tiny (rates over 0.1-0.2 s), so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from crmsync.connectors.limits import LimitSignal, Priority, Rate, RateLimiter
from crmsync.errors import QuotaExhaustedError


def signal_from_headers(response: httpx.Response) -> LimitSignal:
    headers = response.headers
    return LimitSignal(
        retry_after=float(headers["Retry-After"]) if "Retry-After" in headers else None,
        window_remaining=int(headers["X-Remaining"]) if "X-Remaining" in headers else None,
        window_s=float(headers["X-Window"]) if "X-Window" in headers else None,
        daily_used=int(headers["X-Daily-Used"]) if "X-Daily-Used" in headers else None,
        daily_limit=int(headers["X-Daily-Limit"]) if "X-Daily-Limit" in headers else None,
    )


async def until(condition: Callable[[], bool], *, turns: int = 1000) -> None:
    """Yield to the event loop until `condition` holds (no wall-clock waiting)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_admits_within_every_rate() -> None:
    limiter = RateLimiter("conn", [Rate(4, 0.15), Rate(10, 10)])
    stamps: list[float] = []
    for _ in range(9):
        await limiter.acquire()
        stamps.append(time.monotonic())
        limiter.release()
    # no 0.15 s window ever holds more than 4 admissions
    for i, start in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s - start < 0.15 - 0.005) <= 4
    assert stamps[-1] - stamps[0] >= 0.3 - 0.01  # 9 calls at 4 per 0.15 s need two full waits
    assert limiter.waits >= 2


async def test_concurrency_cap_bounds_requests_in_flight() -> None:
    limiter = RateLimiter("conn", concurrency=3)
    in_flight = 0
    peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        await limiter.acquire()
        try:
            in_flight += 1
            peak = max(peak, in_flight)
            for _ in range(3):  # hand the loop to the others while "in flight"
                await asyncio.sleep(0)
            in_flight -= 1
        finally:
            limiter.release()

    await asyncio.gather(*(call() for _ in range(20)))
    assert peak == 3
    assert limiter.state()["in_flight"] == 0


async def test_live_requests_go_before_backfill() -> None:
    limiter = RateLimiter("conn", concurrency=1)
    await limiter.acquire()  # the slot is taken
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        order.append(name)
        limiter.release()

    backfill = [asyncio.create_task(call(f"backfill-{i}", Priority.BACKFILL)) for i in range(3)]
    await until(lambda: limiter.state()["waiting"] == 3)
    live = [asyncio.create_task(call(f"live-{i}", Priority.LIVE)) for i in range(2)]
    await until(lambda: limiter.state()["waiting"] == 5)
    limiter.release()
    await asyncio.gather(*backfill, *live)
    assert order[:2] == ["live-0", "live-1"]
    assert sorted(order[2:]) == ["backfill-0", "backfill-1", "backfill-2"]


async def test_backfill_yields_to_waiting_live_request_under_a_rate() -> None:
    limiter = RateLimiter("conn", [Rate(1, 0.05)])
    await limiter.acquire()
    limiter.release()
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        order.append(name)
        limiter.release()

    first = asyncio.create_task(call("backfill", Priority.BACKFILL))
    await asyncio.sleep(0)
    second = asyncio.create_task(call("live", Priority.LIVE))
    await asyncio.gather(first, second)
    assert order == ["live", "backfill"]


async def test_retry_after_signal_pauses_everyone() -> None:
    limiter = RateLimiter("conn", signals=signal_from_headers)
    limiter.observe(httpx.Response(429, headers={"Retry-After": "0.1"}))
    paused = limiter.state()["paused_for_s"]
    assert paused is not None
    assert paused > 0.05
    started = time.monotonic()
    await limiter.acquire()
    limiter.release()
    assert time.monotonic() - started >= 0.09


async def test_empty_window_signal_pauses_for_the_window() -> None:
    limiter = RateLimiter("conn", signals=signal_from_headers)
    limiter.observe(httpx.Response(200, headers={"X-Remaining": "5", "X-Window": "10"}))
    assert limiter.state()["paused_for_s"] == 0
    limiter.observe(httpx.Response(200, headers={"X-Remaining": "0", "X-Window": "0.08"}))
    started = time.monotonic()
    await limiter.acquire()
    limiter.release()
    assert time.monotonic() - started >= 0.07


async def test_daily_reserve_is_kept_for_other_integrations() -> None:
    limiter = RateLimiter("sf-prod", daily_limit=1000, reserve_share=0.1, signals=signal_from_headers)
    await limiter.acquire()  # usage unknown yet: admitted
    limiter.release()
    limiter.observe(httpx.Response(200, headers={"X-Daily-Used": "898", "X-Daily-Limit": "1000"}))
    await limiter.acquire()  # 898 -> 899 (counted locally until the next signal)
    limiter.release()
    await limiter.acquire()  # 899 -> 900
    limiter.release()
    with pytest.raises(QuotaExhaustedError, match=r"sf-prod: 900 of 1,000 daily API calls used; 10% is reserved"):
        await limiter.acquire()
    assert limiter.state()["in_flight"] == 0


async def test_daily_limit_signal_overrides_the_configured_limit() -> None:
    limiter = RateLimiter("conn", daily_limit=1_000_000, signals=signal_from_headers)
    limiter.observe(httpx.Response(200, headers={"X-Daily-Used": "10", "X-Daily-Limit": "10"}))
    with pytest.raises(QuotaExhaustedError):
        await limiter.acquire()


async def test_cancelled_waiter_leaves_no_trace() -> None:
    limiter = RateLimiter("conn", concurrency=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await until(lambda: limiter.state()["waiting"] == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), 1)
    limiter.release()
    assert limiter.state()["in_flight"] == 0


def test_reserve_share_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="reserve_share"):
        RateLimiter("conn", reserve_share=1.0)


def _daily(used: int) -> httpx.Response:
    return httpx.Response(200, headers={"X-Daily-Used": str(used), "X-Daily-Limit": "100"})


async def test_a_lagging_vendor_count_never_rewinds_the_daily_count() -> None:
    limiter = RateLimiter("conn", daily_limit=100, reserve_share=0.25, concurrency=8, signals=signal_from_headers)
    limiter.observe(_daily(10))
    for _ in range(8):  # eight calls in flight: the vendor has not counted them yet
        await limiter.acquire()
    limiter.observe(_daily(12))
    assert limiter.state()["daily_used"] == 18
    for _ in range(8):
        limiter.release()


async def test_a_much_lower_vendor_count_is_a_new_day() -> None:
    limiter = RateLimiter("conn", daily_limit=100, reserve_share=0.25, concurrency=4, signals=signal_from_headers)
    limiter.observe(_daily(80))
    with pytest.raises(QuotaExhaustedError):
        await limiter.acquire()
    limiter.observe(_daily(3))
    assert limiter.state()["daily_used"] == 3
    await limiter.acquire()  # below the reserve again: admitted
    limiter.release()
