"""A contact's secondary emails (`hs_additional_emails`): kept by merges, and swapped with the primary when the
contact's email is set to one of them, as HubSpot does; the unique-email checks, lookups by email and search
follow the swap."""

from __future__ import annotations

from typing import Any

import httpx

CONTACTS = "/crm/v3/objects/contacts"


async def make(client: httpx.AsyncClient, email: str) -> str:
    r = await client.post(CONTACTS, json={"properties": {"email": email}})
    assert r.status_code == 201, r.text
    object_id: str = r.json()["id"]
    return object_id


async def merged(client: httpx.AsyncClient, primary: str, other: str) -> str:
    r = await client.post(f"{CONTACTS}/merge", json={"primaryObjectId": primary, "objectIdToMerge": other})
    assert r.status_code == 200, r.text
    new_id: str = r.json()["id"]
    return new_id


async def emails(client: httpx.AsyncClient, contact_id: str) -> tuple[str, str | None]:
    """The contact's primary email and its `hs_additional_emails` as read back."""
    r = await client.get(f"{CONTACTS}/{contact_id}", params={"properties": "email,hs_additional_emails"})
    assert r.status_code == 200, r.text
    props: dict[str, Any] = r.json()["properties"]
    return props["email"], props.get("hs_additional_emails")


async def search(client: httpx.AsyncClient, name: str, operator: str, value: str) -> list[str]:
    body = {"filterGroups": [{"filters": [{"propertyName": name, "operator": operator, "value": value}]}]}
    r = await client.post(f"{CONTACTS}/search", json=body)
    assert r.status_code == 200, r.text
    return [hit["id"] for hit in r.json()["results"]]


async def ann_with_bob_as_secondary(client: httpx.AsyncClient) -> str:
    return await merged(client, await make(client, "ann@example.com"), await make(client, "bob@example.com"))


async def test_setting_the_email_to_a_secondary_one_swaps_it_with_the_primary(client: httpx.AsyncClient) -> None:
    contact = await ann_with_bob_as_secondary(client)
    assert await emails(client, contact) == ("ann@example.com", "bob@example.com")
    r = await client.patch(f"{CONTACTS}/{contact}", json={"properties": {"email": "bob@example.com"}})
    assert r.status_code == 200, r.text
    assert await emails(client, contact) == ("bob@example.com", "ann@example.com")
    back = await client.patch(f"{CONTACTS}/{contact}", json={"properties": {"email": "ANN@example.com"}})
    assert back.status_code == 200, back.text  # the case of an address does not make it another one
    assert await emails(client, contact) == ("ANN@example.com", "bob@example.com")


async def test_after_the_swap_uniqueness_lookups_and_search_agree(client: httpx.AsyncClient) -> None:
    contact = await ann_with_bob_as_secondary(client)
    other = await make(client, "carl@example.com")
    await client.patch(f"{CONTACTS}/{contact}", json={"properties": {"email": "bob@example.com"}})
    for address in ("ann@example.com", "bob@example.com"):  # the demoted primary is still the contact's
        created = await client.post(CONTACTS, json={"properties": {"email": address}})
        assert created.status_code == 409 and created.json()["message"].endswith(f"Existing ID: {contact}")
        taken = await client.patch(f"{CONTACTS}/{other}", json={"properties": {"email": address}})
        assert taken.status_code == 409, taken.text
        found = await client.get(f"{CONTACTS}/{address}", params={"idProperty": "email"})
        assert found.status_code == 200 and found.json()["id"] == contact
    assert await search(client, "email", "EQ", "bob@example.com") == [contact]
    assert await search(client, "email", "EQ", "ann@example.com") == []
    assert await search(client, "hs_additional_emails", "CONTAINS_TOKEN", "ann@example.com") == [contact]
    assert await search(client, "hs_additional_emails", "CONTAINS_TOKEN", "bob@example.com") == []


async def test_a_batch_update_swaps_too_and_a_new_address_only_replaces_the_primary(client: httpx.AsyncClient) -> None:
    contact = await ann_with_bob_as_secondary(client)
    batch = {"inputs": [{"id": contact, "properties": {"email": "bob@example.com"}}]}
    r = await client.post(f"{CONTACTS}/batch/update", json=batch)
    assert r.status_code == 200, r.text
    assert await emails(client, contact) == ("bob@example.com", "ann@example.com")
    # An address the contact never had overwrites the primary: the secondary list stays as it was.
    await client.patch(f"{CONTACTS}/{contact}", json={"properties": {"email": "dora@example.com"}})
    assert await emails(client, contact) == ("dora@example.com", "ann@example.com")
    assert await search(client, "email", "EQ", "bob@example.com") == []


async def test_merging_merged_contacts_keeps_every_address_as_a_secondary_one(client: httpx.AsyncClient) -> None:
    first = await ann_with_bob_as_secondary(client)
    second = await merged(client, await make(client, "cleo@example.com"), await make(client, "dan@example.com"))
    survivor = await merged(client, first, second)
    primary, additional = await emails(client, survivor)
    assert primary == "ann@example.com"
    assert additional is not None and sorted(additional.split(";")) == [
        "bob@example.com",
        "cleo@example.com",
        "dan@example.com",
    ]
    for address in ("bob@example.com", "cleo@example.com", "dan@example.com"):
        assert await search(client, "hs_additional_emails", "CONTAINS_TOKEN", address) == [survivor]
        created = await client.post(CONTACTS, json={"properties": {"email": address}})
        assert created.status_code == 409, created.text
    swapped = await client.patch(f"{CONTACTS}/{survivor}", json={"properties": {"email": "dan@example.com"}})
    assert swapped.status_code == 200, swapped.text
    _, after = await emails(client, survivor)
    assert after is not None and sorted(after.split(";")) == ["ann@example.com", "bob@example.com", "cleo@example.com"]
