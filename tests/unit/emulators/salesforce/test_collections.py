"""sObject Collections: per-item results, allOrNone, size limits and injected lock failures."""

from __future__ import annotations

import httpx

from .conftest import V, create

BASE = f"{V}/composite/sobjects"


def contact(**fields: object) -> dict[str, object]:
    return {"attributes": {"type": "Contact"}, **fields}


async def test_create_update_retrieve_delete(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        BASE, json={"records": [contact(LastName="A"), contact(FirstName="no last")]}, headers=auth
    )
    assert created.status_code == 200
    ok, bad = created.json()
    assert ok["success"] is True and ok["errors"] == [] and ok["id"].startswith("003")
    assert bad["success"] is False and "id" not in bad
    assert bad["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"],
        }
    ]
    updated = await client.patch(
        BASE,
        json={"records": [contact(id=ok["id"], Title="CEO"), contact(id="003dM0000000999QAA", Title="x")]},
        headers=auth,
    )
    first, second = updated.json()
    assert first == {"id": ok["id"], "success": True, "errors": []}
    assert second["success"] is False
    rows = (await client.get(f"{BASE}/Contact?ids={ok['id']},003dM0000000999QAA&fields=Title", headers=auth)).json()
    assert rows[0]["Title"] == "CEO" and rows[1] is None
    deleted = await client.delete(f"{BASE}?ids={ok['id']},{ok['id']}&allOrNone=false", headers=auth)
    assert [d["success"] for d in deleted.json()] == [True, False]
    assert deleted.json()[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


async def test_update_of_an_id_no_record_holds_is_an_invalid_cross_reference(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Recorded (update-sobject-collection): no `id` echoed and INVALID_CROSS_REFERENCE_KEY, where a single
    PATCH answers 404 NOT_FOUND; a record still in the Recycle Bin answers ENTITY_IS_DELETED instead."""
    gone = await create(client, auth, "Contact", {"LastName": "Gone"})
    await client.delete(f"{V}/sobjects/Contact/{gone}", headers=auth)
    body = {"records": [contact(id="003dM0000000999QAA", Title="x"), contact(id=gone, Title="x")]}
    never, deleted = (await client.patch(BASE, json=body, headers=auth)).json()
    error = {"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": []}
    assert never == {"success": False, "errors": [error]}
    assert deleted["id"] == gone and deleted["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


async def test_delete_of_an_id_no_record_holds_is_an_invalid_cross_reference(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A purged (or never created) id: INVALID_CROSS_REFERENCE_KEY, in a collection item without `id`; a record
    still in the Recycle Bin answers ENTITY_IS_DELETED. A single DELETE answers 404 NOT_FOUND ("The requested
    resource does not exist", as jsforce/jsforce#1571 reports it)."""
    gone = await create(client, auth, "Contact", {"LastName": "Gone"})
    assert (await client.delete(f"{V}/sobjects/Contact/{gone}", headers=auth)).status_code == 204
    never = "003dM0000000999QAA"
    purged, binned = (await client.delete(f"{BASE}?ids={never},{gone}", headers=auth)).json()
    error = {"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": []}
    assert purged == {"success": False, "errors": [error]}
    assert binned["id"] == gone and binned["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    single = await client.delete(f"{V}/sobjects/Contact/{never}", headers=auth)
    assert single.status_code == 404 and single.json()[0]["errorCode"] == "NOT_FOUND"
    again = await client.delete(f"{V}/sobjects/Contact/{gone}", headers=auth)
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


async def test_all_or_none_rolls_back(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"allOrNone": True, "records": [contact(LastName="A"), contact(Email="x@y.z")]}
    results = (await client.post(BASE, json=body, headers=auth)).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    count = (await client.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Contact"}, headers=auth)).json()
    assert count["totalSize"] == 0


async def test_upsert_collection(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    existing = await create(client, auth, "Contact", {"LastName": "E", "Sync_Key__c": "k1"})
    body = {"records": [contact(Sync_Key__c="k1", LastName="E2"), contact(Sync_Key__c="k2", LastName="N")]}
    results = (await client.patch(f"{BASE}/Contact/Sync_Key__c", json=body, headers=auth)).json()
    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["created"] is True and results[1]["success"] is True
    polymorphic = {"records": [{"attributes": {"type": "Task"}, "Who": {"Email": "x"}}]}
    bad = (await client.patch(f"{BASE}/Task/Id", json=polymorphic, headers=auth)).json()
    assert bad[0]["errors"][0]["statusCode"] == "JSON_PARSER_ERROR" and bad[0]["created"] is False


async def test_too_many_records_and_bad_body(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"records": [contact(LastName=str(i)) for i in range(201)]}
    response = await client.post(BASE, json=body, headers=auth)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    broken = await client.post(BASE, json={"records": "nope"}, headers=auth)
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    untyped = (await client.post(BASE, json={"records": [{"LastName": "x"}]}, headers=auth)).json()
    assert untyped[0]["errors"][0]["statusCode"] == "INVALID_TYPE"


async def test_partial_batch_fault(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    plan = {"rules": [{"kind": "partial_batch", "path": "/composite/sobjects", "fail_share": 0.5, "times": 1}]}
    await client.put("/_emulator/faults", json=plan)
    body = {"records": [contact(LastName=str(i)) for i in range(4)]}
    results = (await client.post(BASE, json=body, headers=auth)).json()
    codes = [r["errors"][0]["statusCode"] if not r["success"] else "ok" for r in results]
    assert codes.count("UNABLE_TO_LOCK_ROW") == 2 and codes.count("ok") == 2


async def test_composite_with_references(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acc", "body": {"Name": "C"}},
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "con",
                "body": {"LastName": "L", "AccountId": "@{acc.id}"},
            },
            {"method": "GET", "url": f"{V}/sobjects/Contact/@{{con.id}}?fields=AccountId", "referenceId": "get"},
        ],
    }
    response = (await client.post(f"{V}/composite", json=body, headers=auth)).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in response] == [201, 201, 200]
    assert response[2]["body"]["AccountId"] == response[0]["body"]["id"]
    assert response[0]["httpHeaders"]["Location"].endswith(response[0]["body"]["id"])
