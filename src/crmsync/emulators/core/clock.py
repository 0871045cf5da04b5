"""A controllable clock: real time plus an offset, or frozen, so tests and demos can move time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class EmulatorClock:
    """Milliseconds since the epoch; can be set, advanced, frozen and thawed at run time."""

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._real_now = now
        self._offset_ms = 0
        self._frozen_at: int | None = None
        self._listeners: list[Callable[[], None]] = []

    def now_ms(self) -> int:
        if self._frozen_at is not None:
            return self._frozen_at
        return int(self._real_now() * 1000) + self._offset_ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, ms: int) -> None:
        if self._frozen_at is not None:
            self._frozen_at = ms
        else:
            self._offset_ms = ms - int(self._real_now() * 1000)
        self._changed()

    def advance(self, ms: int) -> None:
        if self._frozen_at is not None:
            self._frozen_at += ms
        else:
            self._offset_ms += ms
        self._changed()

    def freeze(self) -> None:
        self._frozen_at = self.now_ms()
        self._changed()

    def thaw(self) -> None:
        if self._frozen_at is not None:
            self._offset_ms = self._frozen_at - int(self._real_now() * 1000)
            self._frozen_at = None
        self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after every set/advance/freeze/thaw (wakes schedulers waiting on emulator time)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
