"""Edge inputs the fuzzer exercised: out-of-range stamps, Python-only number syntax, mistyped definitions."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("object_type", "name", "value", "code"),
    [
        ("deals", "closedate", "99999999999999999999", "INVALID_LONG"),  # past year 9999: no ISO form
        ("deals", "closedate", "-99999999999999999", "INVALID_LONG"),
        ("tasks", "hs_timestamp", "253402300800000", "INVALID_LONG"),  # 10000-01-01
        ("deals", "amount", "1_000", "INVALID_DECIMAL"),  # Python's float() reads it; HubSpot does not
    ],
)
async def test_out_of_range_or_foreign_values_are_property_errors(
    client: httpx.AsyncClient, object_type: str, name: str, value: str, code: str
) -> None:
    r = await client.post(f"/crm/v3/objects/{object_type}", json={"properties": {name: value}})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert [e["code"] for e in body["errors"]] == [code]


async def test_last_representable_instant_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/crm/v3/objects/tasks", json={"properties": {"hs_timestamp": "253402300799999"}})
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["hs_timestamp"] == "9999-12-31T23:59:59.999Z"


async def test_search_filter_number_rejects_underscores(client: httpx.AsyncClient) -> None:
    body = {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "GT", "value": "1_0"}]}]}
    r = await client.post("/crm/v3/objects/deals/search", json=body)
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("display_order", [True, "1", 1.5])
async def test_property_display_order_must_be_an_integer(client: httpx.AsyncClient, display_order: object) -> None:
    definition = {
        "name": "fuzzed",
        "label": "Fuzzed",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "displayOrder": display_order,
    }
    r = await client.post("/crm/v3/properties/contacts", json=definition)
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR"


async def test_property_display_order_is_kept(client: httpx.AsyncClient) -> None:
    definition = {"name": "ranked", "label": "Ranked", "type": "string", "fieldType": "text", "groupName": "g"}
    r = await client.post("/crm/v3/properties/contacts", json={**definition, "displayOrder": 3})
    assert r.status_code == 201
    assert r.json()["displayOrder"] == 3
