"""Batch endpoints (limits, 207 partial failures, upsert) and the search language and its paging cap."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator, create_app
from crmsync.emulators.hubspot.params import object_type_param
from crmsync.emulators.hubspot.routes_search import index_delay_ms

CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture(autouse=True)
async def generous_search_limit(client: httpx.AsyncClient, request: pytest.FixtureRequest) -> None:
    if request.node.name != "test_search_has_its_own_per_second_limit":
        await client.post("/_emulator/limits", json={"search_per_second": 1000})


async def batch_create(client: httpx.AsyncClient, count: int, start: int = 0) -> list[str]:
    inputs = [{"properties": {"email": f"b{i}@example.com", "firstname": f"N{i:03d}"}} for i in range(start, count)]
    r = await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= set(body)
    return [x["id"] for x in body["results"]]


async def test_batch_over_100_inputs_is_rejected(client: httpx.AsyncClient) -> None:
    inputs = [{"properties": {"firstname": "x"}} for _ in range(101)]
    r = await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR"


async def test_batch_read_reports_missing_ids_as_207(client: httpx.AsyncClient) -> None:
    ids = await batch_create(client, 3)
    r = await client.post(
        f"{CONTACTS}/batch/read", json={"inputs": [{"id": ids[0]}, {"id": "42"}], "properties": ["email"]}
    )
    body = r.json()
    assert r.status_code == 207
    assert body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"] == {"ids": ["42"]}
    assert [x["id"] for x in body["results"]] == [ids[0]]


async def test_batch_create_without_trace_ids_fails_whole_call(client: httpx.AsyncClient) -> None:
    inputs = [{"properties": {"email": "ok@example.com"}}, {"properties": {"email": "broken"}}]
    r = await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
    assert r.status_code == 400
    assert (await client.get(f"{CONTACTS}/ok@example.com", params={"idProperty": "email"})).status_code == 404


async def test_batch_create_with_trace_ids_is_multi_status(client: httpx.AsyncClient) -> None:
    inputs = [
        {"properties": {"email": "ok@example.com"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "broken"}, "objectWriteTraceId": "t2"},
    ]
    r = await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
    body = r.json()
    assert r.status_code == 207
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["t2"]}
    assert body["results"][0]["objectWriteTraceId"] == "t1"


async def test_batch_upsert_by_email_flags_new(client: httpx.AsyncClient) -> None:
    await batch_create(client, 1)
    inputs = [
        {"id": "b0@example.com", "idProperty": "email", "properties": {"lastname": "Old"}},
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"lastname": "New"}},
    ]
    body = (await client.post(f"{CONTACTS}/batch/upsert", json={"inputs": inputs})).json()
    assert [x["new"] for x in body["results"]] == [False, True]
    assert body["results"][1]["properties"]["email"] == "fresh@example.com"


async def test_batch_update_and_archive(client: httpx.AsyncClient) -> None:
    ids = await batch_create(client, 2)
    inputs = [{"id": ids[0], "properties": {"lastname": "X"}}, {"id": "77", "properties": {"lastname": "Y"}}]
    r = await client.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
    assert r.status_code == 207
    assert r.json()["results"][0]["properties"]["lastname"] == "X"
    r = await client.post(f"{CONTACTS}/batch/archive", json={"inputs": [{"id": i} for i in ids]})
    assert r.status_code == 204
    assert (await client.get(CONTACTS)).json()["results"] == []


async def test_partial_batch_fault_fails_a_share(app: Starlette, client: httpx.AsyncClient) -> None:
    plan = {"rules": [{"kind": "partial_batch", "path": "batch/create", "fail_share": 0.5}]}
    assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
    inputs = [{"properties": {"firstname": f"F{i}"}} for i in range(4)]
    body = (await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})).json()
    assert body["numErrors"] == 2
    assert len(body["results"]) == 2


async def test_search_filters_sort_and_paging(client: httpx.AsyncClient) -> None:
    await batch_create(client, 30)
    query = {
        "filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "GTE", "value": "N010"}]}],
        "sorts": [{"propertyName": "firstname", "direction": "DESCENDING"}],
        "properties": ["firstname"],
        "limit": 7,
    }
    first = (await client.post(f"{CONTACTS}/search", json=query)).json()
    assert first["total"] == 20
    assert first["results"][0]["properties"]["firstname"] == "N029"
    assert first["paging"]["next"]["after"] == "7"
    names = [r["properties"]["firstname"] for r in first["results"]]
    after: str | None = first["paging"]["next"]["after"]
    while after is not None:
        page = (await client.post(f"{CONTACTS}/search", json={**query, "after": after})).json()
        names += [r["properties"]["firstname"] for r in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
    assert names == [f"N{i:03d}" for i in range(29, 9, -1)]


async def test_search_operators(client: httpx.AsyncClient) -> None:
    await batch_create(client, 5)
    cases = [
        ({"propertyName": "email", "operator": "IN", "values": ["b1@example.com", "B2@example.com"]}, 2),
        ({"propertyName": "firstname", "operator": "NOT_IN", "values": ["N000"]}, 4),
        ({"propertyName": "lastname", "operator": "NOT_HAS_PROPERTY"}, 5),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "b3*"}, 1),
        ({"propertyName": "firstname", "operator": "BETWEEN", "value": "N001", "highValue": "N003"}, 3),
        ({"propertyName": "firstname", "operator": "NEQ", "value": "n004"}, 4),
    ]
    for spec, expected in cases:
        r = await client.post(f"{CONTACTS}/search", json={"filterGroups": [{"filters": [spec]}]})
        assert r.json()["total"] == expected, spec


async def test_search_groups_are_ored_and_query_matches(client: httpx.AsyncClient) -> None:
    await batch_create(client, 5)
    groups = [
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "N000"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "N004"}]},
    ]
    assert (await client.post(f"{CONTACTS}/search", json={"filterGroups": groups})).json()["total"] == 2
    assert (await client.post(f"{CONTACTS}/search", json={"query": "b2@"})).json()["total"] == 1


async def test_search_limits_and_bad_input(client: httpx.AsyncClient) -> None:
    six: list[dict[str, list[object]]] = [{"filters": []}] * 6
    assert (await client.post(f"{CONTACTS}/search", json={"filterGroups": six})).status_code == 400
    assert (await client.post(f"{CONTACTS}/search", json={"limit": 201})).status_code == 400
    assert (await client.post(f"{CONTACTS}/search", json={"after": "10000"})).status_code == 400
    unknown = {"filterGroups": [{"filters": [{"propertyName": "zzz", "operator": "EQ", "value": "1"}]}]}
    assert (await client.post(f"{CONTACTS}/search", json=unknown)).status_code == 400
    bad_op = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "1"}]}]}
    assert (await client.post(f"{CONTACTS}/search", json=bad_op)).status_code == 400


async def test_modified_since_uses_change_log(
    vendor: HubSpotEmulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await batch_create(client, 5)
    await client.post("/_emulator/clock", json={"advance_ms": 60_000})
    cutoff = vendor.runtime.clock.now_ms()
    await client.patch(f"{CONTACTS}/{ids[2]}", json={"properties": {"lastname": "Changed"}})
    contacts = vendor.portal.collection(object_type_param("contacts"))

    def no_full_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("an incremental search must not scan the whole collection")

    monkeypatch.setattr(contacts, "scan", no_full_scan)
    since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(cutoff)}
    query = {
        "filterGroups": [{"filters": [since]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
    }
    body = (await client.post(f"{CONTACTS}/search", json=query)).json()
    assert [r["id"] for r in body["results"]] == [ids[2]]


async def test_search_has_its_own_per_second_limit(client: httpx.AsyncClient) -> None:
    statuses = [(await client.post(f"{CONTACTS}/search", json={})).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    r = await client.post(f"{CONTACTS}/search", json={})
    assert r.json()["policyName"] == "SECONDLY"
    assert "x-hubspot-ratelimit-max" not in r.headers


async def test_search_index_lag_hides_a_write_until_it_is_indexed() -> None:
    """With `search_index_lag_ms` a new record is read at once by id but found by search only once its
    (per-write) delay has passed; a cached result list does not keep it hidden after that."""
    app: Starlette = create_app(HubSpotConfig(search_index_lag_ms=3_000, search_per_second=1000))
    vendor: HubSpotEmulator = app.state.vendor
    headers = {"Authorization": f"Bearer {HubSpotConfig().private_app_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hs", headers=headers) as c:
        await c.post("/_emulator/clock", json={"freeze": True})
        ids = [
            (await c.post(CONTACTS, json={"properties": {"email": f"l{n}@example.com"}})).json()["id"] for n in range(6)
        ]
        records = vendor.ctx.portal.store.collection("contacts").records
        shows = sorted(records[i].modified_ms + index_delay_ms(records[i], 3_000) for i in ids)
        assert shows[-1] > shows[0] and all(0 <= s - records[ids[0]].modified_ms <= 3_000 for s in shows)

        async def found() -> int:
            total: int = (await c.post(f"{CONTACTS}/search", json={})).json()["total"]
            return total

        assert (await c.get(f"{CONTACTS}/{ids[0]}")).status_code == 200
        seen = [await found()]
        for moment in shows:
            await c.post("/_emulator/clock", json={"set_ms": moment})
            seen.append(await found())
        assert seen[0] == sum(s <= records[ids[0]].modified_ms for s in shows) < 6 and seen[-1] == 6
        assert seen == sorted(seen)
