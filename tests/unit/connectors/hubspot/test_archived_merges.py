"""An archived merge survivor takes the ids it absorbed with it: each gets a delete tombstone, once."""

from __future__ import annotations

import httpx

from crmsync.connectors.base import Cursor
from crmsync.connectors.hubspot import HubSpotConnector
from tests.unit.connectors.hubspot.conftest import MakeConnector, api, control
from tests.unit.connectors.hubspot.helpers import advance, create, drain

FIELDS = ["email"]


async def _merge_and_archive(client: httpx.AsyncClient, kept: str, gone: str) -> str:
    body = {"objectType": "contacts", "primaryObjectId": kept, "objectIdToMerge": gone}
    merged: str = (await control(client, "POST", "merge", body))["id"]
    response = await api(client, "DELETE", f"/crm/v3/objects/contacts/{merged}")
    assert response.status_code == 204, response.text
    return merged


async def _read(connector: HubSpotConnector, cursor: Cursor) -> tuple[list[tuple[str, str | None]], Cursor]:
    upserts, tombstones, cursor, _ = await drain(connector, "contacts", cursor, fields=FIELDS)
    assert upserts == []
    return sorted((t.id, t.merged_into) for t in tombstones), cursor


async def test_a_merge_archived_before_any_read_deletes_the_ids_it_absorbed(
    client: httpx.AsyncClient, make: MakeConnector
) -> None:
    ids = await create(client, "contacts", 3, email="m{i}@example.com")
    connector = make()
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    await advance(client, 1000)
    merged = await _merge_and_archive(client, ids[0], ids[1])
    found, cursor = await _read(connector, cursor)
    assert found == sorted([(merged, None), (ids[0], None), (ids[1], None)])
    assert (await _read(connector, cursor))[0] == []  # delivered once


async def test_a_plain_archive_still_deletes_only_itself(client: httpx.AsyncClient, make: MakeConnector) -> None:
    ids = await create(client, "contacts", 2, email="p{i}@example.com")
    connector = make()
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    await advance(client, 1000)
    assert (await api(client, "DELETE", f"/crm/v3/objects/contacts/{ids[1]}")).status_code == 204
    assert (await _read(connector, cursor))[0] == [(ids[1], None)]
