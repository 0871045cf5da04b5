"""Vendor rate limits counted in one place (Redis or the state database), so every process stays under them together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.connectors.limits import RateLimiter, SharedWindows
from crmsync.engine.redis_windows import RedisWindows
from crmsync.store import Store


class _HasLimiters(Protocol):
    @property
    def limiters(self) -> tuple[RateLimiter, ...]: ...


class StoreWindows:
    """`SharedWindows` on the state database: one short transaction per admitted request."""

    def __init__(self, store: Store, *, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.clock = clock  # None: the database's clock, read under the key's lock; tests inject one

    async def take(self, key: str, rates: Sequence[tuple[int, float]]) -> float:
        async with self.store.begin() as tx:
            return await tx.rate_windows.take(key, rates, self.clock)  # read once the key's lock is held


def shared_windows(config: SyncConfig, store: Store) -> StoreWindows | RedisWindows | None:
    """Where this process counts its rate windows with the others: Redis when `state.redis_url` is set
    (any state database), else the state database on PostgreSQL, else nowhere (SQLite: one process).

    A RedisWindows owns a client: whoever asked for it closes it (`SyncRunner.aclose`).
    """
    if config.redis_url is not None:
        return RedisWindows(config.redis_url.get_secret_value())
    if store.dialect == "postgresql":
        return StoreWindows(store)
    return None


def share_rate_limits(connectors: Mapping[str, Connector], windows: SharedWindows) -> int:
    """Make every connector's rate windows count in `windows`; returns how many limiters now share."""
    shared = 0
    for connector in connectors.values():
        limiters: tuple[RateLimiter, ...] = getattr(connector, "limiters", ())  # test doubles may have none
        for limiter in limiters:
            limiter.share(windows)
            shared += 1
    return shared


__all__ = ["StoreWindows", "share_rate_limits", "shared_windows"]
