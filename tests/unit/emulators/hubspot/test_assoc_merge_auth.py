"""Associations v4/v3, merges, OAuth tokens and expiry, rate limits, and webhook events and signatures."""

from __future__ import annotations

import httpx
import orjson

from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator
from crmsync.emulators.hubspot.signatures import sign_v1, sign_v2, sign_v3, verify_v3

CONTACTS = "/crm/v3/objects/contacts"


async def make(client: httpx.AsyncClient, kind: str, **props: str) -> str:
    r = await client.post(f"/crm/v3/objects/{kind}", json={"properties": props})
    assert r.status_code == 201, r.text
    object_id: str = r.json()["id"]
    return object_id


async def test_v4_default_association_is_bidirectional(client: httpx.AsyncClient) -> None:
    cid = await make(client, "contacts", email="a@example.com")
    coid = await make(client, "companies", name="Acme")
    r = await client.put(f"/crm/v4/objects/contacts/{cid}/associations/default/companies/{coid}")
    assert r.status_code == 200
    back = (await client.get(f"/crm/v4/objects/companies/{coid}/associations/contacts")).json()
    assert back["results"] == [
        {
            "toObjectId": int(cid),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}],
        }
    ]
    got = (await client.get(f"{CONTACTS}/{cid}", params={"associations": "companies"})).json()
    assert got["associations"]["companies"]["results"] == [{"id": coid, "type": "contact_to_company_unlabeled"}]


async def test_v4_labelled_primary_and_delete(client: httpx.AsyncClient) -> None:
    cid = await make(client, "contacts", email="b@example.com")
    coid = await make(client, "companies", name="Beta")
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    r = await client.put(f"/crm/v4/objects/contacts/{cid}/associations/companies/{coid}", json=spec)
    assert r.status_code == 201
    assert r.json()["labels"] == ["Primary"]
    labels = (await client.get("/crm/v4/associations/contacts/companies/labels")).json()["results"]
    assert {x["typeId"] for x in labels} == {279, 1}
    assert (await client.delete(f"/crm/v4/objects/contacts/{cid}/associations/companies/{coid}")).status_code == 204
    assert (await client.get(f"/crm/v4/objects/companies/{coid}/associations/contacts")).json()["results"] == []


async def test_batch_and_v3_association_creates(client: httpx.AsyncClient) -> None:
    deal = await make(client, "deals", dealname="D")
    cid = await make(client, "contacts", email="c@example.com")
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
    body = {"inputs": [{"from": {"id": deal}, "to": {"id": cid}, "types": [spec]}]}
    r = await client.post("/crm/v4/associations/deals/contacts/batch/create", json=body)
    assert r.status_code == 201
    read = await client.post("/crm/v4/associations/contacts/deals/batch/read", json={"inputs": [{"id": cid}]})
    assert read.json()["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 4
    coid = await make(client, "companies", name="Gamma")
    v3 = {"inputs": [{"from": {"id": cid}, "to": {"id": coid}, "type": "contact_to_company"}]}
    r = await client.post("/crm/v3/associations/contacts/companies/batch/create", json=v3)
    assert {x["type"] for x in r.json()["results"]} == {"contact_to_company", "company_to_contact"}


async def test_create_with_associations(client: httpx.AsyncClient) -> None:
    cid = await make(client, "contacts", email="n@example.com")
    assoc = [{"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]
    r = await client.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "hi"}, "associations": assoc})
    note_id = r.json()["id"]
    back = (await client.get(f"/crm/v4/objects/contacts/{cid}/associations/notes")).json()["results"]
    assert back[0]["toObjectId"] == int(note_id)
    assert back[0]["associationTypes"][0]["typeId"] == 201


async def test_merge_creates_new_id_and_aliases_old_ones(client: httpx.AsyncClient) -> None:
    a = await make(client, "contacts", email="a@example.com", firstname="Ann")
    b = await make(client, "contacts", email="b@example.com", firstname="Bob", phone="123")
    coid = await make(client, "companies", name="Acme")
    await client.put(f"/crm/v4/objects/contacts/{b}/associations/default/companies/{coid}")
    r = await client.post(f"{CONTACTS}/merge", json={"primaryObjectId": a, "objectIdToMerge": b})
    merged = r.json()
    assert r.status_code == 200
    new_id = merged["id"]
    assert new_id not in (a, b)
    assert merged["properties"]["firstname"] == "Ann"
    assert merged["properties"]["phone"] == "123"
    assert merged["properties"]["hs_merged_object_ids"] == f"{a};{b}"
    for old in (a, b):
        assert (await client.get(f"{CONTACTS}/{old}")).json()["id"] == new_id
    listed = [x["id"] for x in (await client.get(CONTACTS)).json()["results"]]
    assert listed == [new_id]
    assert (await client.get(CONTACTS, params={"archived": "true"})).json()["results"] == []
    assoc = (await client.get(f"/crm/v4/objects/contacts/{new_id}/associations/companies")).json()["results"]
    assert assoc[0]["toObjectId"] == int(coid)
    again = await client.post(CONTACTS, json={"properties": {"email": "b@example.com"}})
    assert again.status_code == 409
    other = await make(client, "contacts", email="c@example.com")
    taken = await client.patch(f"{CONTACTS}/{other}", json={"properties": {"email": "B@example.com"}})
    assert taken.status_code == 409  # the merged record's secondary email, on an update too
    assert taken.json()["message"] == f"Contact already exists. Existing ID: {new_id}"
    own = await client.patch(f"{CONTACTS}/{new_id}", json={"properties": {"email": "b@example.com"}})
    assert own.status_code == 200  # its own secondary email made primary


