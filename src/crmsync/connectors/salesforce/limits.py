"""Salesforce limit signals (`Sforce-Limit-Info: api-usage=N/M`) and the limiter sized to the org's edition."""

from __future__ import annotations

import re

import httpx

from crmsync.connectors.limits import LimitSignal, Rate, RateLimiter
from crmsync.connectors.salesforce.settings import SalesforceSettings

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def limit_signals(response: httpx.Response) -> LimitSignal:
    """Salesforce has no 429 and no Retry-After on the core API: the daily usage header is the only signal."""
    header = response.headers.get("sforce-limit-info")
    if not header:
        return LimitSignal()
    match = _API_USAGE.search(header)
    if match is None:
        return LimitSignal()
    return LimitSignal(daily_used=int(match.group(1)), daily_limit=int(match.group(2)))


def build_limiter(settings: SalesforceSettings, connection: str) -> RateLimiter:
    """Daily allocation from the edition (tightened by the header), a reserve for others, a concurrency cap."""
    rates = [Rate(max(int(settings.requests_per_second), 1), 1.0)] if settings.requests_per_second else []
    return RateLimiter(
        connection,
        rates,
        concurrency=settings.resolved_concurrency,
        daily_limit=settings.resolved_daily_limit,
        reserve_share=settings.reserve_share,
        signals=limit_signals,
    )
