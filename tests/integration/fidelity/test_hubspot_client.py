"""The unmodified hubspot-api-client against the HubSpot emulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import Client
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate

from crmsync.emulators.hubspot import HubSpotConfig, create_app
from crmsync.emulators.server import serve_in_thread

pytestmark = pytest.mark.fidelity


@pytest.fixture(scope="module")
def hs() -> Iterator[Client]:
    with serve_in_thread(create_app()) as served:
        client = Client.create(access_token=HubSpotConfig().private_app_token, host=served.base_url)
        yield client


def test_basic_crud_and_errors(hs: Client) -> None:
    api = hs.crm.contacts.basic_api
    created = api.create(SimplePublicObjectInputForCreate(properties={"email": "fid@example.com", "firstname": "Fi"}))
    assert created.properties["email"] == "fid@example.com"
    got = api.get_by_id(created.id, properties=["email", "firstname", "phone"])
    assert got.properties["phone"] is None
    assert got.created_at is not None
    updated = api.update(created.id, SimplePublicObjectInput(properties={"lastname": "Delity"}))
    assert updated.properties["lastname"] == "Delity"
    with pytest.raises(ApiException) as conflict:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "fid@example.com"}))
    assert conflict.value.status == 409
    api.archive(created.id)
    with pytest.raises(ApiException) as missing:
        api.get_by_id(created.id)
    assert missing.value.status == 404


def test_get_all_pages_over_100_records(hs: Client) -> None:
    batch = hs.crm.companies.batch_api
    for start in range(0, 150, 75):
        inputs: list[dict[str, Any]] = [{"properties": {"name": f"Co {i}"}} for i in range(start, start + 75)]
        batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    page = hs.crm.companies.basic_api.get_page(limit=100, properties=["name"])
    assert page.paging.next.after
    everything = hs.crm.companies.get_all(properties=["name"])
    assert len(everything) == 150
    _, status, headers = hs.crm.companies.basic_api.get_page_with_http_info(limit=1)
    assert status == 200
    assert int(headers["X-HubSpot-RateLimit-Max"]) == 190


def test_batch_read_update_archive(hs: Client) -> None:
    batch = hs.crm.contacts.batch_api
    inputs = [{"properties": {"email": f"batch{i}@example.com"}} for i in range(3)]
    created = batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    ids = [r.id for r in created.results]
    read = batch.read(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in ids], properties=["email"]),
    )
    assert sorted(r.id for r in read.results) == sorted(ids)
    updates = [{"id": i, "properties": {"lastname": "B"}} for i in ids]
    changed = batch.update(BatchInputSimplePublicObjectBatchInput(inputs=updates))
    assert {r.properties["lastname"] for r in changed.results} == {"B"}
    batch.archive(BatchInputSimplePublicObjectId(inputs=[{"id": i} for i in ids]))
    with pytest.raises(ApiException):
        hs.crm.contacts.basic_api.get_by_id(ids[0])


def test_search_with_filters_and_paging(hs: Client) -> None:
    inputs = [{"properties": {"email": f"s{i}@example.com", "jobtitle": "Engineer"}} for i in range(12)]
    hs.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    group = FilterGroup(filters=[Filter(property_name="jobtitle", operator="EQ", value="Engineer")])
    request = PublicObjectSearchRequest(filter_groups=[group], properties=["email"], limit=5)
    seen: list[str] = []
    while True:
        result = hs.crm.contacts.search_api.do_search(public_object_search_request=request)
        assert result.total == 12
        seen += [r.id for r in result.results]
        if result.paging is None:
            break
        request.after = result.paging.next.after
    assert len(set(seen)) == 12


def test_associations_v4(hs: Client) -> None:
    contact = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "as@example.com"}))
    deal = hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties={"dealname": "Assoc"}))
    spec = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=3)
    hs.crm.associations.v4.basic_api.create("deals", deal.id, "contacts", contact.id, [spec])
    page = hs.crm.associations.v4.basic_api.get_page("contacts", contact.id, "deals")
    assert [str(r.to_object_id) for r in page.results] == [deal.id]
    assert page.results[0].association_types[0].type_id == 4


def test_properties_api(hs: Client) -> None:
    names = {p.name for p in hs.crm.properties.core_api.get_all("contacts").results}
    assert {"email", "firstname", "lastmodifieddate"} <= names
    created = hs.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="external_key",
            label="External key",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    assert created.has_unique_value is True
    hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"external_key": "K-1"}))
    found = hs.crm.contacts.basic_api.get_by_id("K-1", id_property="external_key", properties=["external_key"])
    assert found.properties["external_key"] == "K-1"
