"""`$batch` wire details the fast paths must keep: line endings, absolute part URLs, per-part headers, caches."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import create_app
from crmsync.emulators.dynamics.testkit import API, ORG_URL, authorised_client

BOUNDARY = "batch_wire"


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


def _part(request_line: str, headers: list[str], body: dict[str, object] | None, newline: str = "\r\n") -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "", request_line, *headers]
    if body is None:
        return newline.join(lines) + newline + newline
    lines.append("Content-Type: application/json; type=entry")
    return newline.join(lines) + newline + newline + orjson.dumps(body).decode() + newline


async def _post(client: httpx.AsyncClient, parts: list[str], newline: str = "\r\n") -> httpx.Response:
    body = "".join(f"--{BOUNDARY}{newline}{p}" for p in parts) + f"--{BOUNDARY}--{newline}"
    headers = {"Content-Type": f"multipart/mixed; boundary={BOUNDARY}", "Prefer": "odata.continue-on-error"}
    return await client.post(f"{API}/$batch", content=body.encode(), headers=headers)


def _statuses(response: httpx.Response) -> list[int]:
    return [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3}) ", response.text)]


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
async def test_parts_parse_with_either_line_ending(client: httpx.AsyncClient, newline: str) -> None:
    parts = [_part(f"POST {ORG_URL}{API}/accounts HTTP/1.1", [], {"name": f"Line {i}"}, newline) for i in range(3)]
    response = await _post(client, parts, newline)
    assert response.status_code == 200
    assert _statuses(response) == [204, 204, 204]
    names = [r["name"] for r in (await client.get(f"{API}/accounts?$select=name")).json()["value"]]
    assert names == ["Line 0", "Line 1", "Line 2"]


async def test_upserts_by_key_with_representation_and_if_match_updates(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/keys", json={"table": "account", "columns": ["accountnumber"]})
    select = "?$select=accountid,name"
    upsert = [
        _part(
            f"PATCH {ORG_URL}{API}/accounts(accountnumber='K-{i}'){select} HTTP/1.1",
            ["Prefer: return=representation"],
            {"name": f"Keyed {i}"},
        )
        for i in range(3)
    ]
    response = await _post(client, upsert)
    assert _statuses(response) == [201, 201, 201]
    assert response.text.count("Preference-Applied: return=representation") == 3
    bodies = [orjson.loads(b) for b in re.findall(r"\r\n(\{.*?\})\r\n", response.text)]
    assert [b["name"] for b in bodies] == ["Keyed 0", "Keyed 1", "Keyed 2"]
    assert all(b["@odata.context"].endswith("/$metadata#accounts(accountid,name)/$entity") for b in bodies)
    first_id = bodies[0]["accountid"]
    assert f"OData-EntityId: {ORG_URL}{API}/accounts({first_id})" in response.text
    again = await _post(
        client,
        [
            _part(f"PATCH {API}/accounts(accountnumber='K-0') HTTP/1.1", ["If-Match: *"], {"name": "Renamed"}),
            _part("PATCH accounts(accountnumber='K-9') HTTP/1.1", ["If-Match: *"], {"name": "Missing"}),
            _part(f"PATCH {API}/accounts({first_id}) HTTP/1.1", ['If-Match: W/"1"'], {"name": "Stale"}),
        ],
    )
    assert _statuses(again) == [204, 404, 412]
    assert '"code":"0x80040217"' in again.text and '"code":"0x80060882"' in again.text
    current = (await client.get(f"{API}/accounts({first_id})?$select=name")).json()
    assert current["name"] == "Renamed"


async def test_error_parts_keep_their_headers_and_json_body(client: httpx.AsyncClient) -> None:
    response = await _post(client, [_part(f"POST {API}/accounts HTTP/1.1", [], {"nosuchcolumn": 1})])
    assert _statuses(response) == [400]
    assert "OData-Version: 4.0\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n" in response.text
    assert '"code":"0x80048d19"' in response.text


async def test_a_column_added_later_shows_in_cached_projections(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/accounts", json={"name": "Before"})
    assert "new_tier" not in (await client.get(f"{API}/accounts")).json()["value"][0]
    column = {"name": "new_tier", "type": "String", "max_length": 20}
    assert (await client.post("/_emulator/columns", json={"table": "account", "column": column})).status_code == 201
    await client.post(f"{API}/accounts", json={"name": "After", "new_tier": "gold"})
    rows = (await client.get(f"{API}/accounts")).json()["value"]
    assert [r.get("new_tier") for r in rows] == [None, "gold"]
    assert "new_tier" in rows[0]


async def test_two_emulators_do_not_share_cached_query_plans() -> None:
    first, second = create_app(), create_app()
    column = {"name": "new_only_here", "type": "String", "max_length": 20}
    async with authorised_client(first) as a, authorised_client(second) as b:
        await a.post("/_emulator/columns", json={"table": "account", "column": column})
        await a.post(f"{API}/accounts", json={"name": "A", "new_only_here": "x"})
        await b.post(f"{API}/accounts", json={"name": "B"})
        assert (await a.get(f"{API}/accounts?$select=name,new_only_here")).status_code == 200
        missing = await b.get(f"{API}/accounts?$select=name,new_only_here")
        assert missing.status_code == 400
        assert "new_only_here" in missing.json()["error"]["message"]
