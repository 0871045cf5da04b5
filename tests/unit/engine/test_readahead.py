"""Reading ahead keeps order, ends cleanly, hands the producer's error to the consumer, and stays bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from crmsync.engine.readahead import ReadAhead, read_ahead


async def _numbers(n: int, produced: list[int], fail_at: int | None = None) -> AsyncIterator[int]:
    for i in range(n):
        if i == fail_at:
            raise RuntimeError(f"page {i} failed")
        produced.append(i)
        yield i


async def test_items_arrive_in_order_then_none() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(5, produced), 2) as ahead:
        got = [await ahead.next() for _ in range(6)]
    assert got == [0, 1, 2, 3, 4, None]


async def test_the_producers_error_is_raised_where_the_consumer_reads() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(5, produced, fail_at=2), 2) as ahead:
        assert await ahead.next() == 0
        assert await ahead.next() == 1
        with pytest.raises(RuntimeError, match="page 2 failed"):
            await ahead.next()


async def test_reads_at_most_depth_ahead_of_the_consumer() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(100, produced), 2) as ahead:
        assert await ahead.next() == 0
        for _ in range(10):  # let the producer run as far as the queue allows
            await asyncio.sleep(0)
        # One item taken, two queued, one more held by the producer waiting for room: never the whole source.
        assert len(produced) <= 4


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReadAhead(_numbers(1, []), 0)


async def _queued_behind_the_first(ahead: ReadAhead[int]) -> list[int | None]:
    """Take the first item, let the producer run as far as it may, then take what it queued meanwhile."""
    assert await ahead.next() == 0
    for _ in range(50):
        await asyncio.sleep(0)  # turns of the event loop, not time
    queued = []
    while ahead.ready():
        queued.append(await ahead.next())
    return queued


async def test_light_items_queue_past_depth_until_they_weigh_the_budget() -> None:
    produced: list[int] = []
    # Each item weighs 100 (a HubSpot page of records): depth 2, but 500 may wait.
    async with read_ahead(_numbers(100, produced), 2, weight=lambda _: 100, budget=500) as ahead:
        queued = await _queued_behind_the_first(ahead)
        # Five queued (500 weighed) before the producer waited: more than depth, never the whole source.
        assert queued == [1, 2, 3, 4, 5]
        assert len(produced) <= 7


async def test_heavy_items_still_stop_at_depth() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(100, produced), 2, weight=lambda _: 5000, budget=1000) as ahead:
        assert await _queued_behind_the_first(ahead) == [1, 2]


async def test_ready_says_whether_next_would_wait() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(1, produced), 2) as ahead:
        for _ in range(10):
            await asyncio.sleep(0)
        assert ahead.ready()
        assert await ahead.next() == 0
        assert ahead.ready()  # the end is queued too
        assert await ahead.next() is None
        assert not ahead.ready()


async def test_peek_shows_the_next_item_and_leaves_it_queued() -> None:
    produced: list[int] = []
    async with read_ahead(_numbers(2, produced), 1) as ahead:
        assert await ahead.next() == 0
        for _ in range(10):
            await asyncio.sleep(0)
        assert ahead.peek() == 1
        assert await ahead.next() == 1
        for _ in range(10):
            await asyncio.sleep(0)
        assert ahead.ready()
        assert ahead.peek() is None  # the end is queued: no item to show
        assert await ahead.next() is None


async def test_peek_shows_no_item_where_the_producer_failed() -> None:
    async with read_ahead(_numbers(3, [], fail_at=1), 1) as ahead:
        assert await ahead.next() == 0
        for _ in range(10):
            await asyncio.sleep(0)
        assert ahead.ready() and ahead.peek() is None
        with pytest.raises(RuntimeError, match="page 1 failed"):
            await ahead.next()
