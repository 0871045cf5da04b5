"""A page larger than a chunk is committed in several transactions; only the last carries the cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone
from crmsync.connectors.hubspot.connector import HubSpotConnector
from crmsync.engine import ingest, runner
from crmsync.engine.context import SyncContext
from crmsync.engine.ingest_types import PageOutcome
from crmsync.errors import CrmSyncError
from crmsync.mapping import Mapped
from crmsync.model.values import ObjectKind
from crmsync.store import open_store
from crmsync.testing.sandbox import Sandbox
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
        mapped: Sequence[Mapped] | None,
        tombstones: Sequence[Tombstone],
        cursor: str | None,
        complete: Sequence[int],
    ) -> PageOutcome:
        if connection == "hubspot" and kind == "contact":
            calls["hubspot"] += 1
            if calls["hubspot"] == 2:
                raise RuntimeError("the process died between two chunks of a page")
        return await real(ctx, kind, connection, upserts, mapped, tombstones, cursor, complete)

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


async def test_small_pages_read_by_then_commit_together_and_a_failed_read_keeps_what_came_before(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot pages of 2: the pages queued when one is stored join its transaction, the cursor of the last one
    with them; when the next read fails, the pages read before it are stored first and the cursor stays there."""
    await sandbox.reset()
    config = sandbox.load_config(tmp_path, objects_yaml="contact: {}", connections={"hubspot": {"page_size": 2}})
    store = await open_store(config.state_url)
    crm = Crm(sandbox, config, store)
    try:
        created = await _hubspot_people(crm)  # seven: four pages of two
        real_changes = HubSpotConnector.changes
        read_pages: list[ChangePage] = []

        async def three_pages_then_down(
            self: HubSpotConnector, object: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None
        ) -> AsyncIterator[ChangePage]:
            # Every page is read before the first is handed over, so all are queued when the first is stored.
            pages = [page async for page in real_changes(self, object, cursor, fields=fields)]
            for page in pages:
                if object == crm.sb.objects["hubspot"]["contact"] and len(read_pages) == 3:
                    raise CrmSyncError("HubSpot answered 503 on the fourth page")
                read_pages.append(page)
                yield page

        real_ingest = ingest.ingest_page
        stored: list[tuple[str, int, str | None]] = []

        async def recording(
            ctx: SyncContext,
            kind: ObjectKind,
            connection: str,
            upserts: Sequence[RemoteRecord],
            tombstones: Sequence[Tombstone],
            cursor: str | None,
            *,
            complete: Sequence[int] = (),
            mapped: Sequence[Mapped] | None = None,
        ) -> PageOutcome:
            stored.append((connection, len(upserts), cursor))
            return await real_ingest(
                ctx, kind, connection, upserts, tombstones, cursor, complete=complete, mapped=mapped
            )

        monkeypatch.setattr(HubSpotConnector, "changes", three_pages_then_down)
        monkeypatch.setattr(runner, "ingest_page", recording)
        report = await crm.sync(kinds=["contact"])
        assert [f for f in report.failures if "fourth page" in f] == [
            "read contact hubspot: HubSpot answered 503 on the fourth page"
        ]
        assert [(n, cursor) for connection, n, cursor in stored if connection == "hubspot"] == [
            (6, str(read_pages[2].cursor))
        ]
        assert await _cursor(crm) == str(read_pages[2].cursor)
        synced = [rid for rid in created if await crm.canonical("contact", "hubspot", rid) is not None]
        assert len(synced) == 6

        monkeypatch.setattr(HubSpotConnector, "changes", real_changes)
        await crm.sync(kinds=["contact"])  # from the stored cursor: the seventh arrives, nothing twice
        for remote_id in created:
            await crm.twin("contact", "hubspot", remote_id, "salesforce")
        assert len(await crm.sb.salesforce.query("SELECT Id FROM Contact")) == PEOPLE
    finally:
        await store.aclose()
