"""Links to a record in its CRM: the vendor's record page for real CRMs, the emulator's API URL for local ones."""

from __future__ import annotations

from pydantic import SecretStr

from crmsync.config.values import Connection
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.dashboard.links import is_local, record_url
from crmsync.store import Link


def salesforce(url: str) -> Connection:
    settings = SalesforceSettings(
        login_url=url, auth_flow="client_credentials", client_id="id", client_secret=SecretStr("secret")
    )
    return Connection("salesforce", "salesforce", settings)


SF = salesforce("https://acme.my.salesforce.com")
HS = Connection("hubspot", "hubspot", HubSpotSettings(access_token=SecretStr("pat-na1-x")))
DV = Connection(
    "dynamics",
    "dynamics",
    DynamicsSettings(
        org_url="https://contoso.crm.dynamics.com", tenant_id="t", client_id="c", client_secret=SecretStr("s")
    ),
)


def link(connection: str, obj: str, remote_id: str) -> Link:
    return Link("c-1", "contact", connection, obj, remote_id)


def test_real_crms_get_their_record_pages() -> None:
    assert record_url(SF, link("salesforce", "Contact", "003A"), {}) == (
        "https://acme.my.salesforce.com/lightning/r/Contact/003A/view"
    )
    assert record_url(DV, link("dynamics", "contact", "0d15"), {}) == (
        "https://contoso.crm.dynamics.com/main.aspx?etn=contact&id=0d15&pagetype=entityrecord"
    )


def test_hubspot_needs_its_portal_in_a_template() -> None:
    assert record_url(HS, link("hubspot", "contacts", "101"), {}) is None
    template = {"hubspot": "https://app.hubspot.com/contacts/4242/record/{object_type_id}/{id}"}
    assert record_url(HS, link("hubspot", "contacts", "101"), template) == (
        "https://app.hubspot.com/contacts/4242/record/0-1/101"
    )


def test_emulators_link_their_api() -> None:
    local_sf = salesforce("http://127.0.0.1:18081")
    local_hs = Connection(
        "hubspot", "hubspot", HubSpotSettings(base_url="http://localhost:18082", access_token=SecretStr("pat"))
    )
    local_dv = Connection(
        "dynamics",
        "dynamics",
        DynamicsSettings(org_url="http://127.0.0.1:18083", tenant_id="t", client_id="c", client_secret=SecretStr("s")),
    )
    assert record_url(local_sf, link("salesforce", "Contact", "003A"), {}) == (
        "http://127.0.0.1:18081/services/data/v60.0/sobjects/Contact/003A"
    )
    assert record_url(local_hs, link("hubspot", "contacts", "101"), {}) == (
        "http://localhost:18082/crm/v3/objects/contacts/101"
    )
    assert record_url(local_dv, link("dynamics", "opportunity", "0d15"), {}) == (
        "http://127.0.0.1:18083/api/data/v9.2/opportunities(0d15)"
    )


def test_ids_are_escaped_in_urls() -> None:
    assert record_url(SF, link("salesforce", "Contact", "a/b?c"), {}) == (
        "https://acme.my.salesforce.com/lightning/r/Contact/a%2Fb%3Fc/view"
    )


def test_loopback_detection() -> None:
    assert is_local("http://127.0.0.1:1") and is_local("http://[::1]:1") and is_local("http://localhost")
    assert not is_local("https://api.hubapi.com") and not is_local("https://10.0.0.1")
