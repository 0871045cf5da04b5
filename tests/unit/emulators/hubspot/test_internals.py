"""Compact internals kept for speed and memory: association index forms, the route table, seeding under GC."""

from __future__ import annotations

import gc

import httpx
import pytest
from starlette.routing import BaseRoute, Match, Route

from crmsync.emulators.hubspot import HubSpotEmulator
from crmsync.emulators.hubspot.associations import AssociationIndex, association_type
from crmsync.emulators.hubspot.routing import RouteTable
from crmsync.emulators.hubspot.schema import ObjectType, object_type


def _ot(name: str) -> ObjectType:
    found = object_type(name)
    assert found is not None
    return found


CONTACTS, COMPANIES, DEALS = _ot("contacts"), _ot("companies"), _ot("deals")
PRIMARY = association_type(1)
UNLABELED = association_type(279)


@pytest.mark.parametrize("fan_out", [3, 200])  # 200 passes the size where a record's edges become a dict
def test_association_index_keeps_order_types_and_inverses(fan_out: int) -> None:
    assert PRIMARY is not None and UNLABELED is not None
    index = AssociationIndex()
    contacts = [str(1000 + i) for i in range(fan_out)]
    for contact in contacts:
        assert index.add(CONTACTS, contact, COMPANIES, "7", [UNLABELED])
    index.add(DEALS, "9", COMPANIES, "7", [])
    assert index.add(CONTACTS, contacts[0], COMPANIES, "7", [PRIMARY])
    assert not index.add(CONTACTS, contacts[0], COMPANIES, "7", [PRIMARY])  # nothing new
    targets = index.targets(COMPANIES, "7", CONTACTS)
    assert list(targets) == contacts
    assert targets[contacts[0]] == (2, 280) and targets[contacts[-1]] == (280,)
    assert index.targets(CONTACTS, contacts[0], COMPANIES) == {"7": (1, 279)}
    assert index.targets(COMPANIES, "7", DEALS) == {"9": ()}

    assert index.remove(CONTACTS, contacts[0], COMPANIES, "7", [PRIMARY])
    assert index.targets(COMPANIES, "7", CONTACTS)[contacts[0]] == (280,)
    assert index.remove(CONTACTS, contacts[1], COMPANIES, "7")
    assert contacts[1] not in index.targets(COMPANIES, "7", CONTACTS)
    assert index.targets(CONTACTS, contacts[1], COMPANIES) == {}
    assert not index.remove(CONTACTS, contacts[1], COMPANIES, "7")

    index.move(CONTACTS, contacts[0], "5000", {"companies": COMPANIES, "deals": DEALS})
    assert index.targets(CONTACTS, contacts[0], COMPANIES) == {}
    assert index.targets(CONTACTS, "5000", COMPANIES) == {"7": (279,)}
    assert list(index.targets(COMPANIES, "7", CONTACTS))[-1] == "5000"
    assert len(index.all_of(COMPANIES, "7")) == fan_out  # every contact but one, plus the deal


