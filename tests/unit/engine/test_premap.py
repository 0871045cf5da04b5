"""Pages read ahead are mapped in the background between turns of the event loop, and finished when taken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord
from crmsync.engine.premap import SLICE, PreMapper, handed_over
from crmsync.engine.report import RunReport
from crmsync.mapping import build_transform
from crmsync.mapping.rules import FieldRule, ObjectMap

AT = datetime(2026, 11, 27, tzinfo=UTC)
OBJECT_MAP = ObjectMap(
    "contact", "salesforce", "Contact", (FieldRule(("title",), ("Title",), build_transform("text", {}, 1, 1)),)
)


def _page(n: int, prefix: str = "r") -> ChangePage:
    upserts = tuple(RemoteRecord("Contact", f"{prefix}{i}", {"Title": f"  Title {i} "}, AT) for i in range(n))
    return ChangePage(upserts, (), Cursor(f"after-{prefix}"), more=True)


async def test_take_returns_every_record_mapped_in_order_even_before_the_background_started() -> None:
    mapper = PreMapper(OBJECT_MAP, RunReport())
    page = _page(3 * SLICE + 7)
    item = mapper.add(page)
    mapped = mapper.take(item)  # no turn of the loop yet: all mapped now
    assert [m.fields for m in mapped] == [{"title": f"Title {i}"} for i in range(3 * SLICE + 7)]
    await mapper.aclose()


async def test_the_background_maps_a_slice_per_turn_and_take_finishes_the_rest() -> None:
    mapper = PreMapper(OBJECT_MAP, RunReport())
    item = mapper.add(_page(3 * SLICE))
    await asyncio.sleep(0)  # the task starts
    await asyncio.sleep(0)  # its first slice
    assert 0 < len(item.mapped) < 3 * SLICE  # never the whole page in one turn: the store's statements go out
    partly = len(item.mapped)
    mapped = mapper.take(item)
    assert len(mapped) == 3 * SLICE
    assert mapped[partly].fields == {"title": f"Title {partly}"}  # continued where the background stopped
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(item.mapped) == 3 * SLICE  # the background task found nothing left to do
    await mapper.aclose()


async def test_given_turns_the_background_maps_whole_pages_and_times_it_as_reconcile() -> None:
    report = RunReport()
    mapper = PreMapper(OBJECT_MAP, report)
    items = [mapper.add(_page(2 * SLICE, prefix=p)) for p in "ab"]
    for _ in range(10):
        await asyncio.sleep(0)
    assert [len(item.mapped) for item in items] == [2 * SLICE, 2 * SLICE]
    assert report.timings["reconcile"] > 0
    await mapper.aclose()


async def test_pages_are_handed_over_as_read_and_closing_closes_the_reader() -> None:
    closed: list[bool] = []

    async def pages() -> AsyncIterator[ChangePage]:
        try:
            for prefix in "abc":
                yield _page(2, prefix)
        finally:
            closed.append(True)

    mapper = PreMapper(OBJECT_MAP, RunReport())
    handed = handed_over(pages(), mapper)
    first = await anext(handed)
    assert first.page.upserts[0].id == "a0" and first.mapped == []  # handed over before it is mapped
    await handed.aclose()  # type: ignore[attr-defined]
    assert closed == [True]
    await mapper.aclose()


async def test_closing_cancels_the_mapping_still_running() -> None:
    mapper = PreMapper(OBJECT_MAP, RunReport())
    item = mapper.add(_page(10 * SLICE))
    await asyncio.sleep(0)
    await mapper.aclose()
    mapped = len(item.mapped)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(item.mapped) == mapped < 10 * SLICE
