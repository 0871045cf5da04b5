"""changes(): full reads, incremental windows under the search cap, shared stamps, tombstones and merges."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crmsync.connectors.base import Cursor
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.emulators.hubspot import HubSpotEmulator
from crmsync.errors import ConfigError
from tests.unit.connectors.hubspot.conftest import MakeConnector, api, control
from tests.unit.connectors.hubspot.helpers import advance, create, drain, update

FIELDS = ["email", "firstname"]


async def test_full_read_streams_every_record_with_links(client: httpx.AsyncClient, make: MakeConnector) -> None:
    await control(client, "POST", "seed", {"records": 400})
    expected = (await control(client, "GET", ""))["counts"]
    connector = make(page_size=7)
    upserts, tombstones, _, pages = await drain(connector, "contacts", None, fields=FIELDS)
    assert len(upserts) == len({r.id for r in upserts}) == expected["contacts"]
    assert tombstones == []
    assert all(len(p.upserts) <= 7 for p in pages) and all(p.more for p in pages[:-1])
    assert all(set(r.links) == {"company"} for r in upserts)
    assert any(r.links["company"] for r in upserts)
    deals, _, _, _ = await drain(connector, "deals", None, fields=["dealname"])
    assert all(set(r.links) == {"company", "contact"} for r in deals)
    assert any(r.links["contact"] for r in deals)


async def test_full_read_resumes_from_a_page_cursor(client: httpx.AsyncClient, make: MakeConnector) -> None:
    await create(client, "companies", 30, name="Co {i}")
    connector = make(page_size=10)
    first: Cursor | None = None
    async for page in connector.changes("companies", None, fields=["name"]):
        first = page.cursor
        break
    assert first is not None
    rest, _, _, _ = await drain(connector, "companies", first, fields=["name"])
    assert len(rest) == 20


async def test_incremental_delivers_edits_creates_once(client: httpx.AsyncClient, make: MakeConnector) -> None:
    ids = await create(client, "contacts", 20, email="p{i}@example.com")
    connector = make(lookback_s=5.0)
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    again, _, cursor, _ = await drain(connector, "contacts", cursor, fields=FIELDS)
    assert again == []  # the lookback window re-reads, the cursor's ids keep it from delivering twice
    await advance(client, 1000)
    await update(client, "contacts", ids[3], firstname="Edited")
    fresh = await create(client, "contacts", 2, email="n{i}@example.com")
    upserts, _, cursor, _ = await drain(connector, "contacts", cursor, fields=FIELDS)
    assert sorted(r.id for r in upserts) == sorted([ids[3], *fresh])
    assert next(r for r in upserts if r.id == ids[3]).fields["firstname"] == "Edited"
    assert (await drain(connector, "contacts", cursor, fields=FIELDS))[0] == []


async def test_records_sharing_a_stamp_across_pages_and_windows(client: httpx.AsyncClient, make: MakeConnector) -> None:
    connector = make(search_page_size=7, search_result_cap=30)
    _, _, cursor, _ = await drain(connector, "companies", None, fields=["name"])
    await advance(client, 1000)
    await control(client, "POST", "clock", {"freeze": True})
    shared = await create(client, "companies", 45, name="Same stamp {i}")  # one stamp, more than a window
    await advance(client, 1)
    later = await create(client, "companies", 50, name="Later {i}")
    for step, record_id in enumerate(later[:20]):
        await advance(client, 1 if step % 3 == 0 else 0)
        await update(client, "companies", record_id, name=f"edited {step}")
    sorts: list[str] = []
    send = connector.search_http.request

    async def spy(method: str, path: str, **kw: Any) -> httpx.Response:
        sorts.append(kw["json"]["sorts"][0]["propertyName"])
        return await send(method, path, **kw)

    connector.search_http.request = spy  # type: ignore[method-assign]
    upserts, _, cursor, pages = await drain(connector, "companies", cursor, fields=["name"])
    ids = [r.id for r in upserts]
    assert sorted(ids) == sorted(shared + later) and len(ids) == len(set(ids))
    assert len(pages) > 5
    assert "hs_object_id" in sorts  # more than a window shared one stamp: it was walked by id
    assert (await drain(connector, "companies", cursor, fields=["name"]))[0] == []


async def test_edits_during_an_offset_read_do_not_skip_records(client: httpx.AsyncClient, make: MakeConnector) -> None:
    connector = make(search_page_size=10)
    _, _, cursor, _ = await drain(connector, "companies", None, fields=["name"])
    await advance(client, 1000)
    ids = []
    for i in range(40):
        await advance(client, 1)
        ids += await create(client, "companies", 1, name=f"Co {i}")
    seen: list[str] = []
    async for page in connector.changes("companies", cursor, fields=["name"]):
        seen += [r.id for r in page.upserts]
        if len(seen) == 10:  # the read is at offset 9: edit a record it already passed (the list shifts left)
            await advance(client, 1)
            await update(client, "companies", ids[0], name="moved to the end")
    assert set(seen) == set(ids)
    assert seen.count(ids[0]) == 2


async def test_deletes_are_tombstones_and_absence_is_not(client: httpx.AsyncClient, make: MakeConnector) -> None:
    ids = await create(client, "deals", 5, dealname="Deal {i}")
    connector = make()
    _, _, cursor, _ = await drain(connector, "deals", None, fields=["dealname"])
    await advance(client, 1000)
    response = await api(client, "POST", "/crm/v3/objects/deals/batch/archive", {"inputs": [{"id": ids[1]}]})
    assert response.status_code == 204
    upserts, tombstones, cursor, _ = await drain(connector, "deals", cursor, fields=["dealname"])
    assert upserts == [] and [(t.id, t.merged_into) for t in tombstones] == [(ids[1], None)]
    assert tombstones[0].deleted_at is not None
    assert (await drain(connector, "deals", cursor, fields=["dealname"]))[1] == []


async def test_merges_repoint_instead_of_deleting(client: httpx.AsyncClient, make: MakeConnector) -> None:
    ids = await create(client, "contacts", 2, email="m{i}@example.com")
    connector = make()
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    await advance(client, 1000)
    merged = await control(
        client, "POST", "merge", {"objectType": "contacts", "primaryObjectId": ids[0], "objectIdToMerge": ids[1]}
    )
    upserts, tombstones, _, _ = await drain(connector, "contacts", cursor, fields=FIELDS)
    assert [r.id for r in upserts] == [merged["id"]]
    assert set(upserts[0].merged_ids) == set(ids)
    assert {(t.id, t.merged_into) for t in tombstones} == {(ids[0], merged["id"]), (ids[1], merged["id"])}


async def test_full_read_when_empty_then_new_records(client: httpx.AsyncClient, connector: HubSpotConnector) -> None:
    upserts, _, cursor, pages = await drain(connector, "notes", None, fields=["hs_note_body"])
    assert upserts == [] and len(pages) == 1
    await create(client, "notes", 3, hs_note_body="note {i}")
    assert len((await drain(connector, "notes", cursor, fields=["hs_note_body"]))[0]) == 3


async def test_fields_default_to_every_property(client: httpx.AsyncClient, connector: HubSpotConnector) -> None:
    await create(client, "contacts", 1, email="all@example.com", jobtitle="CTO")
    upserts, _, _, _ = await drain(connector, "contacts", None)
    assert upserts[0].fields["jobtitle"] == "CTO" and "lifecyclestage" in upserts[0].fields


async def test_bad_or_foreign_cursors_are_config_errors(connector: HubSpotConnector) -> None:
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    with pytest.raises(ConfigError, match="hs-test"):
        await drain(connector, "companies", cursor)
    with pytest.raises(ConfigError, match="not a HubSpot change cursor"):
        await drain(connector, "contacts", Cursor("garbage"))
    with pytest.raises(ConfigError, match="not supported"):
        await drain(connector, "tickets", None)


async def test_search_calls_stay_under_the_search_limit(vendor: HubSpotEmulator, make: MakeConnector) -> None:
    vendor.limits.configure(1_000_000, 1_000_000, 5)
    connector = make(search_per_second=5)
    state = connector.search_limiter.state()
    assert state["in_flight"] == 0
    assert connector.search_limiter.rates[0].limit == 5 and connector.search_limiter.rates[0].period_s == 1.0
