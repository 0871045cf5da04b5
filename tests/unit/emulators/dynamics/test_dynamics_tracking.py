"""Change tracking: the initial paged read, delta links, `$deletedEntity` rows, expiry and `$count`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client

TRACK = {"Prefer": "odata.track-changes,odata.maxpagesize=2"}


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def _create(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(f"{API}/accounts", json={"name": name})
    return response.headers["OData-EntityId"].split("(")[1].rstrip(")")


async def _initial(client: httpx.AsyncClient) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"{API}/accounts?$select=name"
    while url is not None:
        response = await client.get(url, headers=TRACK)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return rows, str(body["@odata.deltaLink"])
        url = body["@odata.nextLink"]
    raise AssertionError("no delta link")


async def test_full_read_then_delta(client: httpx.AsyncClient) -> None:
    ids = [await _create(client, f"A{i}") for i in range(5)]
    rows, delta_link = await _initial(client)
    assert [r["name"] for r in rows] == ["A0", "A1", "A2", "A3", "A4"]
    assert "$deltatoken=" in delta_link
    token = delta_link.split("$deltatoken=")[1]
    assert "%21" in token  # "<version>!<timestamp>", URL-encoded
    await client.patch(f"{API}/accounts({ids[1]})", json={"name": "A1 changed"}, headers={"If-Match": "*"})
    await client.delete(f"{API}/accounts({ids[2]})")
    created_and_deleted = await _create(client, "ephemeral")
    await client.delete(f"{API}/accounts({created_and_deleted})")
    new_id = await _create(client, "A5")
    delta = (await client.get(delta_link)).json()
    assert delta["@odata.context"].endswith("$metadata#accounts(name)/$delta")
    values = delta["value"]
    assert [v.get("name") for v in values[:2]] == ["A1 changed", "A5"]
    assert values[1]["accountid"] == new_id
    deleted = values[2:]
    assert {d["id"] for d in deleted} == {ids[2], created_and_deleted}
    assert all(d["reason"] == "deleted" for d in deleted)
    assert deleted[0]["@odata.context"].endswith("$metadata#accounts/$deletedEntity")
    again = (await client.get(delta["@odata.deltaLink"])).json()
    assert again["value"] == []


async def test_changes_during_the_initial_read_reach_the_next_delta(client: httpx.AsyncClient) -> None:
    ids = [await _create(client, f"A{i}") for i in range(4)]
    first = (await client.get(f"{API}/accounts?$select=name", headers=TRACK)).json()
    await client.patch(f"{API}/accounts({ids[0]})", json={"name": "edited mid-read"}, headers={"If-Match": "*"})
    second = (await client.get(first["@odata.nextLink"], headers=TRACK)).json()
    delta = (await client.get(second["@odata.deltaLink"])).json()
    assert [v["name"] for v in delta["value"]] == ["edited mid-read"]


async def test_delta_count(client: httpx.AsyncClient) -> None:
    await _create(client, "A")
    _, delta_link = await _initial(client)
    await _create(client, "B")
    await _create(client, "C")
    token = delta_link.split("$deltatoken=")[1]
    count = await client.get(f"{API}/accounts/$count?$deltatoken={token}")
    assert count.text == "2"


@pytest.mark.parametrize("option", ["$filter=name eq 'x'", "$orderby=name", "$top=1"])
async def test_query_options_are_rejected_with_tracking(client: httpx.AsyncClient, option: str) -> None:
    response = await client.get(f"{API}/accounts?{option}", headers={"Prefer": "odata.track-changes"})
    assert response.status_code == 400
    assert "isn't supported when Change Tracking is enabled" in response.json()["error"]["message"]


async def test_expired_token_forces_a_full_sync(client: httpx.AsyncClient) -> None:
    await _create(client, "A")
    _, delta_link = await _initial(client)
    await client.post("/_emulator/clock", json={"advance_ms": 8 * 86_400_000})
    token = (await client.post("/_emulator/token")).json()["access_token"]
    response = await client.get(delta_link, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Version stamp associated with the client has expired. Please perform a full sync."
    )


async def test_bad_delta_token(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/accounts?$deltatoken=nonsense")
    assert response.status_code == 400


async def test_merge_shows_up_as_update_in_delta(client: httpx.AsyncClient) -> None:
    target = await _create(client, "Target")
    subordinate = await _create(client, "Subordinate")
    _, delta_link = await _initial(client)
    response = await client.post(
        f"{API}/Merge",
        json={
            "Target": {"accountid": target, "@odata.type": "Microsoft.Dynamics.CRM.account"},
            "Subordinate": {"accountid": subordinate, "@odata.type": "Microsoft.Dynamics.CRM.account"},
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Merged Target"},
            "PerformParentingChecks": False,
        },
    )
    assert response.status_code == 204
    delta = (await client.get(delta_link)).json()["value"]
    assert {v["accountid"] for v in delta} == {target, subordinate}
    assert all("reason" not in v for v in delta)


async def test_a_delta_token_is_a_version_not_a_time(client: httpx.AsyncClient) -> None:
    """A change is in the next delta even when the clock was set back before the token's instant."""
    await client.post("/_emulator/clock", json={"freeze": True})
    before = (await client.get("/_emulator/clock")).json()["now_ms"]
    await _create(client, "A")
    await client.post("/_emulator/clock", json={"advance_ms": 5_000})
    _, delta_link = await _initial(client)  # the token's instant is five seconds after A's stamp
    await client.post("/_emulator/clock", json={"set_ms": before})
    await _create(client, "B")
    delta = (await client.get(delta_link)).json()
    assert [v["name"] for v in delta["value"]] == ["B"]
