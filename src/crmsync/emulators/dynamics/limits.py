"""Service protection limits: requests per user per 5-minute window and concurrent requests, as 429s."""

from __future__ import annotations

import math
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Scope

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.limits import Concurrency, RollingWindow
from crmsync.emulators.core.vendor import Admission
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.config import DynamicsConfig

_PRINCIPAL_KEY = "crmsync.dv_principal"
_TIME_REMAINING = (b"x-ms-ratelimit-time-remaining-xrm-requests", b"1200000.00")


def throttled_requests(config: DynamicsConfig, retry_after_s: float | None) -> Response:
    seconds = max(1, math.ceil(retry_after_s)) if retry_after_s is not None else 5
    return errors.error_response(
        429,
        errors.THROTTLE_REQUESTS,
        f"Number of requests exceeded the limit of {config.requests_per_window} over time window of "
        f"{config.window_s} seconds.",
        {"Retry-After": str(seconds)},
    )


class ServiceProtection:
    """Counts per caller (the bearer token stands for the user; Dataverse counts per user)."""

    def __init__(self, config: DynamicsConfig, clock: EmulatorClock, resolve: Callable[[str | None], str]) -> None:
        self.config = config
        self.clock = clock
        self.resolve = resolve
        self.windows: dict[str, RollingWindow] = {}
        self.in_flight: dict[str, Concurrency] = {}

    def reset(self) -> None:
        self.windows.clear()
        self.in_flight.clear()

    def admit(self, scope: Scope) -> Admission:
        path: str = scope["path"]
        if not path.startswith("/api/data/"):
            return Admission()
        principal = self.resolve(_bearer(scope))
        window = self.windows.get(principal)
        if window is None:
            window = self.windows[principal] = RollingWindow(
                self.clock, self.config.requests_per_window, self.config.window_s * 1000
            )
        gate = self.in_flight.get(principal)
        if gate is None:
            gate = self.in_flight[principal] = Concurrency(self.config.concurrent_requests)
        if not gate.try_enter():
            return Admission(
                rejection=errors.error_response(
                    429,
                    errors.THROTTLE_CONCURRENCY,
                    f"Number of concurrent requests exceeded the limit of {self.config.concurrent_requests}.",
                    {"Retry-After": "1"},
                )
            )
        if not window.try_take():
            gate.leave()
            return Admission(rejection=throttled_requests(self.config, window.retry_after_ms() / 1000))
        scope[_PRINCIPAL_KEY] = principal
        remaining = str(window.remaining()).encode()
        return Admission(
            headers=[(b"x-ms-ratelimit-burst-remaining-xrm-requests", remaining), _TIME_REMAINING], release=True
        )

    def release(self, scope: Scope) -> None:
        principal = scope.get(_PRINCIPAL_KEY)
        if principal is not None and principal in self.in_flight:
            self.in_flight[principal].leave()

    def usage(self) -> dict[str, dict[str, int]]:
        return {
            principal: {
                "remaining": window.remaining(),
                "limit": self.config.requests_per_window,
                "in_flight": self.in_flight[principal].in_flight if principal in self.in_flight else 0,
            }
            for principal, window in self.windows.items()
        }


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" else None
    return None
