"""Rate windows shared through the state database: several processes admit requests under one vendor limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.tables import rate_windows

SLICES = 10
"""Each window is counted in this many slices; the partly expired oldest slice still counts (never over-admits)."""


class RateWindows:
    """Admit one request under every `(limit, period_s)` of a key, counting what every process admitted."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def take(
        self, key: str, rates: Sequence[tuple[int, float]], now: float | Callable[[], float] | None = None
    ) -> float:
        """0.0 when the request is admitted (and counted); else the seconds until it may fit (nothing counted).

        Call it in its own transaction: on PostgreSQL a transaction-level advisory lock serialises the
        takers of one key. `now` (seconds since the epoch, or a clock read once the lock is held) is for
        tests; by default the time is read once the lock is held, on PostgreSQL from the database's clock.
        A time read before the lock would go stale while other takers hold it and count the request in a
        slice that ages out too early; the database's clock is the one that machines with drifting clocks
        agree on.
        """
        postgres = self._db.dialect.name == "postgresql"
        if postgres:
            await self._db.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
        if callable(now):
            now = now()  # a test's clock, read where the database's would be
        if now is None:
            if postgres:
                now = float(await self._db.scalar(sa.text("SELECT extract(epoch FROM clock_timestamp())")))
            else:
                now = time.time()
        wait = 0.0
        slices: list[tuple[str, int]] = []
        for limit, period_s in rates:
            width = period_s / SLICES
            current = math.floor(now / width)
            window_key = f"{key}@{period_s:g}s"
            rows = await self._db.execute(
                sa.select(rate_windows.c.slice, rate_windows.c.requests)
                .where(rate_windows.c.key == window_key, rate_windows.c.slice >= current - SLICES)
                .order_by(rate_windows.c.slice)
            )
            counted = [(int(s), int(n)) for s, n in rows]
            if sum(n for _, n in counted) >= limit:
                # Full until enough slices age out; the oldest leaves the window first.
                freed, needed = 0, sum(n for _, n in counted) - limit + 1
                for slice_, n in counted:
                    freed += n
                    if freed >= needed:
                        wait = max(wait, (slice_ + 1) * width + period_s - now)
                        break
            else:
                slices.append((window_key, current))
        if wait > 0:
            return wait
        insert = postgresql.insert if self._db.dialect.name == "postgresql" else sqlite.insert
        for window_key, current in slices:
            statement = insert(rate_windows).values(key=window_key, slice=current, requests=1)
            await self._db.execute(
                statement.on_conflict_do_update(
                    index_elements=["key", "slice"], set_={"requests": rate_windows.c.requests + 1}
                )
            )
            await self._db.execute(
                sa.delete(rate_windows).where(rate_windows.c.key == window_key, rate_windows.c.slice < current - SLICES)
            )
        return 0.0


__all__ = ["SLICES", "RateWindows"]
