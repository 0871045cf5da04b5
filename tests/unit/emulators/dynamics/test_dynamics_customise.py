"""Customisation through the Web API: a text column, an alternate key whose index builds before it is Active."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crmsync.emulators.dynamics import DynamicsConfig, create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client

CONFIG = DynamicsConfig(key_index_s=60)
CONTACT = f"{API}/EntityDefinitions(LogicalName='contact')"


def label(text: str) -> dict[str, Any]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


COLUMN = {
    "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
    "SchemaName": "new_CrmsyncId",
    "MaxLength": 100,
    "DisplayName": label("crmsync id"),
    "RequiredLevel": {"Value": "None"},
}
KEY = {"SchemaName": "new_crmsyncid_key", "DisplayName": label("crmsync id"), "KeyAttributes": ["new_crmsyncid"]}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(create_app(CONFIG), CONFIG) as c:
        yield c


async def key_status(client: httpx.AsyncClient) -> str:
    keys = (await client.get(f"{CONTACT}/Keys")).json()["value"]
    (key,) = [k for k in keys if k["KeyAttributes"] == ["new_crmsyncid"]]
    return str(key["EntityKeyIndexStatus"])


async def test_a_new_column_is_described_and_writable_at_once(client: httpx.AsyncClient) -> None:
    made = await client.post(f"{CONTACT}/Attributes", json=COLUMN)
    assert made.status_code == 204, made.text
    assert "/Attributes(" in made.headers["OData-EntityId"]
    described = (await client.get(f"{CONTACT}/Attributes(LogicalName='new_crmsyncid')")).json()
    assert (described["SchemaName"], described["AttributeType"], described["MaxLength"]) == (
        "new_CrmsyncId",
        "String",
        100,
    )
    assert described["IsCustomAttribute"] is True
    created = await client.post(f"{API}/contacts", json={"lastname": "Hopper", "new_crmsyncid": "c-1"})
    assert created.status_code == 204, created.text
    again = await client.post(f"{CONTACT}/Attributes", json=COLUMN)
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"SchemaName": "CrmsyncId"}, "customization prefix"),
        ({"SchemaName": "contoso_CrmsyncId"}, "is not the publisher's (new)"),
        ({"MaxLength": 5000}, "outside 1 to 4000"),
        ({"DisplayName": {}}, "DisplayName"),
        ({"@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata"}, "StringAttributeMetadata columns only"),
    ],
)
async def test_a_bad_column_definition_is_refused_with_the_reason(
    client: httpx.AsyncClient, change: dict[str, Any], words: str
) -> None:
    refused = await client.post(f"{CONTACT}/Attributes", json={**COLUMN, **change})
    assert refused.status_code == 400
    assert words in refused.json()["error"]["message"]


async def test_a_new_key_is_pending_until_its_index_is_built_then_addresses_rows(client: httpx.AsyncClient) -> None:
    await client.post(f"{CONTACT}/Attributes", json=COLUMN)
    made = await client.post(f"{CONTACT}/Keys", json=KEY)
    assert made.status_code == 204, made.text
    assert await key_status(client) == "Pending"
    pending = await client.patch(f"{API}/contacts(new_crmsyncid='c-1')", json={"lastname": "Hopper"})
    assert pending.status_code == 400 and "Pending" in pending.json()["error"]["message"]
    await client.post("/_emulator/clock", json={"advance_ms": 60_000})
    assert await key_status(client) == "Active"
    upserted = await client.patch(f"{API}/contacts(new_crmsyncid='c-1')", json={"lastname": "Hopper"})
    assert upserted.status_code == 204, upserted.text
    duplicate = await client.post(f"{CONTACT}/Keys", json={**KEY, "SchemaName": "new_other_key"})
    assert duplicate.status_code == 400 and "already has the key" in duplicate.json()["error"]["message"]


async def test_a_key_over_values_rows_already_share_fails_to_build(client: httpx.AsyncClient) -> None:
    await client.post(f"{CONTACT}/Attributes", json=COLUMN)
    for name in ("Hopper", "Lovelace"):
        await client.post(f"{API}/contacts", json={"lastname": name, "new_crmsyncid": "same"})
    assert (await client.post(f"{CONTACT}/Keys", json=KEY)).status_code == 204
    assert await key_status(client) == "Pending"
    await client.post("/_emulator/clock", json={"advance_ms": 60_000})
    assert await key_status(client) == "Failed"
    unusable = await client.patch(f"{API}/contacts(new_crmsyncid='same')", json={"lastname": "Hopper"})
    assert unusable.status_code == 400 and "Failed" in unusable.json()["error"]["message"]


async def test_a_key_needs_existing_columns_of_a_key_type(client: httpx.AsyncClient) -> None:
    missing = await client.post(f"{CONTACT}/Keys", json=KEY)
    assert missing.status_code == 400 and "does not exist" in missing.json()["error"]["message"]
    memo = await client.post(f"{CONTACT}/Keys", json={**KEY, "KeyAttributes": ["description"]})
    assert memo.status_code == 400 and "cannot be part of an alternate key" in memo.json()["error"]["message"]


async def test_a_reset_drops_what_was_customised(client: httpx.AsyncClient) -> None:
    await client.post(f"{CONTACT}/Attributes", json=COLUMN)
    await client.post(f"{CONTACT}/Keys", json=KEY)
    await client.post("/_emulator/reset")
    gone = await client.get(f"{CONTACT}/Attributes(LogicalName='new_crmsyncid')")
    assert gone.status_code == 404
    assert (await client.get(f"{CONTACT}/Keys")).json()["value"] == []
