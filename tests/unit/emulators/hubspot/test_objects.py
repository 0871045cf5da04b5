"""Single-record CRUD, listing and the error shapes of the object endpoints."""

from __future__ import annotations

import httpx

CONTACTS = "/crm/v3/objects/contacts"


async def create_contact(client: httpx.AsyncClient, **props: object) -> str:
    r = await client.post(CONTACTS, json={"properties": props})
    assert r.status_code == 201, r.text
    object_id: str = r.json()["id"]
    return object_id


async def test_create_returns_strings_and_stamps(client: httpx.AsyncClient) -> None:
    r = await client.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "amount": 10000}})
    body = r.json()
    assert r.status_code == 201
    props = body["properties"]
    assert props["amount"] == "10000"
    assert props["hs_object_id"] == body["id"]
    assert props["createdate"] == body["createdAt"]
    assert props["hs_lastmodifieddate"] == body["updatedAt"]
    assert body["archived"] is False


async def test_get_requested_properties_null_when_empty_unknown_ignored(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="a@example.com", firstname="Ann")
    r = await client.get(f"{CONTACTS}/{cid}", params={"properties": "email,phone,nosuchprop"})
    props = r.json()["properties"]
    assert props["phone"] is None
    assert "nosuchprop" not in props
    assert set(props) == {"email", "phone", "createdate", "lastmodifieddate", "hs_object_id"}
    assert "x-hubspot-ratelimit-remaining" in r.headers


async def test_default_properties_of_contacts(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="d@example.com", jobtitle="CTO")
    props = (await client.get(f"{CONTACTS}/{cid}")).json()["properties"]
    assert set(props) == {"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"}


async def test_get_by_email_id_property(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="Mixed@Example.com")
    r = await client.get(f"{CONTACTS}/mixed@example.com", params={"idProperty": "email"})
    assert r.json()["id"] == cid


async def test_duplicate_email_is_conflict_with_existing_id(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="dup@example.com")
    r = await client.post(CONTACTS, json={"properties": {"email": "DUP@example.com"}})
    assert r.status_code == 409
    assert r.json()["category"] == "CONFLICT"
    assert r.json()["message"] == f"Contact already exists. Existing ID: {cid}"


async def test_validation_errors_are_embedded(client: httpx.AsyncClient) -> None:
    props = {"email": "example.lcom", "nope": "x", "hs_object_id": "1", "lifecyclestage": "bogus"}
    r = await client.post(CONTACTS, json={"properties": props})
    body = r.json()
    assert r.status_code == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    codes = {e["code"] for e in body["errors"]}
    assert codes == {"INVALID_EMAIL", "PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE", "INVALID_OPTION"}


async def test_date_property_must_be_midnight(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "renewal_date",
            "label": "Renewal",
            "type": "date",
            "fieldType": "date",
            "groupName": "x",
        },
    )
    assert r.status_code == 201
    bad = await client.post(CONTACTS, json={"properties": {"renewal_date": "1540200000000"}})
    assert bad.status_code == 400
    assert "not midnight" in bad.json()["message"]
    good = await client.post(CONTACTS, json={"properties": {"renewal_date": "2026-01-05"}})
    assert good.json()["properties"]["renewal_date"] == "2026-01-05"


async def test_update_clears_with_empty_string_and_bumps_stamp(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="u@example.com", firstname="Ann")
    before = (await client.get(f"{CONTACTS}/{cid}")).json()
    r = await client.patch(f"{CONTACTS}/{cid}", json={"properties": {"firstname": "", "lastname": "Lee"}})
    assert r.status_code == 200
    assert r.json()["properties"]["firstname"] == ""
    after = (await client.get(f"{CONTACTS}/{cid}")).json()
    assert after["properties"]["firstname"] is None
    assert after["properties"]["lastname"] == "Lee"
    assert after["updatedAt"] >= before["updatedAt"]


async def test_archive_then_archived_listing(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="gone@example.com")
    assert (await client.delete(f"{CONTACTS}/{cid}")).status_code == 204
    assert (await client.get(f"{CONTACTS}/{cid}")).status_code == 404
    live = (await client.get(CONTACTS)).json()["results"]
    assert cid not in [r["id"] for r in live]
    archived = (await client.get(CONTACTS, params={"archived": "true"})).json()["results"]
    assert [r["id"] for r in archived] == [cid]
    assert archived[0]["archived"] is True
    assert "archivedAt" in archived[0]


async def test_list_pages_with_after_cursor(client: httpx.AsyncClient) -> None:
    ids = [await create_contact(client, email=f"p{i}@example.com") for i in range(25)]
    seen: list[str] = []
    params: dict[str, str | int | list[str]] = {"limit": 10, "properties": ["email", "firstname"]}
    while True:
        body = (await client.get(CONTACTS, params=params)).json()
        seen += [r["id"] for r in body["results"]]
        nxt = body.get("paging", {}).get("next")
        if nxt is None:
            break
        assert nxt["link"].startswith("http://hubspot.test/crm/v3/objects/contacts?")
        params["after"] = nxt["after"]
    assert seen == ids


async def test_list_limit_out_of_range(client: httpx.AsyncClient) -> None:
    r = await client.get(CONTACTS, params={"limit": 101})
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR"


async def test_dated_path_routes_to_same_handlers(client: httpx.AsyncClient) -> None:
    cid = await create_contact(client, email="dated@example.com")
    r = await client.get(f"/crm/objects/2026-03/contacts/{cid}")
    assert r.json()["id"] == cid


async def test_bad_input_shapes(client: httpx.AsyncClient) -> None:
    r = await client.get("/crm/v3/objects/widgets")
    assert r.status_code == 400
    assert r.json()["message"] == "Unable to infer object type from: widgets"
    r = await client.post(CONTACTS, content=b"{not json")
    assert r.status_code == 400
    assert r.json()["status"] == "error"
    r = await client.post(CONTACTS, json={"properties": {"firstname": {"nested": True}}})
    assert r.status_code == 400
    r = await client.get(f"{CONTACTS}/123")
    assert r.status_code == 404
    assert r.json()["category"] == "OBJECT_NOT_FOUND"


async def test_missing_and_wrong_token(client: httpx.AsyncClient) -> None:
    r = await client.get(CONTACTS, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.json()["category"] == "INVALID_AUTHENTICATION"
    r = await client.get(CONTACTS, headers={"Authorization": ""})
    assert r.status_code == 401


async def test_deal_stage_drives_closed_flags(client: httpx.AsyncClient) -> None:
    r = await client.post("/crm/v3/objects/deals", json={"properties": {"dealname": "W", "dealstage": "closedwon"}})
    props = r.json()["properties"]
    assert props["pipeline"] == "default"
    assert props["hs_is_closed_won"] == "true"
    bad = await client.post("/crm/v3/objects/deals", json={"properties": {"dealstage": "nope"}})
    assert "INVALID_OPTION" in bad.json()["message"]
