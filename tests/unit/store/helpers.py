"""Test helpers for the state store: a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """An aware UTC clock that only moves when told to."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
