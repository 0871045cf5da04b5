"""Test helpers: draining change feeds, writing records as another integration would, moving time."""

from __future__ import annotations

from typing import Any

import httpx

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone
from crmsync.connectors.hubspot import HubSpotConnector
from tests.unit.connectors.hubspot.conftest import api, control


async def drain(
    connector: HubSpotConnector, object: str, cursor: Cursor | None, **kw: Any
) -> tuple[list[RemoteRecord], list[Tombstone], Cursor, list[ChangePage]]:
    upserts: list[RemoteRecord] = []
    tombstones: list[Tombstone] = []
    pages: list[ChangePage] = []
    last = cursor
    async for page in connector.changes(object, cursor, **kw):
        pages.append(page)
        upserts += page.upserts
        tombstones += page.tombstones
        last = page.cursor
    assert last is not None
    assert not pages or pages[-1].more is False
    return upserts, tombstones, last, pages


async def create(client: httpx.AsyncClient, object: str, count: int, **props: str) -> list[str]:
    """Creates records through the vendor API (another integration's writes), 100 per call."""
    ids: list[str] = []
    for start in range(0, count, 100):
        inputs = [
            {"properties": {k: v.format(i=i) for k, v in props.items()}} for i in range(start, min(count, start + 100))
        ]
        response = await api(client, "POST", f"/crm/v3/objects/{object}/batch/create", {"inputs": inputs})
        assert response.status_code == 201, response.text
        ids += [r["id"] for r in response.json()["results"]]
    return ids


async def update(client: httpx.AsyncClient, object: str, record_id: str, **props: str) -> None:
    response = await api(client, "PATCH", f"/crm/v3/objects/{object}/{record_id}", {"properties": props})
    assert response.status_code == 200, response.text


async def advance(client: httpx.AsyncClient, ms: int) -> None:
    await control(client, "POST", "clock", {"advance_ms": ms})
