"""Seeding loads a consistent org from the shared world without firing outbound messages."""

from __future__ import annotations

import httpx

from .conftest import V


async def test_seed_is_queryable_and_silent(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.post(
        "/_emulator/outbound-messages", json={"object": "Contact", "url": "http://127.0.0.1:9/om", "fields": ["Email"]}
    )
    seeded = (await client.post("/_emulator/seed", json={"seed": 7, "records": 500})).json()["seeded"]
    assert seeded["Account"] > 0 and seeded["Contact"] > seeded["Account"]
    assert sum(seeded.values()) >= 500
    assert (await client.get("/_emulator/deliveries")).json()["deliveries"] == []
    soql = "SELECT Id, Account.Name FROM Contact WHERE AccountId != null LIMIT 5"
    page = (await client.get(f"{V}/query", params={"q": soql}, headers=auth)).json()
    assert all(r["Account"]["Name"] for r in page["records"])
    opps = (
        await client.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Opportunity WHERE IsWon = true"}, headers=auth)
    ).json()
    assert opps["totalSize"] >= 0
    again = (await client.post("/_emulator/seed", json={"seed": 7, "records": 500})).json()["seeded"]
    assert again == seeded
