"""Map the records of pages read ahead in the background, while the runner waits for the store.

The runner waits for SQLite's thread for about 30 % of a full sync (a py-spy profile at 65k records);
mapping (pure code, half of it parsing phone numbers) can fill that wait. Pages are handed over as soon as
they are read, so the runner still sees every page that is queued; whatever was not mapped by then is
mapped when the runner takes the page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from crmsync.connectors.base import ChangePage
from crmsync.engine.report import RunReport
from crmsync.mapping import Mapped, ObjectMap

SLICE = 50
"""Records mapped between two turns of the event loop: the store's next statement must not wait for long."""


@dataclass(slots=True)
class PageInMapping:
    """A page read ahead and `map_in` of its first `len(mapped)` upserts so far."""

    page: ChangePage
    mapped: list[Mapped] = field(default_factory=list)


class PreMapper:
    """Maps pages in background tasks, a slice per turn of the event loop; `take` finishes a page at once."""

    def __init__(self, object_map: ObjectMap, report: RunReport) -> None:
        self._map = object_map
        self._report = report
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, page: ChangePage) -> PageInMapping:
        item = PageInMapping(page)
        if page.upserts:
            task = asyncio.create_task(self._fill(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return item

    def take(self, item: PageInMapping) -> list[Mapped]:
        """`map_in` of every upsert of the page, in order (the rest mapped now)."""
        self._map_up_to(item, len(item.page.upserts))
        return item.mapped

    async def _fill(self, item: PageInMapping) -> None:
        while len(item.mapped) < len(item.page.upserts):
            await asyncio.sleep(0)  # a turn of the loop first: the store's next statement goes out
            self._map_up_to(item, len(item.mapped) + SLICE)

    def _map_up_to(self, item: PageInMapping, end: int) -> None:
        todo = item.page.upserts[len(item.mapped) : end]
        if todo:
            with self._report.timed("reconcile"):
                item.mapped.extend(self._map.map_in(record.fields) for record in todo)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def handed_over(pages: AsyncIterator[ChangePage], mapper: PreMapper) -> AsyncIterator[PageInMapping]:
    """Each page as soon as it is read, its mapping started; closing this closes the connector's reader."""
    try:
        async for page in pages:
            yield mapper.add(page)
    finally:
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


__all__ = ["SLICE", "PageInMapping", "PreMapper", "handed_over"]
