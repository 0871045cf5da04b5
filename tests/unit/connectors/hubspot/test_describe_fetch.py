"""describe(): properties to ObjectSchema and deal stages; ensure_external_id_property(); fetch()."""

from __future__ import annotations

import httpx
import pytest

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.errors import ConfigError
from tests.unit.connectors.hubspot.conftest import MakeConnector, api, control
from tests.unit.connectors.hubspot.helpers import create


async def test_describe_maps_types_flags_and_picklists(connector: HubSpotConnector) -> None:
    contacts = await connector.describe("contacts")
    assert (contacts.id_field, contacts.modstamp_field) == ("hs_object_id", "lastmodifieddate")
    email, stage = contacts.fields["email"], contacts.fields["lifecyclestage"]
    assert (email.type, email.unique, email.external_id, email.custom) == ("email", True, True, False)
    assert stage.type == "picklist" and "customer" in stage.picklist_values
    assert contacts.fields["hs_object_id"].type == "id"
    assert contacts.fields["createdate"].read_only and contacts.fields["createdate"].type == "datetime"
    assert contacts.fields["hs_email_domain"].read_only
    assert contacts.fields["phone"].type == "phone"
    assert contacts.fields["hubspot_owner_id"].type == "reference"
    companies = await connector.describe("companies")
    assert companies.modstamp_field == "hs_lastmodifieddate"
    assert companies.fields["annualrevenue"].type == "currency"
    assert companies.fields["description"].type == "text"


async def test_describe_deals_lists_pipeline_stages(connector: HubSpotConnector) -> None:
    deals = await connector.describe("deals")
    assert deals.stages["default:closedwon"] == ("Closed Won", True, True)
    assert deals.stages["default:closedlost"] == ("Closed Lost", True, False)
    assert deals.stages["default:qualifiedtobuy"][1:] == (False, False)
    assert deals.stages["75123456:75123459"] == ("Renewed", True, True)
    assert deals.fields["hs_is_closed"].type == "boolean"


async def test_custom_and_external_id_properties(client: httpx.AsyncClient, connector: HubSpotConnector) -> None:
    assert await connector.ensure_external_id_property("deals") is True
    assert await connector.ensure_external_id_property("deals") is False
    field = (await connector.describe("deals")).fields["crmsync_id"]
    assert (field.custom, field.unique, field.external_id) == (True, True, True)
    await control(
        client,
        "POST",
        "properties",
        {
            "objectType": "contacts",
            "name": "tier",
            "label": "Tier",
            "type": "enumeration",
            "fieldType": "checkbox",
            "groupName": "contactinformation",
            "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}],
        },
    )
    tier = (await connector.describe("contacts")).fields["tier"]
    assert (tier.type, tier.custom, tier.picklist_values) == ("multipicklist", True, ("gold", "silver"))


async def test_a_non_unique_external_id_property_is_a_config_error(
    client: httpx.AsyncClient, connector: HubSpotConnector
) -> None:
    body = {
        "name": "crmsync_id",
        "label": "x",
        "type": "string",
        "fieldType": "text",
        "groupName": "companyinformation",
    }
    assert (await api(client, "POST", "/crm/v3/properties/companies", body)).status_code == 201
    with pytest.raises(ConfigError, match="not unique"):
        await connector.ensure_external_id_property("companies")


async def test_fetch_returns_records_tombstones_and_merge_repoints(
    client: httpx.AsyncClient, connector: HubSpotConnector
) -> None:
    company = (await create(client, "companies", 1, name="Parent"))[0]
    ids = await create(client, "contacts", 4, email="f{i}@example.com")
    body = {"inputs": [{"from": {"id": ids[0]}, "to": {"id": company}}]}
    assert (
        await api(client, "POST", "/crm/v4/associations/contacts/companies/batch/associate/default", body)
    ).is_success
    await api(client, "DELETE", f"/crm/v3/objects/contacts/{ids[1]}")
    merged = await control(
        client, "POST", "merge", {"objectType": "contacts", "primaryObjectId": ids[2], "objectIdToMerge": ids[3]}
    )
    found = await connector.fetch("contacts", [ids[0], ids[1], ids[2], "77777", ids[0]], fields=["email"])
    first = found[0]
    assert isinstance(first, RemoteRecord) and first.links == {"company": (company,)}
    assert first.fields["email"] == "f0@example.com"
    assert found[1] == Tombstone("contacts", ids[1])
    assert found[2] == Tombstone("contacts", ids[2], merged_into=merged["id"])
    assert found[3] == Tombstone("contacts", "77777")
    assert found[4] == first


async def test_fetch_uses_full_batches(client: httpx.AsyncClient, make: MakeConnector) -> None:
    ids = await create(client, "companies", 250, name="C{i}")
    connector = make(read_links=False)
    await control(client, "DELETE", "stats")
    assert len(await connector.fetch("companies", ids, fields=["name"])) == 250
    stats = await control(client, "GET", "stats")
    assert stats["operations"]["companies.batch.read"]["calls"] == 3
