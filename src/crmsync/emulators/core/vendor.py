"""What a vendor package supplies to the shared emulator machinery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Scope

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.faults import FaultInjector
from crmsync.emulators.core.stats import RequestStats
from crmsync.emulators.core.store import Store
from crmsync.emulators.core.webhooks import WebhookDispatcher


@dataclass
class EmulatorRuntime:
    """The shared state of one running emulator."""

    clock: EmulatorClock
    store: Store
    faults: FaultInjector
    stats: RequestStats
    webhooks: WebhookDispatcher

    @classmethod
    def create(cls, *, stamp_resolution_ms: int = 1, clock: EmulatorClock | None = None) -> EmulatorRuntime:
        clock = clock or EmulatorClock()
        return cls(
            clock=clock,
            store=Store(clock, stamp_resolution_ms=stamp_resolution_ms),
            faults=FaultInjector(clock),
            stats=RequestStats(),
            webhooks=WebhookDispatcher(clock),
        )


@dataclass
class Admission:
    """A rate-limit decision: a rejection to send, headers to add, and what to release afterwards."""

    rejection: Response | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    release: bool = False


class Vendor(Protocol):
    """A vendor emulator: its routes, its error shapes, its limits, and its control-plane hooks."""

    name: str
    runtime: EmulatorRuntime

    def routes(self) -> list[BaseRoute]: ...

    def error_response(self, status: int, message: str, *, retry_after_s: float | None = None) -> Response:
        """The vendor's error envelope for a status (faults, unknown routes, unexpected failures)."""
        ...

    def rate_limited_response(self, retry_after_s: float | None) -> Response:
        """The vendor's own rate-limit signal (403 REQUEST_LIMIT_EXCEEDED, 429 + policyName, 429 + Retry-After)."""
        ...

    def admit(self, scope: Scope) -> Admission:
        """Count the call against the vendor's limits; reject it the way the vendor does when over."""
        ...

    def release(self, scope: Scope) -> None: ...

    def expire_token_of(self, request: Request) -> None:
        """Expire the token this request carries (fault `expire_token`), so the vendor's 401 follows."""
        ...

    def credentials(self) -> dict[str, Any]:
        """What a client needs to connect: printed by `crmsync emulate`, served by the control plane."""
        ...

    def reset(self) -> None: ...

    def seed(self, seed: int, records: int) -> dict[str, int]: ...

    async def control(self, action: str, request: Request) -> Response:
        """Vendor-specific control-plane actions: webhooks, merge, limits, custom fields, tokens."""
        ...

    def openapi(self) -> dict[str, Any]: ...
