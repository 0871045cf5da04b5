"""merges.absorb: a survivor read with ids of its own canonical record takes their place and their reports go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from crmsync.engine.context import SyncContext
from crmsync.engine.merges import DUPLICATE, absorb
from crmsync.store import Link, Store, SyncErrorReport, open_store
from tests.unit.engine.test_inspect import make_config
from tests.unit.store.helpers import FakeClock

OBJECT = "contacts"  # HubSpot's contacts, as the test config maps them for the connection `hs`


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def ctx(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SyncContext]:
    config = make_config(tmp_path)
    store = await open_store(config.state_url, clock=clock)
    try:
        yield SyncContext(config, store, {}, clock)
    finally:
        await store.aclose()


async def linked(store: Store, clock: FakeClock, *remote_ids: str) -> None:
    """c1 linked to `remote_ids` in hs, oldest first, the others reported as duplicates of the first."""
    async with store.begin() as tx:
        await tx.links.link_many([Link("c1", "contact", "hs", OBJECT, r) for r in remote_ids])
        for remote_id in remote_ids[1:]:
            report = SyncErrorReport("hs", OBJECT, "link", "duplicate", "c1", remote_id, code=DUPLICATE)
            await tx.errors.record(report)
    clock.advance(timedelta(seconds=1))  # the next run


async def absorbed(ctx: SyncContext, survivor: str, *merged: str) -> tuple[list[str], list[str]]:
    """Apply the merge; the links of c1 in hs (oldest first) and the records reported as duplicates after it."""
    async with ctx.store.begin() as tx:
        await absorb(ctx, tx, "contact", "hs", "c1", survivor, merged)
    async with ctx.store.read() as tx:
        links = [link.remote_id for link in await tx.links.remote_links("c1", "hs")]
        reported = sorted(str(e.report.remote_id) for e in await tx.errors.list() if e.report.code == DUPLICATE)
    return links, reported


async def test_a_new_id_absorbing_the_synced_record_takes_its_place(ctx: SyncContext, clock: FakeClock) -> None:
    await linked(ctx.store, clock, "501", "502")
    assert await absorbed(ctx, "900", "501") == (["900", "502"], ["502"])


async def test_a_new_id_absorbing_a_reported_duplicate_is_reported_in_its_place(
    ctx: SyncContext, clock: FakeClock
) -> None:
    await linked(ctx.store, clock, "501", "502")
    assert await absorbed(ctx, "100", "502") == (["501", "100"], ["100"])


async def test_a_duplicate_absorbing_the_synced_record_is_synced_and_no_longer_reported(
    ctx: SyncContext, clock: FakeClock
) -> None:
    await linked(ctx.store, clock, "501", "502", "503")
    assert await absorbed(ctx, "503", "501") == (["503", "502"], ["502"])


async def test_the_synced_record_absorbing_its_duplicates_settles_their_reports(
    ctx: SyncContext, clock: FakeClock
) -> None:
    await linked(ctx.store, clock, "501", "502", "503")
    assert await absorbed(ctx, "501", "502", "503") == (["501"], [])


async def test_ids_absorbed_earlier_change_nothing(ctx: SyncContext, clock: FakeClock) -> None:
    # HubSpot lists every id a survivor absorbed on each full read of it.
    await linked(ctx.store, clock, "501", "502")
    assert await absorbed(ctx, "502", "400") == (["501", "502"], ["502"])
