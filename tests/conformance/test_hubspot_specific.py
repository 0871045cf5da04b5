"""HubSpot-specific conformance: incremental reads of more than the 10,000 results one search can page,
with the vendor's real cap and page size, spread over many stamps and all on one stamp."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import Cursor
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.emulators.hubspot import HubSpotConfig, create_app

BASE = "http://hubspot.test"


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(HubSpotConfig(ten_second_limit=1_000_000, search_per_second=100_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def connector(client: httpx.AsyncClient) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=BASE,
        access_token=SecretStr(HubSpotConfig().private_app_token),
        ten_second_limit=1_000_000,
        search_per_second=100_000,
        read_links=False,
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