async def test_oauth_refresh_and_expiry(client: httpx.AsyncClient) -> None:
    cfg = HubSpotConfig()
    form = {
        "grant_type": "refresh_token",
        "client_id": cfg.client_id,
        "client_secret": cfg.client_secret,
        "refresh_token": cfg.refresh_token,
    }
    token = (await client.post("/oauth/v1/token", data=form)).json()
    assert token["expires_in"] == 1800
    assert token["refresh_token"] == cfg.refresh_token
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await client.get(CONTACTS, headers=headers)).status_code == 200
    info = (await client.get(f"/oauth/v1/access-tokens/{token['access_token']}")).json()
    assert info["hub_id"] == cfg.portal_id
    await client.post("/_emulator/clock", json={"advance_ms": 1_875_000})
    r = await client.get(CONTACTS, headers=headers)
    body = r.json()
    assert r.status_code == 401
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"] == "The OAuth token used to make this call expired 75 second(s) ago."
    assert "expire time" in body["context"]
    bad = await client.post("/oauth/v3/token", data={**form, "refresh_token": "nope"})
    assert bad.status_code == 400
    assert bad.json()["status"] == "BAD_REFRESH_TOKEN"


async def test_ten_second_limit_gives_429_with_policy(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/limits", json={"ten_second_limit": 3})
    statuses = [(await client.get(CONTACTS)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = await client.get(CONTACTS)
    assert r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert r.json()["errorType"] == "RATE_LIMIT"
    await client.post("/_emulator/clock", json={"advance_ms": 10_001})
    assert (await client.get(CONTACTS)).status_code == 200


def test_signature_vectors_from_the_documentation() -> None:
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
        b'"changeFlag":"NEW","appId":54321}]'
    )
    assert sign_v1(secret, body) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    v2 = sign_v2(secret, "GET", "https://www.example.com/webhook_uri", b"")
    assert v2 == "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    sig = sign_v3(secret, "POST", "https://x.test/hook", body, 1_700_000_000_000)
    assert verify_v3(secret, "POST", "https://x.test/hook", body, 1_700_000_000_000, sig, 1_700_000_100_000)
    assert not verify_v3(secret, "POST", "https://x.test/hook", body, 1_700_000_000_000, sig, 1_700_000_400_001)


async def test_webhook_events_are_batched_and_signed(vendor: HubSpotEmulator, client: httpx.AsyncClient) -> None:
    target = "http://127.0.0.1:9/hook"
    settings: dict[str, object] = {
        "target_url": target,
        "client_secret": "s3cret",
        "subscriptions": [
            "contact.creation",
            "contact.propertyChange:lastname",
            "contact.deletion",
            "contact.merge",
        ],
    }
    assert (await client.post("/_emulator/webhooks", json=settings)).status_code == 200
    inputs = [{"properties": {"email": f"w{i}@example.com", "lastname": "L"}} for i in range(3)]
    ids = [x["id"] for x in (await client.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})).json()["results"]]
    ui = {"objectType": "contacts", "id": ids[0], "properties": {"lastname": "M"}}
    await client.post("/_emulator/ui-edit", json=ui)
    await client.delete(f"{CONTACTS}/{ids[1]}")
    vendor.webhook_hub.flush()
    deliveries = vendor.runtime.webhooks.deliveries
    body, headers = deliveries[0].render(0)
    events = orjson.loads(body)
    assert len(events) <= 100
    assert [e["subscriptionType"] for e in events[:6]] == ["contact.creation", "contact.propertyChange"] * 3
    assert events[0]["changeFlag"] == "NEW"
    assert events[0]["changeSource"] == "API"
    assert events[1]["propertyName"] == "lastname"
    assert headers["X-HubSpot-Signature"] == sign_v1("s3cret", body)
    timestamp = int(headers["X-HubSpot-Request-Timestamp"])
    assert headers["X-HubSpot-Signature-v3"] == sign_v3("s3cret", "POST", target, body, timestamp)
    later = [e for d in deliveries for e in orjson.loads(d.render(2)[0])][6:]
    assert {e["changeSource"] for e in later if e["subscriptionType"] == "contact.propertyChange"} == {"CRM"}
    assert any(e["subscriptionType"] == "contact.deletion" for e in later)
    assert all(e["attemptNumber"] == 2 for e in later)
