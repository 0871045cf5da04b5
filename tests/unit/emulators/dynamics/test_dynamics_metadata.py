"""Schema discovery: EntityDefinitions, attributes, option sets, keys, relationships and `$metadata`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from xml.etree import ElementTree

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client

CONFIG = DynamicsConfig(
    custom_columns={"contact": [CustomColumn(name="new_crmsyncid", max_length=100, alternate_key=True)]}
)


@pytest.fixture
def app() -> Starlette:
    return create_app(CONFIG)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app, CONFIG) as c:
        yield c


async def test_entity_set_resolution_query_of_the_microsoft_client(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{API}/EntityDefinitions",
        params={"$select": "LogicalName,EntitySetName,PrimaryIdAttribute", "$filter": "LogicalName eq 'account'"},
    )
    assert response.status_code == 200
    (row,) = response.json()["value"]
    assert row["EntitySetName"] == "accounts"
    assert row["PrimaryIdAttribute"] == "accountid"
    assert set(row) == {"MetadataId", "LogicalName", "EntitySetName", "PrimaryIdAttribute"}


async def test_change_tracking_filter_lists_all_tables(client: httpx.AsyncClient) -> None:
    rows = (
        await client.get(f"{API}/EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true")
    ).json()["value"]
    names = {r["LogicalName"] for r in rows}
    assert {"account", "contact", "opportunity", "task", "phonecall", "appointment", "annotation"} <= names


async def test_entity_with_attributes(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{API}/EntityDefinitions(LogicalName='account')"
        "?$select=LogicalName,PrimaryNameAttribute&$expand=Attributes($select=LogicalName,AttributeType,RequiredLevel)"
    )
    body = response.json()
    assert body["PrimaryNameAttribute"] == "name"
    attributes = {a["LogicalName"]: a for a in body["Attributes"]}
    assert attributes["name"]["RequiredLevel"]["Value"] == "ApplicationRequired"
    name = (await client.get(f"{API}/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')")).json()
    assert name["MaxLength"] == 160
    assert name["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert attributes["parentaccountid"]["AttributeType"] == "Lookup"


async def test_attributes_path_and_picklist_option_sets(client: httpx.AsyncClient) -> None:
    attributes = (await client.get(f"{API}/EntityDefinitions(LogicalName='contact')/Attributes")).json()["value"]
    custom = next(a for a in attributes if a["LogicalName"] == "new_crmsyncid")
    assert custom["IsCustomAttribute"] is True
    assert custom["IsValidForCreate"] is True
    picklists = (
        await client.get(
            f"{API}/EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
            "?$select=LogicalName&$expand=OptionSet($select=Options)"
        )
    ).json()["value"]
    industry = next(p for p in picklists if p["LogicalName"] == "industrycode")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in industry["OptionSet"]["Options"]}
    assert labels[7] == "Consulting"
    assert all(p["@odata.type"] == "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata" for p in picklists)


async def test_keys_and_relationships(client: httpx.AsyncClient) -> None:
    keys = (await client.get(f"{API}/EntityDefinitions(LogicalName='account')/Keys")).json()["value"]
    assert [k["KeyAttributes"] for k in keys] == [["accountnumber"]]
    contact_keys = (await client.get(f"{API}/EntityDefinitions(LogicalName='contact')/Keys")).json()["value"]
    assert [k["KeyAttributes"] for k in contact_keys] == [["new_crmsyncid"]]
    many_to_one = (await client.get(f"{API}/EntityDefinitions(LogicalName='contact')/ManyToOneRelationships")).json()[
        "value"
    ]
    navs = {r["ReferencingEntityNavigationPropertyName"] for r in many_to_one}
    assert {"parentcustomerid_account", "parentcustomerid_contact"} <= navs
    one_to_many = (await client.get(f"{API}/EntityDefinitions(LogicalName='account')/OneToManyRelationships")).json()[
        "value"
    ]
    assert any(r["ReferencingEntity"] == "task" for r in one_to_many)


async def test_custom_alternate_key_works_for_upsert(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{API}/contacts(new_crmsyncid='c-1')", json={"lastname": "Ext"})
    assert response.status_code == 204
    again = await client.patch(
        f"{API}/contacts(new_crmsyncid='c-1')", json={"lastname": "Ext"}, headers={"If-None-Match": "*"}
    )
    assert again.status_code == 412
    not_a_key = await client.get(f"{API}/contacts(emailaddress1='a@b.c')")
    assert not_a_key.status_code == 400


async def test_csdl_document(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/$metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    account = root.find(".//edm:EntityType[@Name='account']", ns)
    assert account is not None
    assert account.find("edm:Key/edm:PropertyRef", ns).get("Name") == "accountid"  # type: ignore[union-attr]
    properties = {p.get("Name") for p in account.findall("edm:Property", ns)}
    assert {"name", "_parentaccountid_value", "modifiedon"} <= properties
    navs = {n.get("Name") for n in account.findall("edm:NavigationProperty", ns)}
    assert "parentaccountid" in navs


async def test_unknown_entity_definition_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/EntityDefinitions(LogicalName='widget')")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x80040217"


async def test_runtime_custom_column_through_control_plane(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_emulator/columns",
        json={"table": "account", "column": {"name": "new_tier", "type": "Integer"}},
    )
    assert response.status_code == 201
    created = await client.post(f"{API}/accounts", json={"name": "T", "new_tier": 3})
    assert created.status_code == 204
    rejected = await client.post("/_emulator/columns", json={"table": "account", "column": {"name": "Bad"}})
    assert rejected.status_code == 400
