"""Looking records up by a field's values (`FindsByValue`, used by the engine before creating a person): each
connector against its emulator finds live records whatever the case of the value, escapes quotes and backslashes
as its query language wants, splits many values within the vendor's limits, and leaves deleted records out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import FindsByValue, RemoteRecord, WriteOp, can_find_by
from crmsync.connectors.dynamics import TABLES, DynamicsConnector
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig
from crmsync.emulators.dynamics import create_app as dynamics_app
from crmsync.emulators.hubspot import HubSpotConfig
from crmsync.emulators.hubspot import create_app as hubspot_app
from crmsync.emulators.salesforce import CustomField, SalesforceConfig
from crmsync.emulators.salesforce import create_app as salesforce_app
from tests.conformance.test_dynamics_specific import settings_for

MANY = [f"nobody{n}@many.example" for n in range(700)]  # more than one IN, URI or search holds


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def salesforce() -> AsyncIterator[SalesforceConnector]:
    fields = [CustomField(name="Crmsync_Id__c", external_id=True, unique=True, length=64)]
    app = salesforce_app(SalesforceConfig(custom_fields={"Contact": fields}))
    creds = app.state.vendor.credentials()
    settings = SalesforceSettings(
        login_url="https://sf.find",
        client_id=creds["consumer_key"],
        username=creds["username"],
        private_key_pem=SecretStr(creds["jwt_private_key_pem"]),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://sf.find") as client:
        yield SalesforceConnector(settings, connection="sf-find", client=client, sleep=no_sleep)


@pytest.fixture
async def hubspot() -> AsyncIterator[HubSpotConnector]:
    app = hubspot_app(HubSpotConfig(ten_second_limit=1_000_000, search_per_second=100_000))
    settings = HubSpotSettings(
        base_url="http://hs.find",
        access_token=SecretStr(HubSpotConfig().private_app_token),
        ten_second_limit=1_000_000,
        search_per_second=100_000,
        read_links=True,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hs.find") as client:
        yield HubSpotConnector(settings, connection="hs-find", client=client, sleep=no_sleep)


@pytest.fixture
async def dynamics() -> AsyncIterator[DynamicsConnector]:
    column = CustomColumn(name="new_crmsyncid", max_length=100, alternate_key=True)
    config = DynamicsConfig(custom_columns={table: [column] for table in TABLES})
    app = dynamics_app(config)
    settings = settings_for(config, external_ids=dict.fromkeys(TABLES, "new_crmsyncid"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://dv.conformance") as client:
        yield DynamicsConnector(settings, connection="dv-find", client=client, sleep=no_sleep, clock=lambda: 0.0)


async def _created(connector: FindsByValue, object: str, people: list[dict[str, str]]) -> list[str]:
    assert isinstance(connector, SalesforceConnector | HubSpotConnector | DynamicsConnector)
    ops = [WriteOp("create", f"p{n}", fields=fields) for n, fields in enumerate(people)]
    results = await connector.apply(object, ops)
    assert all(r.ok and r.id for r in results), results
    return [str(r.id) for r in results]


def _ids(found: list[RemoteRecord]) -> list[str]:
    return sorted(r.id for r in found)


async def test_salesforce_finds_contacts_by_email_in_any_case_and_escapes_soql(
    salesforce: SalesforceConnector,
) -> None:
    assert can_find_by(salesforce, "Contact", "Email")
    ann, quote, gone = await _created(
        salesforce,
        "Contact",
        [
            {"LastName": "Ann", "Email": "Ann.Smith@Find.example"},
            {"LastName": "O'Neil \\ Back", "Email": "o'neil@find.example"},
            {"LastName": "Gone", "Email": "gone@find.example"},
        ],
    )
    [deleted] = await salesforce.apply("Contact", [WriteOp("delete", "g", id=gone)])
    assert deleted.ok
    await salesforce.describe("Contact")
    calls = salesforce.http.calls
    found = await salesforce.find_by(
        "Contact", "Email", ["ann.smith@find.example", "O'NEIL@find.example", "gone@find.example", *MANY]
    )
    assert _ids(found) == sorted([ann, quote])
    # The IN queries the URI limit splits the values into share one /composite call; the recycle bin tells, as
    # fetch does, which ids the survivors found absorbed in a merge (none here).
    assert salesforce.http.calls == calls + 2
    by_name = await salesforce.find_by("Contact", "LastName", ["o'neil \\ back"], fields=["LastName", "Email"])
    assert [(r.id, r.fields["LastName"]) for r in by_name] == [(quote, "O'Neil \\ Back")]


async def test_hubspot_finds_contacts_by_email_with_their_links(hubspot: HubSpotConnector) -> None:
    assert can_find_by(hubspot, "contacts", "email")
    ann, quote = await _created(
        hubspot,
        "contacts",
        [
            {"lastname": "Ann", "email": "ann.smith@find.example"},
            {"lastname": "O'Neil", "email": "o'neil@find.example"},
        ],
    )
    [company] = await _created(hubspot, "companies", [{"name": "Acme", "domain": "acme.example"}])
    [linked] = await hubspot.apply("contacts", [WriteOp("update", "a", id=ann, links={"company": company})])
    assert linked.ok
    calls = hubspot.search_http.calls
    found = await hubspot.find_by("contacts", "email", ["Ann.Smith@FIND.example", "o'neil@find.example", *MANY])
    assert _ids(found) == sorted([ann, quote])
    assert hubspot.search_http.calls == calls + 2  # 702 values: five IN filters of 100 per search, twice
    assert {r.id: r.links.get("company") for r in found}[ann] == (company,)


async def test_dynamics_finds_contacts_by_email_in_any_case(dynamics: DynamicsConnector) -> None:
    assert can_find_by(dynamics, "contact", "emailaddress1")
    ann, quote, gone = await _created(
        dynamics,
        "contact",
        [
            {"lastname": "Ann", "emailaddress1": "Ann.Smith@Find.example"},
            {"lastname": "O'Neil", "emailaddress1": "o'neil@find.example"},
            {"lastname": "Gone", "emailaddress1": "gone@find.example"},
        ],
    )
    [deleted] = await dynamics.apply("contact", [WriteOp("delete", "g", id=gone)])
    assert deleted.ok
    calls = dynamics.http.calls
    found = await dynamics.find_by(
        "contact",
        "emailaddress1",
        ["ann.smith@find.example", "O'NEIL@find.example", "gone@find.example", *MANY],
        fields=["lastname", "emailaddress1"],
    )
    assert _ids(found) == sorted([ann, quote])
    assert {r.fields["emailaddress1"] for r in found} == {"Ann.Smith@Find.example", "o'neil@find.example"}
    # The In filters the URL length splits the values into are the GET parts of one $batch; the merge markers of
    # the rows found are asked for as fetch asks for them.
    assert dynamics.http.calls == calls + 2


async def test_salesforce_look_up_names_the_ids_a_survivor_absorbed_as_fetch_does(
    salesforce: SalesforceConnector,
) -> None:
    master, victim = await _created(
        salesforce,
        "Contact",
        [{"LastName": "Kept", "Email": "kept@find.example"}, {"LastName": "Merged", "Email": "merged@find.example"}],
    )
    merge = {"object": "Contact", "master_id": master, "victim_ids": [victim]}
    assert (await salesforce.http.client.post("https://sf.find/_emulator/merge", json=merge)).status_code == 200
    [found] = await salesforce.find_by("Contact", "Email", ["KEPT@find.example", "merged@find.example"])
    [fetched] = await salesforce.fetch("Contact", [master])
    assert found.id == master and found.merged_ids == (victim,)
    assert isinstance(fetched, RemoteRecord) and fetched.merged_ids == found.merged_ids
