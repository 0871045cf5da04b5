"""Single-record create/read/update/delete, upsert by external id, and write validation errors."""

from __future__ import annotations

import httpx
import pytest

from .conftest import V, create


async def test_crud_round_trip(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    account = await create(
        client, auth, "Account", {"Name": "Edge", "Industry": "Electronics", "BillingCity": "Austin"}
    )
    assert len(account) == 18 and account.startswith("001")
    row = (await client.get(f"{V}/sobjects/Account/{account}", headers=auth)).json()
    assert row["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{account}"}
    assert row["Name"] == "Edge"
    assert row["IsDeleted"] is False
    assert row["BillingAddress"]["city"] == "Austin"
    assert row["SystemModstamp"].endswith(".000+0000")
    assert row["OwnerId"].startswith("005") and row["LastModifiedById"] == row["OwnerId"]
    patched = await client.patch(f"{V}/sobjects/Account/{account}", json={"Phone": "(512) 757-6000"}, headers=auth)
    assert patched.status_code == 204 and patched.content == b""
    subset = (await client.get(f"{V}/sobjects/Account/{account}?fields=Phone", headers=auth)).json()
    assert subset["Phone"] == "(512) 757-6000" and "Name" not in subset
    assert (await client.get(f"{V}/sobjects/Account/{account[:15]}", headers=auth)).status_code == 200
    deleted = await client.delete(f"{V}/sobjects/Account/{account}", headers=auth)
    assert deleted.status_code == 204
    gone = await client.get(f"{V}/sobjects/Account/{account}", headers=auth)
    assert gone.status_code == 404
    assert gone.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    again = await client.patch(f"{V}/sobjects/Account/{account}", json={"Phone": "1"}, headers=auth)
    assert again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Contact", {"FirstName": "No"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ("Contact", {"LastName": "X", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ("Contact", {"LastName": "X" * 81}, "STRING_TOO_LONG", ["LastName"]),
        ("Contact", {"LastName": "X", "Tier__c": "Bronze"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Tier__c"]),
        ("Contact", {"LastName": "X", "AccountId": "nope"}, "MALFORMED_ID", ["AccountId"]),
        ("Contact", {"LastName": "X", "AccountId": "001dM00009zzzzzQAA"}, "INVALID_CROSS_REFERENCE_KEY", []),
        ("Contact", {"LastName": "X", "Shoe__c": 1}, "INVALID_FIELD", None),
        ("Contact", {"LastName": "X", "IsDeleted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsDeleted"]),
        ("Opportunity", {"Name": "D", "StageName": "Won!", "CloseDate": "2026-01-01"},
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["StageName"]),
        ("Opportunity", {"Name": "D", "StageName": "Prospecting"}, "REQUIRED_FIELD_MISSING", ["CloseDate"]),
        ("Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "01/02/2026"},
         "JSON_PARSER_ERROR", None),
        ("Account", {"Name": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", None),
    ],
)  # fmt: skip
async def test_validation_errors(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sobject: str,
    body: dict[str, object],
    code: str,
    fields: list[str] | None,
) -> None:
    response = await client.post(f"{V}/sobjects/{sobject}", json=body, headers=auth)
    assert response.status_code == 400
    error = response.json()[0]
    assert error["errorCode"] == code
    assert error.get("fields") == fields


async def test_bad_json_and_unknown_object(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    broken = await client.post(f"{V}/sobjects/Account", content=b"{nope", headers=auth)
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    array = await client.post(f"{V}/sobjects/Account", json=[1], headers=auth)
    assert array.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    unknown = await client.get(f"{V}/sobjects/Nope__c/describe", headers=auth)
    assert unknown.status_code == 404 and unknown.json()[0]["errorCode"] == "NOT_FOUND"
    wrong_kind = await client.get(f"{V}/sobjects/Account/003dM0000000001QAA", headers=auth)
    assert wrong_kind.status_code == 400 and wrong_kind.json()[0]["errorCode"] == "MALFORMED_ID"


async def test_opportunity_stage_derivations(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    opp = await create(
        client, auth, "Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-03-08"}
    )
    row = (await client.get(f"{V}/sobjects/Opportunity/{opp}", headers=auth)).json()
    assert (row["IsClosed"], row["IsWon"], row["Probability"], row["ForecastCategoryName"]) == (
        False,
        False,
        10,
        "Pipeline",
    )
    await client.patch(f"{V}/sobjects/Opportunity/{opp}", json={"StageName": "Closed Won", "Amount": 100}, headers=auth)
    row = (await client.get(f"{V}/sobjects/Opportunity/{opp}", headers=auth)).json()
    assert (row["IsClosed"], row["IsWon"], row["Probability"], row["ExpectedRevenue"]) == (True, True, 100, 100)
    assert row["FiscalYear"] == 2026 and row["FiscalQuarter"] == 1


async def test_task_and_event_derivations(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    account = await create(client, auth, "Account", {"Name": "A"})
    contact = await create(client, auth, "Contact", {"LastName": "C", "AccountId": account})
    task = await create(client, auth, "Task", {"Subject": "Call", "WhoId": contact, "Status": "Completed"})
    row = (await client.get(f"{V}/sobjects/Task/{task}", headers=auth)).json()
    assert row["Priority"] == "Normal" and row["IsClosed"] is True and row["AccountId"] == account
    event = await create(
        client,
        auth,
        "Event",
        {"Subject": "M", "WhatId": account, "StartDateTime": "2026-05-01T10:00:00Z", "DurationInMinutes": 30},
    )
    row = (await client.get(f"{V}/sobjects/Event/{event}", headers=auth)).json()
    assert row["EndDateTime"] == "2026-05-01T10:30:00.000+0000" and row["ActivityDate"] == "2026-05-01"
    missing = await client.post(
        f"{V}/sobjects/Event", json={"Subject": "M", "StartDateTime": "2026-05-01T10:00:00Z"}, headers=auth
    )
    assert missing.json()[0]["fields"] == ["DurationInMinutes"]


async def test_upsert_by_external_id(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    url = f"{V}/sobjects/Account/Ext_Id__c/A-1"
    created = await client.patch(url, json={"Name": "One"}, headers=auth)
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = await client.patch(url, json={"Name": "Uno"}, headers=auth)
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    fetched = (await client.get(url, headers=auth)).json()
    assert fetched["Name"] == "Uno" and fetched["Ext_Id__c"] == "A-1"
    old_api = await client.patch(url.replace("v60.0", "v45.0"), json={"Name": "Old"}, headers=auth)
    assert old_api.status_code == 204
    only = await client.patch(f"{V}/sobjects/Account/Ext_Id__c/A-2?updateOnly=true", json={"Name": "x"}, headers=auth)
    assert only.status_code == 404
    dup = await client.post(f"{V}/sobjects/Account", json={"Name": "Two", "Ext_Id__c": "a-1"}, headers=auth)
    assert dup.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    by_id = await client.patch(f"{V}/sobjects/Account/Id/{created.json()['id']}", json={"Name": "Id"}, headers=auth)
    assert by_id.status_code == 200 and by_id.json()["created"] is False
    not_ext = await client.patch(f"{V}/sobjects/Account/Name/x", json={"Name": "x"}, headers=auth)
    assert not_ext.status_code == 404


async def test_upsert_multiple_matches_is_300(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for _ in range(2):
        await create(client, auth, "Contact", {"LastName": "Twin", "Email": "twin@example.com"})
    response = await client.patch(f"{V}/sobjects/Contact/Email/twin@example.com", json={"Title": "x"}, headers=auth)
    assert response.status_code == 300
    assert len(response.json()) == 2 and response.json()[0].startswith(f"{V}/sobjects/Contact/003")
    created = await client.patch(f"{V}/sobjects/Contact/Email/solo%40example.com", json={"LastName": "S"}, headers=auth)
    assert created.status_code == 201


async def test_lookup_by_relationship_external_id(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    account = await create(client, auth, "Account", {"Name": "A", "Ext_Id__c": "ACC-9"})
    contact = await create(client, auth, "Contact", {"LastName": "L", "Account": {"Ext_Id__c": "ACC-9"}})
    row = (await client.get(f"{V}/sobjects/Contact/{contact}", headers=auth)).json()
    assert row["AccountId"] == account
    missing = await client.post(
        f"{V}/sobjects/Contact", json={"LastName": "L", "Account": {"Ext_Id__c": "none"}}, headers=auth
    )
    assert missing.json()[0]["errorCode"] == "INVALID_FIELD"


async def test_cascade_delete_of_account(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    account = await create(client, auth, "Account", {"Name": "A"})
    contact = await create(client, auth, "Contact", {"LastName": "C", "AccountId": account})
    await client.delete(f"{V}/sobjects/Account/{account}", headers=auth)
    assert (await client.get(f"{V}/sobjects/Contact/{contact}", headers=auth)).status_code == 404
