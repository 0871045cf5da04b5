"""Every key a recorded real Salesforce response carries is present in ours, with the same JSON type.

The expected keys live in tests/fixtures/expected_keys/salesforce/ (key paths and type names only). A key
whose value is null in ours is accepted for any recorded type: blank data, not a missing key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app

V = "/services/data/v60.0"
FIXTURES = Path(__file__).parents[3] / "fixtures" / "expected_keys" / "salesforce"
# The org the recordings came from has these custom fields on Account; the emulator declares the same ones.
RECORDED_ORG_FIELDS = [
    CustomField(name="CustomerPriority__c", type="picklist", picklist_values=["High", "Low", "Medium"]),
    CustomField(name="SLA__c", type="picklist", picklist_values=["Gold", "Silver", "Platinum", "Bronze"]),
    CustomField(name="Active__c", type="picklist", picklist_values=["No", "Yes"]),
    CustomField(name="NumberofLocations__c", type="double"),
    CustomField(name="UpsellOpportunity__c", type="picklist", picklist_values=["Maybe", "No", "Yes"]),
    CustomField(name="SLASerialNumber__c", length=10),
    CustomField(name="SLAExpirationDate__c", type="date"),
]


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shapes(value: Any, path: str, acc: dict[str, set[str]]) -> dict[str, set[str]]:
    acc.setdefault(path or "$", set()).add(type_name(value))
    if isinstance(value, dict):
        for key, item in value.items():
            shapes(item, f"{path}.{key}" if path else key, acc)
    elif isinstance(value, list):
        for item in value:
            shapes(item, f"{path}[]", acc)
    return acc


Scenario = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[Any]]


async def _account(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    body = {"Name": "Edge Communications", "Industry": "Electronics", "BillingCity": "Austin", "AnnualRevenue": 1.5e8}
    response = await client.post(f"{V}/sobjects/Account", json=body, headers=auth)
    return str(response.json()["id"])


async def _many_accounts(client: httpx.AsyncClient, auth: dict[str, str], count: int) -> None:
    for start in range(0, count, 200):
        records = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(start, min(start + 200, count))]
        await client.post(f"{V}/composite/sobjects", json={"records": records}, headers=auth)


async def get_record(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return (await client.get(f"{V}/sobjects/Account/{await _account(client, auth)}", headers=auth)).json()


async def get_record_by_external_id(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    user = (await client.get("/_emulator")).json()["credentials"]["user_id"]
    return (await client.get(f"{V}/sobjects/User/Id/{user}", headers=auth)).json()


async def describe_sobject(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return (await client.get(f"{V}/sobjects/Account/describe", headers=auth)).json()


async def sobject_basic_info(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    await _account(client, auth)
    return (await client.get(f"{V}/sobjects/Account/", headers=auth)).json()


async def limits(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return (await client.get(f"{V}/limits", headers=auth)).json()


async def query(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    await _account(client, auth)
    return (await client.get(f"{V}/query", params={"q": "SELECT Id, Name FROM Account"}, headers=auth)).json()


async def query_all(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    await _account(client, auth)
    return (await client.get(f"{V}/queryAll", params={"q": "SELECT Id, Name FROM Account"}, headers=auth)).json()


async def query_more(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    await _many_accounts(client, auth, 2100)
    first = (await client.get(f"{V}/query", params={"q": "SELECT Id, Name FROM Account"}, headers=auth)).json()
    return (await client.get(first["nextRecordsUrl"], headers=auth)).json()


async def query_contacts(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    account = await _account(client, auth)
    body = {"FirstName": "Rose", "LastName": "Gonzalez", "Email": "rose@edge.com", "AccountId": account}
    await client.post(f"{V}/sobjects/Contact", json=body, headers=auth)
    soql = (
        "SELECT Id, FirstName, LastName, Email, Phone, MobilePhone, Title, Department, AccountId, MailingStreet, "
        "MailingCity, MailingState, MailingPostalCode, MailingCountry, CreatedDate, SystemModstamp FROM Contact"
    )
    return (await client.get(f"{V}/query", params={"q": soql}, headers=auth)).json()


async def query_opportunities(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    body = {"Name": "Deal", "Amount": 15000, "StageName": "Qualification", "CloseDate": "2026-03-08"}
    await client.post(f"{V}/sobjects/Opportunity", json=body, headers=auth)
    soql = "SELECT Id, Name, Amount, StageName, CloseDate, OwnerId, SystemModstamp FROM Opportunity"
    return (await client.get(f"{V}/query", params={"q": soql}, headers=auth)).json()


async def create_record(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return (await client.post(f"{V}/sobjects/Account/", json={"Name": "New"}, headers=auth)).json()


async def collections_create(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": "C"}]}
    return (await client.post(f"{V}/composite/sobjects", json=body, headers=auth)).json()


async def collections_update(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    body = {"records": [{"attributes": {"type": "Account"}, "id": "001dM0000099999QAA", "Name": "x"}]}
    return (await client.patch(f"{V}/composite/sobjects", json=body, headers=auth)).json()


async def collections_upsert(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    body = {"records": [{"attributes": {"type": "Task"}, "Who": {"Email": "x@y.z"}}]}
    return (await client.patch(f"{V}/composite/sobjects/Task/Id", json=body, headers=auth)).json()


async def collections_delete(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    account = await _account(client, auth)
    return (await client.delete(f"{V}/composite/sobjects?ids={account}", headers=auth)).json()


async def upsert_record(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    url = f"{V}/sobjects/Contact/Email/test_upsert_004%40example.com"
    return (await client.patch(url, json={"LastName": "Upsert"}, headers=auth)).json()


async def upsert_existing_by_id(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    account = await _account(client, auth)
    return (await client.patch(f"{V}/sobjects/Account/Id/{account}", json={"Name": "U"}, headers=auth)).json()


async def versions(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return (await client.get("/services/data")).json()


SCENARIOS: dict[str, Scenario] = {
    fn.__name__: fn
    for fn in (
        get_record, get_record_by_external_id, describe_sobject, sobject_basic_info, limits, query, query_all,
        query_more, query_contacts, query_opportunities, create_record, collections_create, collections_update,
        collections_upsert, collections_delete, upsert_record, upsert_existing_by_id, versions,
    )
}  # fmt: skip


def test_every_fixture_has_a_scenario() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(SCENARIOS)


@pytest.mark.parametrize("operation", sorted(SCENARIOS))
async def test_recorded_keys_present_with_same_types(operation: str) -> None:
    expected: dict[str, list[str]] = json.loads((FIXTURES / f"{operation}.json").read_text())["keys"]
    app = create_app(SalesforceConfig(custom_fields={"Account": RECORDED_ORG_FIELDS}))
    auth = {"Authorization": f"Bearer {SalesforceConfig().static_session_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://sf.test") as client:
        ours = shapes(await SCENARIOS[operation](client, auth), "", {})
    problems = []
    for path, recorded in expected.items():
        if path not in ours:
            if any(path.startswith(prefix) for prefix in _absent_parents(path, ours, expected)):
                continue
            problems.append(f"missing {path}")
            continue
        got = ours[path] - {"null"}
        if got and "null" not in recorded and not got <= set(recorded):
            problems.append(f"{path}: ours {sorted(got)} vs recorded {recorded}")
    assert not problems, problems


def _absent_parents(path: str, ours: dict[str, set[str]], expected: dict[str, list[str]]) -> list[str]:
    """A key under an object that is null in ours (e.g. an address nobody filled in) cannot be present."""
    parents = []
    parts = path.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if ours.get(parent) == {"null"} or (
            parent.endswith("[]") is False and parent in ours and "object" not in ours[parent]
        ):
            parents.append(parent + ".")
    return parents
