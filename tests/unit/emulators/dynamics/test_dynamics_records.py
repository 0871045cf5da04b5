"""Single-record writes and reads: create, read, update, upsert, conditional operations, delete, lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client

GUID = "6d1f1c55-1111-4a4a-9b9b-000000000001"


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def _create(client: httpx.AsyncClient, entity_set: str, body: dict[str, object]) -> str:
    response = await client.post(f"{API}/{entity_set}", json=body)
    assert response.status_code == 204, response.text
    entity_id = response.headers["OData-EntityId"]
    return entity_id[entity_id.index("(") + 1 : -1]


async def test_create_returns_204_and_entity_id(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/accounts", json={"name": "Contoso"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].startswith("https://crmsync.crm.dynamics.com/api/data/v9.2/accounts(")
    assert response.headers["OData-Version"] == "4.0"
    assert response.content == b""


async def test_create_with_representation_returns_201_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/accounts?$select=name,revenue",
        json={"name": "Contoso", "revenue": 1200.5},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#accounts(name,revenue)/$entity")
    assert body["@odata.etag"].startswith('W/"')
    assert body["name"] == "Contoso"
    assert body["revenue"] == 1200.5
    assert "accountid" in body


async def test_read_by_id_and_alternate_key(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso", "accountnumber": "A-1"})
    by_id = (await client.get(f"{API}/accounts({account_id})")).json()
    by_key = (await client.get(f"{API}/accounts(accountnumber='A-1')")).json()
    assert by_id["accountid"] == by_key["accountid"] == account_id
    assert by_id["statecode"] == 0
    assert by_id["statuscode"] == 1
    assert by_id["_ownerid_value"] == by_id["_createdby_value"]
    assert by_id["modifiedon"].endswith("Z")


async def test_conditional_get_returns_304(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso"})
    first = await client.get(f"{API}/accounts({account_id})")
    etag = first.json()["@odata.etag"]
    again = await client.get(f"{API}/accounts({account_id})", headers={"If-None-Match": etag})
    assert again.status_code == 304
    await client.patch(f"{API}/accounts({account_id})", json={"name": "Changed"}, headers={"If-Match": "*"})
    changed = await client.get(f"{API}/accounts({account_id})", headers={"If-None-Match": etag})
    assert changed.status_code == 200


async def test_missing_record_is_404_with_dataverse_code(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/accounts({GUID})")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "0x80040217",
        "message": f"account With Id = {GUID} Does Not Exist",
    }


async def test_update_with_if_match_star_requires_existing(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{API}/accounts({GUID})", json={"name": "X"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert (await client.get(f"{API}/accounts({GUID})")).status_code == 404


async def test_upsert_by_id_creates_then_updates(client: httpx.AsyncClient) -> None:
    created = await client.patch(f"{API}/accounts({GUID})", json={"name": "Upserted"})
    assert created.status_code == 204
    assert created.headers["OData-EntityId"].endswith(f"accounts({GUID})")
    updated = await client.patch(
        f"{API}/accounts({GUID})", json={"name": "Again"}, headers={"Prefer": "return=representation"}
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Again"
    fresh = await client.patch(
        f"{API}/accounts(6d1f1c55-1111-4a4a-9b9b-000000000002)",
        json={"name": "New"},
        headers={"Prefer": "return=representation"},
    )
    assert fresh.status_code == 201


async def test_upsert_by_alternate_key_sets_key_on_insert(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{API}/accounts(accountnumber='K-9')", json={"name": "Keyed"})
    assert response.status_code == 204
    record = (await client.get(f"{API}/accounts(accountnumber='K-9')?$select=accountnumber,name")).json()
    assert record["accountnumber"] == "K-9"
    again = await client.patch(f"{API}/accounts(accountnumber='K-9')", json={"name": "Keyed 2"})
    assert again.status_code == 204
    listing = (await client.get(f"{API}/accounts?$select=name")).json()["value"]
    assert [r["name"] for r in listing] == ["Keyed 2"]


async def test_create_only_upsert_rejects_existing(client: httpx.AsyncClient) -> None:
    await client.patch(f"{API}/accounts(accountnumber='K-1')", json={"name": "One"})
    response = await client.patch(
        f"{API}/accounts(accountnumber='K-1')", json={"name": "Two"}, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 412
    assert response.json()["error"] == {
        "code": "0x80040237",
        "message": "A record with matching key values already exists.",
    }


async def test_optimistic_concurrency_with_stale_etag(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso"})
    etag = (await client.get(f"{API}/accounts({account_id})")).json()["@odata.etag"]
    ok = await client.patch(f"{API}/accounts({account_id})", json={"name": "B"}, headers={"If-Match": etag})
    assert ok.status_code == 204
    stale = await client.patch(f"{API}/accounts({account_id})", json={"name": "C"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "0x80060882"
    stale_delete = await client.delete(f"{API}/accounts({account_id})", headers={"If-Match": etag})
    assert stale_delete.status_code == 412


async def test_duplicate_alternate_key_on_create_is_412(client: httpx.AsyncClient) -> None:
    await _create(client, "accounts", {"name": "A", "accountnumber": "DUP"})
    response = await client.post(f"{API}/accounts", json={"name": "B", "accountnumber": "dup"})
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "0x80040237"


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso"})
    assert (await client.delete(f"{API}/accounts({account_id})")).status_code == 204
    assert (await client.delete(f"{API}/accounts({account_id})")).status_code == 404
    assert (await client.get(f"{API}/accounts({account_id})")).status_code == 404


async def test_single_column_put_get_delete(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso", "description": "hello"})
    assert (await client.put(f"{API}/accounts({account_id})/name", json={"value": "Renamed"})).status_code == 204
    value = (await client.get(f"{API}/accounts({account_id})/name")).json()
    assert value["value"] == "Renamed"
    assert (await client.delete(f"{API}/accounts({account_id})/description")).status_code == 204
    assert (await client.get(f"{API}/accounts({account_id})/description")).status_code == 204


async def test_lookups_bind_and_read_as_value(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Contoso"})
    contact_id = await _create(
        client,
        "contacts",
        {"firstname": "Ann", "lastname": "Lee", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"},
    )
    contact = (
        await client.get(
            f"{API}/contacts({contact_id})?$select=fullname,_parentcustomerid_value",
            headers={"Prefer": 'odata.include-annotations="*"'},
        )
    ).json()
    assert contact["fullname"] == "Ann Lee"
    assert contact["_parentcustomerid_value"] == account_id
    assert contact["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert contact["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"] == "Contoso"
    assert (
        contact["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "parentcustomerid_account"
    )
    task_id = await _create(
        client,
        "tasks",
        {"subject": "Call", "regardingobjectid_contact_task@odata.bind": f"contacts({contact_id})"},
    )
    task = (await client.get(f"{API}/tasks({task_id})?$select=_regardingobjectid_value,statuscode")).json()
    assert task["_regardingobjectid_value"] == contact_id
    assert task["statuscode"] == 2


async def test_clearing_a_lookup_with_ref_delete(client: httpx.AsyncClient) -> None:
    account_id = await _create(client, "accounts", {"name": "Parent"})
    child_id = await _create(
        client, "accounts", {"name": "Child", "parentaccountid@odata.bind": f"/accounts({account_id})"}
    )
    assert (await client.delete(f"{API}/accounts({child_id})/parentaccountid/$ref")).status_code == 204
    child = (await client.get(f"{API}/accounts({child_id})?$select=_parentaccountid_value")).json()
    assert child["_parentaccountid_value"] is None


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"name": "A", "parentcustomerid@odata.bind": "/accounts(x)"}, 400, "0x80048d19", "undeclared property"),
        ({"name": "A", "nosuchcolumn": 1}, 400, "0x80048d19", "The property 'nosuchcolumn' does not exist"),
        ({"name": "A", "_parentaccountid_value": GUID}, 400, "0x80048d19", "does not exist"),
        ({"name": "x" * 161}, 400, "0x80044331", "exceeded the maximum allowed length of '160'"),
        ({"name": "A", "industrycode": 999}, 400, "0x80044331", "outside the valid range"),
        ({"name": "A", "numberofemployees": "ten"}, 400, "0x80048d19", "Edm.Int32"),
        ({"name": "A", "parentaccountid": GUID}, 400, "0x80048d19", "navigation property"),
        ({"name": "A", "parentaccountid@odata.bind": f"/accounts({GUID})"}, 404, "0x80040217", "Does Not Exist"),
        ({"name": "A", "primarycontactid@odata.bind": f"/accounts({GUID})"}, 400, "0x80060888", "does not match"),
        ({"description": "no name"}, 400, "0x80040203", "'name' is required"),
    ],
)
async def test_bad_account_bodies(
    client: httpx.AsyncClient, body: dict[str, object], status: int, code: str, fragment: str
) -> None:
    response = await client.post(f"{API}/accounts", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


async def test_contact_requires_lastname(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/contacts", json={"firstname": "Only"})
    assert response.status_code == 400
    assert "'lastname' is required" in response.json()["error"]["message"]


async def test_unparseable_json_and_unknown_entity_set(client: httpx.AsyncClient) -> None:
    broken = await client.post(f"{API}/accounts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "0x80048d19"
    unknown = await client.get(f"{API}/widgets")
    assert unknown.status_code == 404
    assert "widgets" in unknown.json()["error"]["message"]
    bad_key = await client.get(f"{API}/accounts(not-a-guid)")
    assert bad_key.status_code == 400


async def test_method_not_allowed_uses_vendor_shape(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{API}/accounts", json={})
    assert response.status_code == 405
    assert "error" in response.json()


async def test_create_update_upsert_multiple(client: httpx.AsyncClient) -> None:
    created = await client.post(
        f"{API}/accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [{"name": f"Bulk {i}", "@odata.type": "Microsoft.Dynamics.CRM.account"} for i in range(3)]},
    )
    assert created.status_code == 200
    ids = created.json()["Ids"]
    assert len(ids) == 3
    updated = await client.post(
        f"{API}/accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={
            "Targets": [
                {"accountid": i, "telephone1": "1", "@odata.type": "Microsoft.Dynamics.CRM.account"} for i in ids
            ]
        },
    )
    assert updated.status_code == 204
    upserted = await client.post(
        f"{API}/accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
        json={
            "Targets": [
                {
                    "name": "Keyed",
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "@odata.id": "accounts(accountnumber='U-1')",
                },
                {
                    "name": "Renamed",
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "@odata.id": f"accounts({ids[0]})",
                },
            ]
        },
    )
    assert upserted.status_code == 200
    names = sorted(r["name"] for r in (await client.get(f"{API}/accounts?$select=name")).json()["value"])
    assert names == ["Bulk 1", "Bulk 2", "Keyed", "Renamed"]


async def test_create_multiple_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [{"name": "ok"}, {"name": "x" * 161}]},
    )
    assert response.status_code == 400
    assert (await client.get(f"{API}/accounts")).json()["value"] == []


async def test_reset_and_seed_through_the_control_plane(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/accounts", json={"name": "Gone after reset"})
    assert (await client.post("/_emulator/reset")).status_code == 200
    assert (await client.get(f"{API}/accounts")).json()["value"] == []
    seeded = (await client.post("/_emulator/seed", json={"seed": 7, "records": 400})).json()["seeded"]
    assert seeded["account"] > 0
    assert seeded["contact"] > seeded["account"]
    contacts = (await client.get(f"{API}/contacts?$select=fullname,_parentcustomerid_value&$top=5")).json()["value"]
    assert all(c["_parentcustomerid_value"] for c in contacts)
    opportunities = (await client.get(f"{API}/opportunities?$select=statecode,statuscode,_customerid_value")).json()
    assert {(o["statecode"], o["statuscode"]) for o in opportunities["value"]} <= {(0, 1), (1, 3), (2, 4)}
    notes = (await client.get(f"{API}/annotations?$select=_objectid_value&$top=3")).json()["value"]
    assert notes
    (await client.post("/_emulator/seed", json={"seed": 7, "records": 400})).raise_for_status()
    assert (await client.get(f"{API}/WhoAmI")).status_code == 200
