"""Collection reads: $select/$filter/$orderby/$top/$count, maxpagesize paging, encodings and query errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.dynamics import DynamicsEmulator
from crmsync.emulators.dynamics.testkit import API, authorised_client


@pytest.fixture
def vendor() -> DynamicsEmulator:
    return DynamicsEmulator()


@pytest.fixture
def app(vendor: DynamicsEmulator) -> Starlette:
    return build_app(vendor)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def _seed(client: httpx.AsyncClient, count: int) -> None:
    for index in range(count):
        body: dict[str, Any] = {"name": f"Account {index:02d}", "numberofemployees": index * 10}
        if index % 3 == 0:
            body["industrycode"] = 6
        response = await client.post(f"{API}/accounts", json=body)
        assert response.status_code == 204


async def _all_pages(client: httpx.AsyncClient, url: str, page_size: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers={"Prefer": f"odata.maxpagesize={page_size}"})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        next_url = body.get("@odata.nextLink")
    return pages


async def test_paging_follows_next_links_with_preference_applied(client: httpx.AsyncClient) -> None:
    await _seed(client, 10)
    first = await client.get(f"{API}/accounts?$select=name", headers={"Prefer": "odata.maxpagesize=4"})
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=4"
    link = first.json()["@odata.nextLink"]
    assert link.startswith("https://crmsync.crm.dynamics.com/api/data/v9.2/accounts?$select=name&$skiptoken=")
    assert "%3Ccookie%20pagenumber=%222%22" in link
    pages = await _all_pages(client, f"{API}/accounts?$select=name", 4)
    assert [len(p) for p in pages] == [4, 4, 2]
    names = [r["name"] for page in pages for r in page]
    assert names == [f"Account {i:02d}" for i in range(10)]


async def test_ordered_paging_is_stable(client: httpx.AsyncClient) -> None:
    await _seed(client, 9)
    pages = await _all_pages(client, f"{API}/accounts?$select=name&$orderby=numberofemployees desc", 4)
    employees = [r["name"] for page in pages for r in page]
    assert employees == [f"Account {i:02d}" for i in reversed(range(9))]


async def test_percent_encoded_options_are_decoded(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    response = await client.get(f"{API}/accounts?%24select=name&%24filter=name%20eq%20%27Account%2001%27")
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["value"]] == ["Account 01"]
    assert response.json()["@odata.context"].endswith("$metadata#accounts(name)")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("numberofemployees gt 50", [6, 7, 8, 9]),
        ("numberofemployees ge 50 and numberofemployees lt 70", [5, 6]),
        ("not (numberofemployees le 80)", [9]),
        ("industrycode eq 6 or numberofemployees eq 10", [0, 1, 3, 6, 9]),
        ("industrycode eq null and numberofemployees lt 30", [1, 2]),
        ("industrycode ne null", [0, 3, 6, 9]),
        ("startswith(name,'account 0') and endswith(name,'7')", [7]),
        ("contains(name, '0')", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=['10','30'])", [1, 3]),
        ("statecode eq 0 and name eq 'ACCOUNT 04'", [4]),
    ],
)
async def test_filter_subset(client: httpx.AsyncClient, expression: str, expected: list[int]) -> None:
    await _seed(client, 10)
    response = await client.get(f"{API}/accounts", params={"$select": "name", "$filter": expression})
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()["value"]] == [f"Account {i:02d}" for i in expected]


async def test_guid_and_datetime_literals(client: httpx.AsyncClient) -> None:
    await _seed(client, 2)
    rows = (await client.get(f"{API}/accounts?$select=name,createdon")).json()["value"]
    account_id = rows[0]["accountid"]
    by_id = await client.get(f"{API}/accounts", params={"$filter": f"accountid eq {account_id}"})
    assert [r["accountid"] for r in by_id.json()["value"]] == [account_id]
    created = rows[0]["createdon"]
    by_date = await client.get(f"{API}/accounts", params={"$filter": f"createdon le {created}"})
    assert len(by_date.json()["value"]) == 2


async def test_modifiedon_filter_reads_the_change_log(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    await client.post("/_emulator/clock", json={"advance_ms": 60_000})
    rows = (await client.get(f"{API}/accounts?$select=name,modifiedon")).json()["value"]
    cutoff = rows[-1]["modifiedon"]
    await client.patch(f"{API}/accounts({rows[0]['accountid']})", json={"name": "Touched"}, headers={"If-Match": "*"})
    changed = await client.get(f"{API}/accounts", params={"$select": "name", "$filter": f"modifiedon gt {cutoff}"})
    assert [r["name"] for r in changed.json()["value"]] == ["Touched"]


async def test_top_orderby_and_count(client: httpx.AsyncClient) -> None:
    await _seed(client, 6)
    response = await client.get(f"{API}/accounts?$select=name&$orderby=industrycode asc,name desc&$top=3&$count=true")
    body = response.json()
    assert body["@odata.count"] == 6
    assert [r["name"] for r in body["value"]] == ["Account 05", "Account 04", "Account 02"]
    assert "@odata.nextLink" not in body


async def test_count_is_capped_at_5000(vendor: DynamicsEmulator, client: httpx.AsyncClient) -> None:
    table = vendor.state.tables["account"]
    for index in range(5001):
        vendor.api.writer.create(table, {"name": f"bulk {index}"}, principal="seed")
    body = (
        await client.get(f"{API}/accounts?$select=name&$count=true", headers={"Prefer": "odata.maxpagesize=10"})
    ).json()
    assert body["@odata.count"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    count = await client.get(f"{API}/accounts/$count")
    assert count.text == "5000"


async def test_annotations_add_formatted_values(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/accounts", json={"name": "Money", "revenue": 1234.5, "industrycode": 7})
    row = (
        await client.get(
            f"{API}/accounts?$select=name,revenue,industrycode", headers={"Prefer": 'odata.include-annotations="*"'}
        )
    ).json()["value"][0]
    assert row["revenue@OData.Community.Display.V1.FormattedValue"] == "$1,234.50"
    assert row["industrycode@OData.Community.Display.V1.FormattedValue"] == "Consulting"


async def test_expand_single_valued_navigation(client: httpx.AsyncClient) -> None:
    parent = await client.post(f"{API}/accounts", json={"name": "Parent"})
    parent_id = parent.headers["OData-EntityId"].split("(")[1].rstrip(")")
    await client.post(
        f"{API}/accounts", json={"name": "Child", "parentaccountid@odata.bind": f"/accounts({parent_id})"}
    )
    rows = (
        await client.get(f"{API}/accounts?$select=name&$filter=name eq 'Child'&$expand=parentaccountid($select=name)")
    ).json()["value"]
    assert rows[0]["parentaccountid"]["name"] == "Parent"


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("$skip=10", "$skip is not supported"),
        ("$select=nosuch", "Could not find a property named 'nosuch'"),
        ("$select=parentaccountid", "Could not find a property named 'parentaccountid'"),
        ("$filter=name eq", "ended unexpectedly"),
        ("$filter=name eq 5", "incompatible types"),
        ("$filter=accountid eq 'abc'", "incompatible types"),
        ("$filter=nosuch eq 1", "Could not find a property"),
        ("$filter=name eq 'a' and", "ended unexpectedly"),
        ("$filter=substringof('a',name)", "unknown function"),
        ("$orderby=name sideways", "Syntax error"),
        ("$top=-1", "$top"),
        ("$count=maybe", "count"),
        ("$skiptoken=garbage", "paging cookie"),
        ("$frobnicate=1", "not supported"),
    ],
)
async def test_bad_queries_are_400(client: httpx.AsyncClient, query: str, fragment: str) -> None:
    response = await client.get(f"{API}/accounts?{query}")
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
