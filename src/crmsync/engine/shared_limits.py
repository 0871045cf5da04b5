"""Vendor rate limits counted in the state database, so every process working on it stays under them together."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from crmsync.connectors.base import Connector
from crmsync.connectors.limits import RateLimiter
from crmsync.store import Store


class _HasLimiters(Protocol):
    @property
    def limiters(self) -> tuple[RateLimiter, ...]: ...


class StoreWindows:
    """`SharedWindows` on the state database: one short transaction per admitted request."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock  # wall time: the processes sharing a window may run on several machines

    async def take(self, key: str, rates: Sequence[tuple[int, float]]) -> float:
        async with self.store.begin() as tx:
            return await tx.rate_windows.take(key, rates, self.clock())


def share_rate_limits(connectors: Mapping[str, Connector], store: Store) -> int:
    """Make every connector's rate windows count in `store`; returns how many limiters now share."""
    windows = StoreWindows(store)
    shared = 0
    for connector in connectors.values():
        limiters: tuple[RateLimiter, ...] = getattr(connector, "limiters", ())  # test doubles may have none
        for limiter in limiters:
            limiter.share(windows)
            shared += 1
    return shared


__all__ = ["StoreWindows", "share_rate_limits"]
