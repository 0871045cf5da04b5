"""`changes()`: tracked full reads, delta links with tombstones and merges, resumption, and the polling fallback."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.dynamics.changes import CursorState
from crmsync.emulators.dynamics import DynamicsConfig
from crmsync.errors import ConfigError

from .conftest import Sleeps, control, settings_for

API = "/api/data/v9.2"


@pytest.fixture
def small_pages(config: DynamicsConfig, client: httpx.AsyncClient, sleeps: Sleeps) -> DynamicsConnector:
    return DynamicsConnector(
        settings_for(config, page_size=5), connection="dv-test", client=client, sleep=sleeps, clock=sleeps.clock
    )


async def _api(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    token = (await control(client, "POST", "token"))["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Prefer": "return=representation"}
    response = await client.request(method, f"{API}/{path}", json=body, headers=headers)
    assert response.status_code < 300, response.text
    return response


async def _create(client: httpx.AsyncClient, entity_set: str, body: dict[str, Any]) -> str:
    entity_id = (await _api(client, "POST", entity_set, body)).headers["OData-EntityId"]
    return entity_id[entity_id.rfind("(") + 1 : -1]


async def _read(
    connector: DynamicsConnector, obj: str, cursor: Cursor | None, **kw: Any
) -> tuple[list[RemoteRecord], list[Tombstone], list[ChangePage]]:
    pages = [page async for page in connector.changes(obj, cursor, **kw)]
    records = [r for p in pages for r in p.upserts]
    tombstones = [t for p in pages for t in p.tombstones]
    return records, tombstones, pages


async def test_full_read_pages_through_everything_once(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ids = [await _create(client, "accounts", {"name": f"Co {i}"}) for i in range(12)]
    records, tombstones, pages = await _read(small_pages, "account", None, fields=["name"])
    assert sorted(r.id for r in records) == sorted(ids)
    assert not tombstones
    assert [len(p.upserts) for p in pages] == [5, 5, 2]
    assert [p.more for p in pages] == [True, True, False]
    assert all(set(r.fields) >= {"name", "accountid", "modifiedon"} for r in records)
    assert orjson.loads(pages[-1].cursor)["mode"] == "delta"


async def test_incremental_read_brings_edits_creates_deletes_and_nothing_else(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ids = [await _create(client, "contacts", {"lastname": f"L{i}"}) for i in range(8)]
    _, _, pages = await _read(small_pages, "contact", None)
    await _api(client, "PATCH", f"contacts({ids[0]})", {"firstname": "Edited"})
    await _api(client, "DELETE", f"contacts({ids[1]})")
    new_id = await _create(client, "contacts", {"lastname": "New"})
    records, tombstones, delta_pages = await _read(small_pages, "contact", pages[-1].cursor)
    assert {r.id for r in records} == {ids[0], new_id}
    assert next(r for r in records if r.id == ids[0]).fields["firstname"] == "Edited"
    assert tombstones == [Tombstone(object="contact", id=ids[1])]
    # Nothing changed since: one empty page, and a fresh delta link so the token never ages out.
    again, gone, empty = await _read(small_pages, "contact", delta_pages[-1].cursor)
    assert (again, gone, len(empty), empty[0].more) == ([], [], 1, False)


async def test_a_merge_is_a_re_point_not_a_delete(connector: DynamicsConnector, client: httpx.AsyncClient) -> None:
    survivor = await _create(client, "accounts", {"name": "Survivor"})
    merged = await _create(client, "accounts", {"name": "Merged away"})
    contact = await _create(
        client, "contacts", {"lastname": "Child", "parentcustomerid_account@odata.bind": f"/accounts({merged})"}
    )
    _, _, pages = await _read(connector, "account", None)
    _, _, contact_pages = await _read(connector, "contact", None)
    await control(client, "POST", "merge", {"table": "account", "target": survivor, "subordinate": merged})
    _, tombstones, _ = await _read(connector, "account", pages[-1].cursor)
    assert tombstones == [
        Tombstone(object="account", id=merged, deleted_at=tombstones[0].deleted_at, merged_into=survivor)
    ]
    assert tombstones[0].deleted_at is not None
    assert survivor not in [t.id for t in tombstones]
    children, _, _ = await _read(connector, "contact", contact_pages[-1].cursor)
    assert [(c.id, c.links["company"]) for c in children] == [(contact, (survivor,))]


async def test_a_cursor_taken_mid_read_resumes_without_gaps(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ids = {await _create(client, "tasks", {"subject": f"T{i}"}) for i in range(11)}
    first = None
    async for page in small_pages.changes("task", None):
        first = page
        break  # the run stops after one page
    assert first is not None and first.more
    rest, _, pages = await _read(small_pages, "task", first.cursor)
    assert {r.id for r in first.upserts} | {r.id for r in rest} == ids
    assert not {r.id for r in first.upserts} & {r.id for r in rest}
    assert orjson.loads(pages[-1].cursor)["mode"] == "delta"


async def test_expired_delta_token_falls_back_to_polling_then_tracks_again(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ids = [await _create(client, "contacts", {"lastname": f"L{i}"}) for i in range(7)]
    _, _, pages = await _read(small_pages, "contact", None)
    await control(client, "POST", "clock", {"advance_ms": 8 * 86_400_000})  # tokens live 7 days
    await _api(client, "PATCH", f"contacts({ids[3]})", {"firstname": "Late"})
    late = await _create(client, "contacts", {"lastname": "Later"})
    records, _, fallback = await _read(small_pages, "contact", pages[-1].cursor)
    # At least once: the poll re-reads the lookback window before the last stamp delivered (here: all 7).
    assert {r.id for r in records} >= {ids[3], late}
    assert next(r for r in records if r.id == ids[3]).fields["firstname"] == "Late"
    assert orjson.loads(fallback[-1].cursor)["mode"] == "delta"
    await _api(client, "PATCH", f"contacts({ids[5]})", {"firstname": "Tracked"})
    again, _, _ = await _read(small_pages, "contact", fallback[-1].cursor)
    assert [r.id for r in again] == [ids[5]]


async def test_a_column_mapped_after_the_delta_link_was_taken_is_read(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ids = [await _create(client, "contacts", {"lastname": f"L{i}"}) for i in range(3)]
    _, _, pages = await _read(small_pages, "contact", None, fields=["lastname"])
    await _api(client, "PATCH", f"contacts({ids[1]})", {"firstname": "Mapped later"})
    # The delta link keeps the first read's $select: a field added to the mapping since must still be read.
    records, _, caught_up = await _read(small_pages, "contact", pages[-1].cursor, fields=["lastname", "firstname"])
    assert next(r for r in records if r.id == ids[1]).fields["firstname"] == "Mapped later"
    assert orjson.loads(caught_up[-1].cursor)["mode"] == "delta"
    await _api(client, "PATCH", f"contacts({ids[2]})", {"firstname": "Tracked"})
    again, _, _ = await _read(small_pages, "contact", caught_up[-1].cursor, fields=["lastname", "firstname"])
    assert [(r.id, r.fields["firstname"]) for r in again] == [(ids[2], "Tracked")]


async def test_polling_delivers_records_sharing_a_stamp_across_pages_and_runs_exactly_once(
    small_pages: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    await control(client, "POST", "clock", {"freeze": True})  # every record gets the same modifiedon
    ids = {await _create(client, "accounts", {"name": f"Same second {i}"}) for i in range(13)}
    cursor = CursorState("poll").encode()
    delivered: list[str] = []
    for _ in range(10):  # one page per run: each run resumes from the previous page's cursor
        page = await anext(aiter(small_pages.changes("account", cursor)))
        delivered.extend(r.id for r in page.upserts)
        cursor = page.cursor
        if not page.more:
            break
    assert sorted(delivered) == sorted(ids)
    state = orjson.loads(cursor)
    assert state["mode"] == "poll"
    assert len(state["ids"]) == 13


async def test_a_cursor_from_elsewhere_is_refused(connector: DynamicsConnector) -> None:
    with pytest.raises(ConfigError, match="dv-test"):
        await _read(connector, "account", Cursor('{"SystemModstamp": "2024"}'))


async def test_links_come_with_the_records(connector: DynamicsConnector, client: httpx.AsyncClient) -> None:
    account = await _create(client, "accounts", {"name": "Parent"})
    contact = await _create(
        client, "contacts", {"lastname": "Kid", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
    )
    deal = await _create(
        client,
        "opportunities",
        {
            "name": "Deal",
            "customerid_account@odata.bind": f"/accounts({account})",
            "parentcontactid@odata.bind": f"/contacts({contact})",
        },
    )
    await _create(
        client, "tasks", {"subject": "Call", "regardingobjectid_opportunity_task@odata.bind": f"/opportunities({deal})"}
    )
    await _create(client, "annotations", {"subject": "Note", "objectid_contact@odata.bind": f"/contacts({contact})"})
    deals, _, _ = await _read(connector, "opportunity", None, fields=["name"])
    tasks, _, _ = await _read(connector, "task", None, fields=["subject"])
    notes, _, _ = await _read(connector, "annotation", None, fields=["subject"])
    assert deals[0].links == {"company": (account,), "contact": (contact,)}
    assert tasks[0].links == {"deal": (deal,)}
    assert notes[0].links == {"contact": (contact,)}
