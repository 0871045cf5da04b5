"""HubSpot's rate limits: the ten-second burst, the daily allowance and the search API's per-second cap."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.http import json_response
from crmsync.emulators.core.limits import DailyBudget, RollingWindow
from crmsync.emulators.core.vendor import Admission
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.errors import correlation_id

_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limited(policy: str, retry_after_s: float | None = None, headers: dict[str, str] | None = None) -> Response:
    body = {
        "status": "error",
        "message": _MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
    }
    extra = dict(headers or {})
    if retry_after_s is not None:
        extra["Retry-After"] = str(max(int(retry_after_s + 0.999), 0))
    return json_response(body, 429, headers=extra)


class HubSpotLimits:
    """Counts every API call; search calls have their own per-second window and no limit headers."""

    def __init__(self, clock: EmulatorClock, config: HubSpotConfig) -> None:
        self.clock = clock
        self.configure(config.ten_second_limit, config.daily_limit, config.search_per_second)

    def configure(self, ten_second: int, daily: int, search_per_second: int) -> None:
        self.ten_second_limit = ten_second
        self.daily_limit = daily
        self.search_per_second = search_per_second
        self.burst = RollingWindow(self.clock, ten_second, 10_000)
        # The per-second figure HubSpot reports is a tenth of the burst; it is reported, not enforced.
        self.secondly = RollingWindow(self.clock, max(ten_second // 10, 1), 1000)
        self.daily = DailyBudget(self.clock, daily, rolling=False)
        self.search = RollingWindow(self.clock, search_per_second, 1000)
        self._daily_text = str(daily).encode()
        self._max_text = str(ten_second).encode()
        self._secondly_text = str(self.secondly.limit).encode()

    def reset(self) -> None:
        self.configure(self.ten_second_limit, self.daily_limit, self.search_per_second)

    def state(self) -> dict[str, int]:
        return {
            "ten_second_limit": self.ten_second_limit,
            "ten_second_remaining": self.burst.remaining(),
            "daily_limit": self.daily_limit,
            "daily_remaining": self.daily.remaining(),
            "search_per_second": self.search_per_second,
        }

    def _headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining()),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.ten_second_limit),
            "X-HubSpot-RateLimit-Remaining": str(self.burst.remaining()),
            "X-HubSpot-RateLimit-Secondly": str(self.secondly.limit),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(self.secondly.remaining()),
        }

    def admit(self, scope: Scope) -> Admission:
        path: str = scope["path"]
        if path.startswith("/oauth/"):
            return Admission()
        if path.endswith("/search"):
            if not self.search.try_take():
                return Admission(rejection=rate_limited("SECONDLY"))
            if not self.daily.try_take():
                return Admission(rejection=rate_limited("DAILY"))
            return Admission()
        if not self.burst.try_take():
            return Admission(rejection=rate_limited("TEN_SECONDLY_ROLLING", headers=self._headers()))
        if not self.daily.try_take():
            return Admission(rejection=rate_limited("DAILY", headers=self._headers()))
        self.secondly.try_take()
        # Built as raw ASGI headers directly: this runs on every call.
        return Admission(
            headers=[
                (b"x-hubspot-ratelimit-daily", self._daily_text),
                (b"x-hubspot-ratelimit-daily-remaining", str(self.daily.remaining()).encode()),
                (b"x-hubspot-ratelimit-interval-milliseconds", b"10000"),
                (b"x-hubspot-ratelimit-max", self._max_text),
                (b"x-hubspot-ratelimit-remaining", str(self.burst.remaining()).encode()),
                (b"x-hubspot-ratelimit-secondly", self._secondly_text),
                (b"x-hubspot-ratelimit-secondly-remaining", str(self.secondly.remaining()).encode()),
            ]
        )