async def test_fan_out_past_the_compact_form_over_the_api(vendor: HubSpotEmulator, client: httpx.AsyncClient) -> None:
    company = (await client.post("/crm/v3/objects/companies", json={"properties": {"name": "Big"}})).json()["id"]
    inputs = [{"properties": {"email": f"fan{i}@big.example"}} for i in range(60)]
    created = (await client.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})).json()["results"]
    ids = sorted(int(r["id"]) for r in created)
    links = [
        {
            "from": {"id": company},
            "to": {"id": str(i)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}],
        }
        for i in ids
    ]
    answer = await client.post("/crm/v4/associations/companies/contacts/batch/create", json={"inputs": links})
    assert answer.status_code in (200, 201), answer.text
    listed = (await client.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json()["results"]
    assert [row["toObjectId"] for row in listed] == ids
    await client.delete(f"/crm/v4/objects/companies/{company}/associations/contacts/{ids[5]}")
    listed = (await client.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json()["results"]
    assert len(listed) == 59 and ids[5] not in [row["toObjectId"] for row in listed]
    back = (await client.get(f"/crm/v3/objects/contacts/{ids[0]}", params={"associations": "companies"})).json()
    assert back["associations"]["companies"]["results"][0]["id"] == company


def _linear(routes: list[BaseRoute], path: str, method: str) -> tuple[Match, BaseRoute | None]:
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    partial: BaseRoute | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


def test_route_table_answers_as_a_linear_scan_would() -> None:
    (table,) = HubSpotEmulator().routes()
    assert isinstance(table, RouteTable)
    routes = table.routes
    paths = [
        "/crm/v3/objects/contacts",
        "/crm/v3/objects/contacts/123",
        "/crm/v3/objects/contacts/search",
        "/crm/v3/objects/contacts/merge",
        "/crm/v3/objects/contacts/batch/read",
        "/crm/objects/2026-03/deals/5",
        "/crm/v4/objects/contacts/1/associations/companies",
        "/crm/v4/objects/contacts/1/associations/default/companies/2",
        "/crm/v4/associations/contacts/companies/labels",
        "/crm/v3/properties/contacts/email",
        "/crm/v3/owners",
        "/crm/v3/owners/",
        "/oauth/v1/token",
        "/oauth/v1/access-tokens/abc",
        "/crm/v3/nothing",
        "/",
        "/crm",
    ]
    for path in paths:
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            match, child = table.matches(scope)
            expected, route = _linear(routes, path, method)
            assert match is expected, (method, path)
            assert child.get("crmsync.route") is route, (method, path)


def test_route_table_falls_back_to_a_scan_for_routes_it_cannot_bucket() -> None:
    async def endpoint(request: object) -> None:
        return None

    odd = [Route("/{anything}/x", endpoint, methods=["GET"]), Route("/a/b/c", endpoint, methods=["GET"])]
    table = RouteTable(list(odd))
    match, child = table.matches({"type": "http", "path": "/q/x", "method": "GET", "root_path": ""})
    assert match is Match.FULL and child["crmsync.route"] is odd[0]


async def test_unmatched_methods_and_paths_keep_hubspot_errors(client: httpx.AsyncClient) -> None:
    wrong = await client.put("/crm/v3/objects/contacts")
    assert wrong.status_code == 405 and wrong.json()["status"] == "error"
    missing = await client.get("/crm/v3/nothing/here")
    assert missing.status_code == 404 and "does not exist" in missing.json()["message"]


def test_seeding_restores_the_collector_state() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        HubSpotEmulator().seed(1, 200)
        assert gc.isenabled()
        gc.disable()
        HubSpotEmulator().seed(1, 200)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


async def test_property_history_survives_updates_and_merges(client: httpx.AsyncClient) -> None:
    async def create(props: dict[str, str]) -> str:
        found: str = (await client.post("/crm/v3/objects/contacts", json={"properties": props})).json()["id"]
        return found

    first = await create({"email": "hist1@x.example", "firstname": "A"})
    second = await create({"email": "hist2@x.example", "firstname": "B", "jobtitle": "J"})
    await client.patch(f"/crm/v3/objects/contacts/{first}", json={"properties": {"firstname": "A2", "phone": "1"}})
    merged = await client.post(
        "/crm/v3/objects/contacts/merge", json={"primaryObjectId": first, "objectIdToMerge": second}
    )
    assert merged.status_code == 200
    wanted = "firstname,jobtitle,email,phone"
    body = (await client.get(f"/crm/v3/objects/contacts/{first}", params={"propertiesWithHistory": wanted})).json()
    history = body["propertiesWithHistory"]
    assert [entry["value"] for entry in history["firstname"]] == ["A2", "A"]  # newest first, primary's wins
    assert [entry["value"] for entry in history["jobtitle"]] == ["J"]  # only the merged-away record had one
    assert [entry["value"] for entry in history["email"]] == ["hist1@x.example"]
    assert history["phone"][0] == {
        "value": "1",
        "timestamp": history["phone"][0]["timestamp"],
        "sourceType": "INTEGRATION",
        "sourceId": str(HubSpotEmulator().config.app_id),
    }


async def test_seeded_values_read_as_imports(vendor: HubSpotEmulator, client: httpx.AsyncClient) -> None:
    vendor.seed(3, 60)
    record = (await client.get("/crm/v3/objects/contacts", params={"limit": 1})).json()["results"][0]
    body = (
        await client.get(f"/crm/v3/objects/contacts/{record['id']}", params={"propertiesWithHistory": "lastname"})
    ).json()
    (entry,) = body["propertiesWithHistory"]["lastname"]
    assert entry["sourceType"] == "IMPORT" and "sourceId" not in entry
    assert entry["timestamp"] == body["createdAt"]
