"""simple-salesforce, unmodified, against the Salesforce emulator over HTTPS on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import cast

import httpx
import pytest
import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app
from crmsync.emulators.server import ServedApp, serve_in_thread

pytestmark = pytest.mark.fidelity


def sobject(sf: Salesforce, name: str) -> SFType:
    """`sf.Account` spelled so type checkers know it is an SFType."""
    return cast(SFType, sf.__getattr__(name))


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    config = SalesforceConfig(
        custom_fields={"Account": [CustomField(name="Ext_Id__c", external_id=True, unique=True, length=40)]}
    )
    with serve_in_thread(create_app(config), tls=True) as running:
        yield running


@pytest.fixture(scope="module")
def sf(served: ServedApp) -> Iterator[Salesforce]:
    config = SalesforceConfig()
    token = httpx.post(
        f"{served.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": config.client_id, "client_secret": config.client_secret},
        verify=ssl.create_default_context(cafile=str(served.ca_file)),
    ).json()
    assert token["instance_url"] == served.base_url
    session = requests.Session()
    session.verify = str(served.ca_file)
    session.trust_env = False  # the environment's CA bundle would otherwise beat Session.verify
    yield Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session, version="60.0"
    )
    session.close()  # an open keep-alive connection would hold up the server's shutdown


def test_crud_upsert_and_describe(sf: Salesforce) -> None:
    created = sobject(sf, "Account").create({"Name": "Edge Communications", "Industry": "Electronics"})
    assert created["success"] is True
    account_id = created["id"]
    assert sobject(sf, "Account").update(account_id, {"Phone": "(512) 757-6000"}) == 204
    assert sobject(sf, "Account").get(account_id)["Phone"] == "(512) 757-6000"
    assert sobject(sf, "Account").upsert("Ext_Id__c/EXT-1", {"Name": "Upserted"}) == 201
    assert sobject(sf, "Account").upsert("Ext_Id__c/EXT-1", {"Name": "Upserted again"}) == 200
    assert sobject(sf, "Account").get_by_custom_id("Ext_Id__c", "EXT-1")["Name"] == "Upserted again"
    contact = sobject(sf, "Contact").create({"LastName": "Gonzalez", "AccountId": account_id, "Email": "rose@edge.com"})
    rows = sf.query(f"SELECT Id, Account.Name FROM Contact WHERE Id = '{contact['id']}'")["records"]
    assert rows[0]["Account"]["Name"] == "Edge Communications"
    describe = sobject(sf, "Contact").describe()
    assert describe["name"] == "Contact"
    assert any(f["name"] == "Email" and f["type"] == "email" for f in describe["fields"])
    assert sobject(sf, "Contact").delete(contact["id"]) == 204
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{contact['id']}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.api_usage["api-usage"].used > 0


def test_query_all_pages_through_locators(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Opportunity"}, "Name": f"Deal {i}", "StageName": "Prospecting",
                "CloseDate": "2026-06-30"} for i in range(200)]  # fmt: skip
    for _ in range(11):
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        assert results is not None and all(r["success"] for r in results)
    everything = sf.query_all("SELECT Id, Name FROM Opportunity ORDER BY Name")
    assert everything["totalSize"] == 2200
    assert len({r["Id"] for r in everything["records"]}) == 2200
    first = sf.query("SELECT Id FROM Opportunity")
    assert first["done"] is False and "nextRecordsUrl" in first
    assert len(sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)["records"]) == 200


def test_exception_mapping(sf: Salesforce, served: ServedApp) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sobject(sf, "Account").get("001dM0000009999QAA")
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Id FRM Account")
    with pytest.raises(SalesforceMalformedRequest):
        sobject(sf, "Contact").create({"FirstName": "no last name"})
    session = requests.Session()
    session.verify = str(served.ca_file)
    session.trust_env = False
    stale = Salesforce(instance_url=served.base_url, session_id="00Dexpired!nope", session=session, version="60.0")
    with pytest.raises(SalesforceExpiredSession):
        stale.query("SELECT Id FROM Account")
    session.close()
