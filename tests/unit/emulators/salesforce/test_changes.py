"""Incremental change detection, deletes, merges, limits, describe and fault rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from crmsync.emulators.salesforce.outbound import acknowledged, retry_delay

from .conftest import V, create


def iso(ms: int) -> str:
    return quote(datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"))


async def now_ms(client: httpx.AsyncClient) -> int:
    return int((await client.post("/_emulator/clock", json={"freeze": True})).json()["now_ms"])


async def test_updated_and_deleted_windows(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    start = await now_ms(client)
    keep = await create(client, auth, "Account", {"Name": "Keep"})
    drop = await create(client, auth, "Account", {"Name": "Drop"})
    await client.delete(f"{V}/sobjects/Account/{drop}", headers=auth)
    await client.post("/_emulator/clock", json={"advance_ms": 120_000})
    end = start + 120_000
    updated = (
        await client.get(f"{V}/sobjects/Account/updated/?start={iso(start)}&end={iso(end)}", headers=auth)
    ).json()
    assert updated["ids"] == [keep]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = (
        await client.get(f"{V}/sobjects/Account/deleted/?start={iso(start)}&end={iso(end)}", headers=auth)
    ).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [drop]
    assert {"earliestDateAvailable", "latestDateCovered"} <= deleted.keys()
    too_old = await client.get(
        f"{V}/sobjects/Account/deleted/?start={iso(start - 20 * 86_400_000)}&end={iso(end)}", headers=auth
    )
    assert too_old.status_code == 400 and too_old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


async def test_modstamp_polling_sees_only_later_changes(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await now_ms(client)
    old = await create(client, auth, "Contact", {"LastName": "Old"})
    await client.post("/_emulator/clock", json={"advance_ms": 5_000})
    row = (await client.get(f"{V}/sobjects/Contact/{old}", headers=auth)).json()
    cursor = row["SystemModstamp"]
    new = await create(client, auth, "Contact", {"LastName": "New"})
    soql = f"SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp > {cursor} ORDER BY SystemModstamp, Id"
    page = (await client.get(f"{V}/query", params={"q": soql}, headers=auth)).json()
    assert [r["Id"] for r in page["records"]] == [new]


async def test_merge_via_control_plane(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    account = await create(client, auth, "Account", {"Name": "A"})
    master = await create(client, auth, "Contact", {"LastName": "Master", "Email": "m@x.com"})
    victim = await create(client, auth, "Contact", {"LastName": "Victim", "AccountId": account})
    task = await create(client, auth, "Task", {"Subject": "Follow up", "WhoId": victim})
    merged = await client.post(
        "/_emulator/merge",
        json={"object": "Contact", "master_id": master, "victim_ids": [victim], "fields": {"Title": "CEO"}},
    )
    assert merged.status_code == 200, merged.text
    assert (await client.get(f"{V}/sobjects/Contact/{victim}", headers=auth)).status_code == 404
    soql = "SELECT Id, MasterRecordId FROM Contact WHERE IsDeleted = true AND MasterRecordId != null"
    page = (await client.get(f"{V}/queryAll", params={"q": soql}, headers=auth)).json()
    assert page["records"][0]["MasterRecordId"] == master
    moved = (await client.get(f"{V}/sobjects/Task/{task}", headers=auth)).json()
    assert moved["WhoId"] == master
    assert (await client.get(f"{V}/sobjects/Contact/{master}", headers=auth)).json()["Title"] == "CEO"
    too_many = await client.post(
        "/_emulator/merge", json={"object": "Contact", "master_id": master, "victim_ids": [account, account, account]}
    )
    assert too_many.status_code == 400


async def test_daily_limit_and_header(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.post("/_emulator/limits", json={"daily_api_limit": 3, "used": 1})
    first = await client.get(f"{V}/limits", headers=auth)
    assert first.headers["sforce-limit-info"] == "api-usage=2/3"
    assert first.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 1}
    await client.get(f"{V}/sobjects", headers=auth)
    over = await client.get(f"{V}/sobjects", headers=auth)
    assert over.status_code == 403
    assert over.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


async def test_injected_faults_render_salesforce_errors(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    plan = {
        "rules": [
            {"kind": "status", "status": 503, "path": "/sobjects$", "times": 1},
            {"kind": "rate_limit", "path": "/sobjects$", "times": 1},
        ]
    }
    await client.put("/_emulator/faults", json=plan)
    unavailable = await client.get(f"{V}/sobjects", headers=auth)
    assert unavailable.status_code == 503 and unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    limited = await client.get(f"{V}/sobjects", headers=auth)
    assert limited.status_code == 403 and limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert (await client.get(f"{V}/sobjects", headers=auth)).status_code == 200
    unknown = await client.get(f"{V}/nothing/here", headers=auth)
    assert unknown.status_code == 404 and unknown.json()[0]["errorCode"] == "NOT_FOUND"
    wrong_method = await client.put(f"{V}/sobjects", headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


async def test_describe_and_if_modified_since(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(f"{V}/sobjects/Opportunity/describe", headers=auth)
    body = response.json()
    assert body["name"] == "Opportunity" and body["keyPrefix"] == "006"
    stage = next(f for f in body["fields"] if f["name"] == "StageName")
    assert stage["type"] == "picklist" and stage["nillable"] is False
    assert [p["value"] for p in stage["picklistValues"]][-2:] == ["Closed Won", "Closed Lost"]
    cached = await client.get(
        f"{V}/sobjects/Opportunity/describe", headers={**auth, "If-Modified-Since": response.headers["last-modified"]}
    )
    assert cached.status_code == 304
    added = await client.post(
        "/_emulator/custom-fields", json={"object": "Opportunity", "fields": [{"name": "Score__c", "type": "int"}]}
    )
    assert added.status_code == 200
    names = [f["name"] for f in (await client.get(f"{V}/sobjects/Opportunity/describe", headers=auth)).json()["fields"]]
    assert "Score__c" in names
    world = (await client.get(f"{V}/sobjects", headers=auth)).json()
    assert world["maxBatchSize"] == 200 and {"Account", "Contact", "User"} <= {o["name"] for o in world["sobjects"]}


async def test_outbound_message_is_enqueued(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    registered = await client.post(
        "/_emulator/outbound-messages", json={"object": "Contact", "url": "http://127.0.0.1:9/om", "fields": ["Email"]}
    )
    assert registered.status_code == 200
    await create(client, auth, "Contact", {"LastName": "L", "Email": "l@x.com"})
    await create(client, auth, "Account", {"Name": "not watched"})
    deliveries = (await client.get("/_emulator/deliveries")).json()["deliveries"]
    assert len(deliveries) == 1
    delivery = deliveries[0]
    assert delivery["url"] == "http://127.0.0.1:9/om" and delivery["meta"]["object"] == "Contact"


def test_outbound_retry_policy_and_ack() -> None:
    assert retry_delay(1, 500) == 15.0
    assert retry_delay(15, 500) == 7200.0
    assert retry_delay(30, None) is None
    assert acknowledged(200, b"<soapenv:Body><notificationsResponse><Ack>true</Ack></notificationsResponse>")
    assert not acknowledged(200, b"<Ack>false</Ack>")
    assert not acknowledged(500, b"<Ack>true</Ack>")
