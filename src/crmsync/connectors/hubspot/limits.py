"""HubSpot rate limits: tier-sized limiters (burst, daily, search) and the X-HubSpot-RateLimit-* signals."""

from __future__ import annotations

import httpx

from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.limits import LimitSignal, Rate, RateLimiter


def _int(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def signals(response: httpx.Response) -> LimitSignal:
    """What HubSpot's headers say. Search responses carry none; a 429 may carry Retry-After."""
    headers = response.headers
    remaining = _int(headers, "X-HubSpot-RateLimit-Remaining")
    interval_ms = _int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    daily = _int(headers, "X-HubSpot-RateLimit-Daily")
    daily_remaining = _int(headers, "X-HubSpot-RateLimit-Daily-Remaining")
    retry_after: float | None = None
    if response.status_code == 429 and "Retry-After" in headers:
        try:
            retry_after = max(float(headers["Retry-After"]), 0.0)
        except ValueError:
            retry_after = None
    return LimitSignal(
        retry_after=retry_after,
        window_remaining=remaining,
        window_s=interval_ms / 1000 if interval_ms else None,
        daily_used=daily - daily_remaining if daily is not None and daily_remaining is not None else None,
        daily_limit=daily,
    )


def main_limiter(settings: HubSpotSettings, connection: str) -> RateLimiter:
    """Every non-search call: the tier's rolling 10-second burst and daily quota, minus the reserve."""
    return RateLimiter(
        connection,
        [Rate(settings.burst_limit, 10.0)],
        concurrency=settings.concurrency,
        daily_limit=settings.daily_quota,
        reserve_share=settings.reserve_share,
        signals=signals,
    )


def search_limiter(settings: HubSpotSettings, connection: str) -> RateLimiter:
    """The search API's separate per-second limit (its calls count toward the daily quota too)."""
    return RateLimiter(
        f"{connection} (search)",
        [Rate(settings.search_per_second, 1.0)],
        concurrency=min(settings.concurrency, settings.search_per_second),
        signals=signals,
    )
