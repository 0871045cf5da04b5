"""Dataverse service-protection limits: the limiter's default sizing and the response → LimitSignal parser."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from crmsync.connectors.dynamics.errors import retry_after
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.limits import LimitSignal, Rate, RateLimiter

BURST_REMAINING = "x-ms-ratelimit-burst-remaining-xrm-requests"
# When the burst allowance reads zero the next call would be a 429; its Retry-After then says how long.
# Until that arrives, pause briefly rather than for a whole (sliding) window.
BURST_EXHAUSTED_PAUSE_S = 5.0


def signals(response: httpx.Response) -> LimitSignal:
    """429/503 `Retry-After` (seconds) and the remaining burst allowance of the 5-minute window."""
    wait = retry_after(response.headers) if response.status_code in (429, 503) else None
    remaining: int | None = None
    raw = response.headers.get(BURST_REMAINING)
    if raw is not None:
        try:
            remaining = int(float(raw))
        except ValueError:
            remaining = None
    return LimitSignal(
        retry_after=wait,
        window_remaining=remaining,
        window_s=BURST_EXHAUSTED_PAUSE_S if remaining is not None else None,
    )


def default_rates(settings: DynamicsSettings) -> list[Rate]:
    """6,000 requests per user per 5-minute sliding window (the same for every licence)."""
    return [Rate(settings.requests_per_window, settings.window_s)]


def build_limiter(
    settings: DynamicsSettings, connection: str, clock: Callable[[], float] = time.monotonic
) -> RateLimiter:
    return RateLimiter(
        connection,
        default_rates(settings),
        concurrency=settings.concurrency,
        daily_limit=settings.daily_limit,
        reserve_share=settings.reserve_share,
        signals=signals,
        clock=clock,
    )
