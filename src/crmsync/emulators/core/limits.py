"""Counters the vendors' rate limits are built from: rolling windows, daily budgets, concurrency."""

from __future__ import annotations

from collections import deque

from crmsync.emulators.core.clock import EmulatorClock


class RollingWindow:
    """At most `limit` events in any `window_ms` (HubSpot's ten-second burst, Dataverse's 5-minute count)."""

    def __init__(self, clock: EmulatorClock, limit: int, window_ms: int) -> None:
        self.clock = clock
        self.limit = limit
        self.window_ms = window_ms
        self._events: deque[int] = deque()

    def _trim(self, now: int) -> None:
        events = self._events
        horizon = now - self.window_ms
        while events and events[0] <= horizon:
            events.popleft()

    def try_take(self) -> bool:
        now = self.clock.now_ms()
        self._trim(now)
        if len(self._events) >= self.limit:
            return False
        self._events.append(now)
        return True

    def remaining(self) -> int:
        self._trim(self.clock.now_ms())
        return max(self.limit - len(self._events), 0)

    def retry_after_ms(self) -> int:
        """How long until one more event fits."""
        now = self.clock.now_ms()
        self._trim(now)
        if len(self._events) < self.limit:
            return 0
        return max(self._events[0] + self.window_ms - now, 1)

    def reset(self) -> None:
        self._events.clear()


class DailyBudget:
    """A per-day allocation (Salesforce's rolling-24h API requests, HubSpot's daily calls)."""

    def __init__(self, clock: EmulatorClock, limit: int, *, rolling: bool = True) -> None:
        self.clock = clock
        self.limit = limit
        self.rolling = rolling
        self._window = RollingWindow(clock, limit, 86_400_000) if rolling else None
        self._day = -1
        self._used_today = 0

    @property
    def used(self) -> int:
        if self._window is not None:
            return self.limit - self._window.remaining()
        self._roll_day()
        return self._used_today

    def _roll_day(self) -> None:
        day = self.clock.now_ms() // 86_400_000
        if day != self._day:
            self._day = day
            self._used_today = 0

    def try_take(self) -> bool:
        if self._window is not None:
            return self._window.try_take()
        self._roll_day()
        if self._used_today >= self.limit:
            return False
        self._used_today += 1
        return True

    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def reset(self) -> None:
        if self._window is not None:
            self._window = RollingWindow(self.clock, self.limit, 86_400_000)
        self._used_today = 0


class Concurrency:
    """Requests in flight at once (Dataverse rejects past 52)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_enter(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight = max(self.in_flight - 1, 0)
