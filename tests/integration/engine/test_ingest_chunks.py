"""A page larger than a chunk is committed in several transactions; only the last carries the cursor."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.engine import ingest
from crmsync.engine.context import SyncContext
from crmsync.model.values import ObjectKind
from tests.integration.engine.conftest import Crm

PEOPLE = 7


async def _hubspot_people(crm: Crm) -> list[str]:
    return [
        await crm.sb.hubspot.create("contact", {"lastname": f"Chunk{n}", "email": f"chunk{n}@chunks.example"})
        for n in range(PEOPLE)
    ]


async def _cursor(crm: Crm) -> str | None:
    async with crm.store.read() as tx:
        return await tx.cursors.get("hubspot", crm.sb.objects["hubspot"]["contact"])


async def test_a_page_of_seven_in_chunks_of_three_syncs_every_record_once(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "CHUNK", 3)
    created = await _hubspot_people(crm)
    report = await crm.sync(kinds=["contact"])
    assert report.total("read", "contact") >= PEOPLE
    for remote_id in created:
        await crm.twin("contact", "hubspot", remote_id, "salesforce")
        await crm.twin("contact", "hubspot", remote_id, "dynamics")
    assert len(await crm.sb.salesforce.query("SELECT Id FROM Contact")) == PEOPLE
    assert await _cursor(crm) is not None
    again = await crm.sync(kinds=["contact"])
    assert again.total("created") + again.total("updated") == 0


async def test_a_failure_in_a_later_chunk_leaves_the_cursor_and_the_rerun_converges(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "CHUNK", 3)
    created = await _hubspot_people(crm)
    real = ingest._ingest_chunk
    calls = {"hubspot": 0}

    async def second_chunk_fails(
        ctx: SyncContext,
        kind: ObjectKind,
        connection: str,
        upserts: Sequence[RemoteRecord],
        tombstones: Sequence[Tombstone],
        cursor: str | None,
        complete: Sequence[int],
    ) -> ingest.PageOutcome:
        if connection == "hubspot" and kind == "contact":
            calls["hubspot"] += 1
            if calls["hubspot"] == 2:
                raise RuntimeError("the process died between two chunks of a page")
        return await real(ctx, kind, connection, upserts, tombstones, cursor, complete)

    monkeypatch.setattr(ingest, "_ingest_chunk", second_chunk_fails)
    with pytest.raises(RuntimeError, match="between two chunks"):
        await crm.sync(kinds=["contact"])
    assert calls["hubspot"] == 2
    assert await _cursor(crm) is None  # the first chunk committed without the cursor: the page is read again
    monkeypatch.setattr(ingest, "_ingest_chunk", real)
    await crm.sync(kinds=["contact"])
    for remote_id in created:
        await crm.twin("contact", "hubspot", remote_id, "salesforce")
    assert len(await crm.sb.salesforce.query("SELECT Id FROM Contact")) == PEOPLE  # no duplicate create
    assert len(await crm.sb.dynamics.find("contact", "lastname", "Chunk0")) == 1
