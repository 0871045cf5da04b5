"""HubSpot-specific conformance: incremental reads of more than the 10,000 results one search can page,
with the vendor's real cap and page size, spread over many stamps and all on one stamp; writes that reach
search's eventually consistent index out of stamp order; and associations changed without a stamp, which
only `read_links` sees."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import Cursor
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator, create_app
from crmsync.emulators.hubspot.routes_search import index_delay_ms

BASE = "http://hubspot.test"


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(HubSpotConfig(ten_second_limit=1_000_000, search_per_second=100_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def connector(client: httpx.AsyncClient, *, links: bool = False, lookback_s: float = 5.0) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=BASE,
        access_token=SecretStr(HubSpotConfig().private_app_token),
        ten_second_limit=1_000_000,
        search_per_second=100_000,
        read_links=links,
        lookback_s=lookback_s,
    )
    return HubSpotConnector(settings, connection="hs-conformance", client=client, sleep=no_sleep)


async def read(hs: HubSpotConnector, cursor: Cursor | None) -> tuple[list[str], Cursor]:
    ids: list[str] = []
    last = cursor
    async for page in hs.changes("contacts", cursor, fields=["email"]):
        ids += [r.id for r in page.upserts]
        last = page.cursor
    assert last is not None
    return ids, last


@pytest.mark.parametrize("one_stamp", [False, True], ids=["many-stamps", "one-stamp"])
async def test_more_than_ten_thousand_changes_arrive_once(client: httpx.AsyncClient, one_stamp: bool) -> None:
    hs = connector(client)
    _, cursor = await read(hs, None)
    await client.post("/_emulator/clock", json={"advance_ms": 60_000, "freeze": one_stamp})
    await client.post("/_emulator/seed", json={"records": 23_000})
    expected = (await client.get("/_emulator")).json()["counts"]["contacts"]
    assert expected > 10_000
    await client.delete("/_emulator/stats")
    ids, cursor = await read(hs, cursor)
    assert len(ids) == len(set(ids)) == expected
    searches = (await client.get("/_emulator/stats")).json()["operations"]["contacts.search"]["calls"]
    # Pages of 200 with a one-record overlap, one restart at the cap; when more than a window shares one
    # stamp, that stamp is walked again by id (the first window's order within a stamp is unspecified).
    minimum = expected / 200
    assert searches <= (minimum + 10_000 / 200 if one_stamp else minimum) * 1.02 + 2
    assert (await read(hs, cursor))[0] == []


LAG_MS = 4_000


@pytest.mark.parametrize(("lookback_s", "missed"), [(5.0, 0), (0.0, 1)], ids=["lookback", "no-lookback"])
async def test_writes_indexed_out_of_stamp_order_still_arrive(lookback_s: float, missed: int) -> None:
    """Search is eventually consistent: an earlier write can reach the index after a later one the read has
    already passed. The connector's lookback re-reads that stretch; without it the earlier write is lost."""
    app = create_app(HubSpotConfig(ten_second_limit=1_000_000, search_per_second=100_000, search_index_lag_ms=LAG_MS))
    vendor: HubSpotEmulator = app.state.vendor
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        hs = connector(client, lookback_s=lookback_s)
        _, cursor = await read(hs, None)
        await client.post("/_emulator/clock", json={"advance_ms": 60_000, "freeze": True})
        created = []
        for n in range(8):
            created.append(await _create(client, "contacts", {"email": f"lag{n}@example.com"}))
            await client.post("/_emulator/clock", json={"advance_ms": 500})
        records = vendor.ctx.portal.store.collection("contacts").records
        shows = {i: records[i].modified_ms + index_delay_ms(records[i], LAG_MS) for i in created}
        # A moment when a later write is searchable and an earlier one is not.
        at = next(
            shows[later]
            for n, later in enumerate(created)
            if any(shows[earlier] > shows[later] for earlier in created[:n])
        )
        await client.post("/_emulator/clock", json={"set_ms": at})
        first, cursor = await read(hs, cursor)
        assert set(first) < set(created)
        await client.post("/_emulator/clock", json={"set_ms": max(shows.values())})
        second, _ = await read(hs, cursor)
    assert len(first) + len(second) == len(set(first + second))  # none twice
    assert len(set(created) - set(first + second)) == missed


async def _create(client: httpx.AsyncClient, object: str, properties: dict[str, str]) -> str:
    response = await client.post(f"/crm/v3/objects/{object}", json={"properties": properties}, headers=_auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _associate(client: httpx.AsyncClient, contact: str, company: str, *, archive: bool = False) -> None:
    if archive:
        path = f"/crm/v4/objects/contacts/{contact}/associations/companies/{company}"
        response = await client.delete(path, headers=_auth())
    else:
        path = f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}"
        response = await client.put(path, headers=_auth())
    assert response.status_code in (200, 204), response.text


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {HubSpotConfig().private_app_token}"}


async def test_a_contact_moved_to_another_company_is_seen_by_read_links_only(client: httpx.AsyncClient) -> None:
    """HubSpot's association change leaves lastmodifieddate alone: the connector says so (`unstamped_links`) and
    reads the current associations of many records at once (`read_links`), one call per 1,000 and role."""
    hs = connector(client, links=True)
    old = await _create(client, "companies", {"name": "Remington Rand"})
    new = await _create(client, "companies", {"name": "Sperry"})
    grace = await _create(client, "contacts", {"email": "grace@remington.example"})
    alone = await _create(client, "contacts", {"email": "alone@example.com"})
    await _associate(client, grace, old)
    _, cursor = await read(hs, None)
    await client.post("/_emulator/clock", json={"advance_ms": 60_000})
    await _associate(client, grace, old, archive=True)
    await _associate(client, grace, new)

    assert (await read(hs, cursor))[0] == []  # the incremental read does not see the move
    assert hs.unstamped_links("contacts") and hs.unstamped_links("deals")
    assert not hs.unstamped_links("companies")  # no links
    assert not hs.unstamped_links("tasks")  # engagements are many and seldom move: scanned only when listed
    await client.delete("/_emulator/stats")
    found = await hs.read_links("contacts", [grace, alone, "999999"], ["company"])
    assert found == {grace: {"company": (new,)}, alone: {"company": ()}, "999999": {"company": ()}}
    calls = (await client.get("/_emulator/stats")).json()["operations"]["associations.v4.batch.read"]["calls"]
    assert calls == 1
    assert hs.link_scan_size("contacts") == 1000


async def test_the_link_scan_covers_the_listed_objects(client: httpx.AsyncClient) -> None:
    token = SecretStr(HubSpotConfig().private_app_token)

    def scanning(objects: list[str]) -> HubSpotConnector:
        settings = HubSpotSettings(base_url=BASE, access_token=token, scan_links=tuple(objects))
        return HubSpotConnector(settings, connection="hs-conformance", client=client, sleep=no_sleep)

    assert not scanning([]).unstamped_links("contacts")
    assert scanning(["tasks"]).unstamped_links("tasks") and not scanning(["tasks"]).unstamped_links("contacts")
    with pytest.raises(ValueError, match="cannot scan the links of companies, leads"):
        scanning(["companies", "leads"])
