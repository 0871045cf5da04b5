"""Rate windows shared through the state database: limiters in several processes admit no more than the limit."""

from __future__ import annotations

import asyncio
import math

import pytest
import sqlalchemy as sa

from crmsync.connectors.limits import Rate, RateLimiter
from crmsync.engine.shared_limits import StoreWindows
from crmsync.store import Store, open_store
from crmsync.store.rate_windows import SLICES
from crmsync.store.tables import rate_windows
from tests.integration.store.shared_limits_support import ADMISSION_BLUR_S, admit_together, most_in_any

pytestmark = pytest.mark.postgres


async def test_a_window_admits_its_limit_then_says_how_long_to_wait(store: Store) -> None:
    rates = [(3, 10.0)]
    now = 1_000.0
    async with store.begin() as tx:
        admitted = [await tx.rate_windows.take("hubspot", rates, now + i) for i in range(3)]
        refused = await tx.rate_windows.take("hubspot", rates, now + 3)
    assert admitted == [0.0, 0.0, 0.0]
    # The first request (at 1,000 s, in the slice [1,000, 1,001)) leaves the 10 s window at 1,011 s.
    assert refused == pytest.approx(1_011.0 - 1_003.0)
    async with store.begin() as tx:
        assert await tx.rate_windows.take("hubspot", rates, 1_011.0) == 0.0
        assert await tx.rate_windows.take("salesforce", rates, now) == 0.0  # another key counts apart


async def test_every_rate_of_a_key_must_admit(store: Store) -> None:
    rates = [(2, 1.0), (100, 60.0)]
    async with store.begin() as tx:
        assert [await tx.rate_windows.take("dv", rates, 5.0 + i / 10) for i in range(2)] == [0.0, 0.0]
        assert await tx.rate_windows.take("dv", rates, 5.2) > 0  # the 1 s window is full, the minute is not
        assert await tx.rate_windows.take("dv", rates, 6.2) == 0.0
    assert SLICES == 10


async def test_limiters_in_several_processes_stay_under_one_limit_together(store: Store, store_url: str) -> None:
    """Three limiters, each with its own database connection as separate workers have, share 5 requests a second."""
    others = [await open_store(store_url, migrate_schema=False) for _ in range(3)]
    limiters = [RateLimiter("hubspot", [Rate(5, 1.0)], concurrency=8) for _ in others]
    for limiter, other in zip(limiters, others, strict=True):
        limiter.share(StoreWindows(other))
    try:
        admitted = await admit_together(limiters, 6)
    finally:
        for other in others:
            await other.aclose()
    assert len(admitted) == 18
    # In any one second at most 5 requests went, whichever process sent them (slices make it conservative).
    assert most_in_any(admitted, 1.0 - ADMISSION_BLUR_S) <= 5


class FakeClock:
    """Seconds since the epoch that the test moves; stands in for the database's clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_taker_that_waited_for_the_lock_counts_its_request_when_it_got_it(store: Store, store_url: str) -> None:
    """A time read before the key's lock would count the request in a slice that ages out too early."""
    other = await open_store(store_url, migrate_schema=False)
    rates = [(1, 0.1)]  # slices of 10 ms
    clock = FakeClock(1_000.0)

    try:
        async with store.begin() as first:
            assert await first.rate_windows.take("hubspot", rates, clock) == 0.0
            waiting = asyncio.create_task(StoreWindows(other, clock=clock).take("hubspot", rates))
            while not await _someone_waits_for_a_lock(store):  # a query each turn, until PostgreSQL says so
                assert not waiting.done()
            clock.now += 0.15  # the first holds the lock past its whole window
        # Admitted: its time, read once it held the lock, is after the first request left the window (a time read
        # before the lock, 1,000.0, would find the window full and refuse it).
        assert await waiting == 0.0
        async with store.begin() as tx:
            counted = await tx.connection.scalar(sa.select(sa.func.max(rate_windows.c.slice)))
        assert counted == math.floor(clock.now / (0.1 / SLICES))
    finally:
        await other.aclose()


async def test_without_a_clock_the_time_is_the_database_clock_read_under_the_lock(store: Store) -> None:
    async with store.begin() as tx:
        before = float(await tx.connection.scalar(sa.text("SELECT extract(epoch FROM clock_timestamp())")))
        assert await tx.rate_windows.take("hubspot", [(5, 1.0)]) == 0.0
        after = float(await tx.connection.scalar(sa.text("SELECT extract(epoch FROM clock_timestamp())")))
        counted = await tx.connection.scalar(sa.select(sa.func.max(rate_windows.c.slice)))
    assert math.floor(before / (1.0 / SLICES)) <= counted <= math.floor(after / (1.0 / SLICES))


async def _someone_waits_for_a_lock(store: Store) -> bool:
    async with store.begin() as tx:
        waiting = await tx.connection.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    return bool(waiting)
