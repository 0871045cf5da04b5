"""Read pages ahead in a background task, so the CRM serves the next page while the engine stores this one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Items of an async iterator, fetched up to `depth` ahead; the producer's exception reaches the consumer."""

    def __init__(self, source: AsyncIterator[T], depth: int) -> None:
        if depth < 1:
            raise ValueError("read-ahead depth must be at least 1")
        self._source = source
        # Each entry: (item, None), or (None, the producer's exception), or (None, None) at the end.
        self._queue: asyncio.Queue[tuple[T | None, Exception | None]] = asyncio.Queue(maxsize=depth)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._produce())

    async def _produce(self) -> None:
        try:
            async for item in self._source:
                await self._queue.put((item, None))
        except Exception as exc:  # handed to the consumer, which raises it where it reads
            await self._queue.put((None, exc))
            return
        await self._queue.put((None, None))

    async def next(self) -> T | None:
        """The next item, or None at the end."""
        item, error = await self._queue.get()
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
async def read_ahead(source: AsyncIterator[T], depth: int) -> AsyncIterator[ReadAhead[T]]:
    ahead = ReadAhead(source, depth)
    ahead.start()
    try:
        yield ahead
    finally:
        await ahead.aclose()


__all__ = ["ReadAhead", "read_ahead"]
