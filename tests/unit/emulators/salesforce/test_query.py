"""SOQL: the documented subset, paging through nextRecordsUrl, and query errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import V, create


async def query(client: httpx.AsyncClient, auth: dict[str, str], soql: str, endpoint: str = "query") -> Any:
    response = await client.get(f"{V}/{endpoint}", params={"q": soql}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def world(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    acme = await create(client, auth, "Account", {"Name": "Acme", "Industry": "Banking", "AnnualRevenue": 500})
    edge = await create(client, auth, "Account", {"Name": "Edge", "Industry": "Retail"})
    ids = {"acme": acme, "edge": edge}
    for first, last, email, account in [
        ("Rose", "Gonzalez", "rose@edge.com", edge),
        ("Sean", "Forbes", "sean@edge.com", edge),
        ("Ann", "O'Brien", None, acme),
        ("Zoë", "Åström", "zoe@acme.com", None),
    ]:
        body = {"FirstName": first, "LastName": last, "Email": email, "AccountId": account}
        ids[first] = await create(client, auth, "Contact", {k: v for k, v in body.items() if v is not None})
    return ids


async def test_select_with_parent_paths(client: httpx.AsyncClient, auth: dict[str, str], world: dict[str, str]) -> None:
    page = await query(client, auth, "SELECT Id, Name, Account.Name, Account.Owner.Name FROM Contact ORDER BY LastName")
    assert page["totalSize"] == 4 and page["done"] is True and "nextRecordsUrl" not in page
    first = page["records"][0]
    assert first["attributes"]["type"] == "Contact"
    assert first["Name"] == "Sean Forbes"
    assert first["Account"]["attributes"]["type"] == "Account"
    assert first["Account"]["Name"] == "Edge"
    assert first["Account"]["Owner"]["Name"] == "Integration User"
    assert page["records"][-1]["Account"] is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Email = 'ROSE@edge.com'", {"Rose"}),
        ("Email != null AND Account.Name = 'Edge'", {"Rose", "Sean"}),
        ("Email = null OR FirstName LIKE 'z%'", {"Ann", "Zoë"}),
        ("NOT (Email LIKE '%edge.com')", {"Ann", "Zoë"}),
        ("LastName IN ('Forbes', 'O\\'Brien')", {"Sean", "Ann"}),
        ("LastName NOT IN ('Forbes')", {"Rose", "Ann", "Zoë"}),
        ("Account.Industry = 'Banking'", {"Ann"}),
        ("CreatedDate = TODAY", {"Rose", "Sean", "Ann", "Zoë"}),
        ("CreatedDate < 2020-01-01T00:00:00Z", set()),
        ("SystemModstamp >= 2020-01-01T00:00:00.000+0000", {"Rose", "Sean", "Ann", "Zoë"}),
        ("CreatedDate = LAST_N_DAYS:3 AND (FirstName = 'Rose' OR FirstName = 'Sean')", {"Rose", "Sean"}),
    ],
)
async def test_where(
    client: httpx.AsyncClient, auth: dict[str, str], world: dict[str, str], where: str, expected: set[str]
) -> None:
    page = await query(client, auth, f"SELECT FirstName FROM Contact WHERE {where}")
    assert {r["FirstName"] for r in page["records"]} == expected


async def test_order_limit_offset_count(client: httpx.AsyncClient, auth: dict[str, str], world: dict[str, str]) -> None:
    page = await query(client, auth, "SELECT Email FROM Contact ORDER BY Email DESC NULLS LAST LIMIT 2 OFFSET 1")
    assert [r["Email"] for r in page["records"]] == ["sean@edge.com", "rose@edge.com"]
    nulls_first = await query(client, auth, "SELECT Email FROM Contact ORDER BY Email ASC NULLS FIRST, LastName")
    assert nulls_first["records"][0]["Email"] is None
    count = await query(client, auth, "SELECT COUNT() FROM Contact WHERE Email != null")
    assert count == {"totalSize": 3, "done": True, "records": []}
    money = await query(client, auth, "SELECT Name FROM Account WHERE AnnualRevenue > 100")
    assert [r["Name"] for r in money["records"]] == ["Acme"]


async def test_query_all_sees_deletes(client: httpx.AsyncClient, auth: dict[str, str], world: dict[str, str]) -> None:
    await client.delete(f"{V}/sobjects/Contact/{world['Rose']}", headers=auth)
    live = await query(client, auth, "SELECT Id FROM Contact")
    assert live["totalSize"] == 3
    everything = await query(client, auth, "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", "queryAll")
    assert [r["Id"] for r in everything["records"]] == [world["Rose"]]


async def test_paging_with_locator(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(200)]}
    for _ in range(3):
        assert (await client.post(f"{V}/composite/sobjects", json=body, headers=auth)).status_code == 200
    headers = {**auth, "Sforce-Query-Options": "batchSize=250"}
    page = (await client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)).json()
    assert page["totalSize"] == 600 and not page["done"] and len(page["records"]) == 250
    assert page["nextRecordsUrl"].startswith(f"{V}/query/0r8") and page["nextRecordsUrl"].endswith("-250")
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = (await client.get(page["nextRecordsUrl"], headers=auth)).json()
        seen.extend(r["Id"] for r in page["records"])
    assert len(seen) == len(set(seen)) == 600


async def test_locator_expires(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"records": [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(200)]}
    await client.post(f"{V}/composite/sobjects", json=body, headers=auth)
    await client.post(f"{V}/composite/sobjects", json=body, headers=auth)
    headers = {**auth, "Sforce-Query-Options": "batchSize=200"}
    page = (await client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)).json()
    await client.post("/_emulator/clock", json={"advance_ms": 16 * 60 * 1000})
    expired = await client.get(page["nextRecordsUrl"], headers=auth)
    assert expired.status_code == 400
    assert expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FRM Account", "MALFORMED_QUERY"),
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE AnnualRevenue = '5'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD"),
        ("SELECT Id, Parent.Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("", "MALFORMED_QUERY"),
    ],
)
async def test_query_errors(client: httpx.AsyncClient, auth: dict[str, str], soql: str, code: str) -> None:
    response = await client.get(f"{V}/query", params={"q": soql}, headers=auth)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code
