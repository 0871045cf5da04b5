"""A circuit breaker per connection: a CRM that is down is left alone for a while, so the others stay live.

Without it every pass would wait out the failing connector's retry budget (tens of seconds) and
delay the healthy CRMs' changes by as much. A paused connection's hints and writes stay queued; after
the cooldown one pass tries it again (a probe: its calls to that CRM give up soon when it is still down,
`connectors.http.probing`), and each further failure doubles the cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

FIRST_COOLDOWN_S = 15.0
MAX_COOLDOWN_S = 300.0


class ConnectionBreaker:
    """Which connections to pause, from what the last passes reported."""

    def __init__(
        self,
        *,
        first_s: float = FIRST_COOLDOWN_S,
        max_s: float = MAX_COOLDOWN_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._monotonic = monotonic
        self._until: dict[str, float] = {}
        self._cooldown: dict[str, float] = {}

    def paused(self) -> frozenset[str]:
        """The connections a pass starting now should leave alone."""
        now = self._monotonic()
        return frozenset(c for c, until in self._until.items() if until > now)

    def probing(self) -> frozenset[str]:
        """The connections whose pause is over but not yet cleared by a success: a pass starting now probes them."""
        now = self._monotonic()
        return frozenset(c for c, until in self._until.items() if until <= now)

    def record(self, tried: Iterable[str], failed: Iterable[str]) -> None:
        """After a pass: `tried` connections it used, of which `failed` could not be read or written."""
        failing = set(failed)
        now = self._monotonic()
        for connection in tried:
            if connection in failing:
                cooldown = min(self._cooldown.get(connection, self.first_s / 2) * 2, self.max_s)
                self._cooldown[connection] = cooldown
                self._until[connection] = now + cooldown
            else:
                self._cooldown.pop(connection, None)
                self._until.pop(connection, None)

    def next_resume(self) -> float:
        """When the first pause ends (monotonic time; inf when none): a pass then tries that connection again."""
        now = self._monotonic()
        return min((until for until in self._until.values() if until > now), default=float("inf"))

    def state(self) -> dict[str, float]:
        """Seconds left of each pause (for /readyz)."""
        now = self._monotonic()
        return {c: round(until - now, 1) for c, until in sorted(self._until.items()) if until > now}


__all__ = ["FIRST_COOLDOWN_S", "MAX_COOLDOWN_S", "ConnectionBreaker"]
