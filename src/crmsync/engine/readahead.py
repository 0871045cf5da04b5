"""Read pages ahead in a background task, so the CRM serves the next page while the engine stores this one."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def _weightless(_item: object) -> int:
    return 0


class ReadAhead(Generic[T]):
    """Items of an async iterator fetched ahead; the producer's exception reaches the consumer.

    The producer queues up to `depth` items, and more while what is queued weighs less than `budget`:
    with pages weighed by their records, a CRM's small pages (HubSpot's 100) queue until they make up
    a transaction's worth, and its large ones (Dataverse's 5,000) still stop at `depth` (invariant 7).
    """

    def __init__(
        self, source: AsyncIterator[T], depth: int, *, weight: Callable[[T], int] = _weightless, budget: int = 0
    ) -> None:
        if depth < 1:
            raise ValueError("read-ahead depth must be at least 1")
        self._source = source
        self._depth = depth
        self._weight = weight
        self._budget = budget
        # Each entry: (item, None), or (None, the producer's exception), or (None, None) at the end.
        self._queued: deque[tuple[T | None, Exception | None]] = deque()
        self._queued_weight = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._produce())

    def _has_room(self) -> bool:
        return len(self._queued) < self._depth or self._queued_weight < self._budget

    async def _put(self, item: T | None, error: Exception | None) -> None:
        async with self._changed:
            await self._changed.wait_for(self._has_room)
            self._queued.append((item, error))
            self._queued_weight += self._weight(item) if item is not None else 0
            self._changed.notify_all()

    async def _produce(self) -> None:
        try:
            async for item in self._source:
                await self._put(item, None)
        except Exception as exc:  # handed to the consumer, which raises it where it reads
            await self._put(None, exc)
            return
        await self._put(None, None)

    def ready(self) -> bool:
        """Whether `next()` returns at once (an item, the end, or the producer's error is queued)."""
        return bool(self._queued)

    def peek(self) -> T | None:
        """The next item if one is queued, left in the queue (None: nothing queued, the end, or an error)."""
        return self._queued[0][0] if self._queued else None

    async def next(self) -> T | None:
        """The next item, or None at the end."""
        async with self._changed:
            await self._changed.wait_for(self.ready)
            item, error = self._queued.popleft()
            self._queued_weight -= self._weight(item) if item is not None else 0
            self._changed.notify_all()
        if error is not None:
            raise error
        return item

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


@contextlib.asynccontextmanager
async def read_ahead(
    source: AsyncIterator[T], depth: int, *, weight: Callable[[T], int] = _weightless, budget: int = 0
) -> AsyncIterator[ReadAhead[T]]:
    ahead = ReadAhead(source, depth, weight=weight, budget=budget)
    ahead.start()
    try:
        yield ahead
    finally:
        await ahead.aclose()


__all__ = ["ReadAhead", "read_ahead"]
