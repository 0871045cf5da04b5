"""Seeding: deterministic counts, associations, no webhook events, searchable afterwards."""

from __future__ import annotations

import httpx

from crmsync.emulators.hubspot import HubSpotEmulator


async def test_seed_is_deterministic_and_silent(vendor: HubSpotEmulator, client: httpx.AsyncClient) -> None:
    hook = {"target_url": "http://127.0.0.1:9/h", "client_secret": "s", "subscriptions": ["contact.creation"]}
    await client.post("/_emulator/webhooks", json=hook)
    counts = (await client.post("/_emulator/seed", json={"seed": 7, "records": 400})).json()["seeded"]
    assert counts == HubSpotEmulator().seed(7, 400)
    assert sum(counts.values()) >= 380
    vendor.webhook_hub.flush()
    assert vendor.runtime.webhooks.deliveries == []
    deals = (await client.get("/crm/v3/objects/deals", params={"associations": "companies", "limit": 100})).json()
    assert any("associations" in d for d in deals["results"])
    assert all(d["properties"]["dealstage"] for d in deals["results"])
    await client.post("/_emulator/limits", json={"search_per_second": 100})
    found = await client.post("/crm/v3/objects/contacts/search", json={"filterGroups": [], "limit": 1})
    assert found.json()["total"] == counts["contacts"]
