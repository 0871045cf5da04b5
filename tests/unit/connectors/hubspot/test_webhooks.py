"""HubSpotWebhookDecoder: v1/v2 documented vectors, v3 on the emulator's signed deliveries, decoding."""

from __future__ import annotations

import httpx
import orjson
import pytest

from crmsync.connectors.base import ChangeHint
from crmsync.connectors.hubspot import HubSpotWebhookDecoder
from crmsync.connectors.hubspot.records import from_ms
from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator
from crmsync.errors import SignatureError, VendorResponseError
from tests.unit.connectors.hubspot.conftest import control
from tests.unit.connectors.hubspot.helpers import create

DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)
V1_SIGNATURE = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
V2_SIGNATURE = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
TARGET = "https://sync.example.com/hooks/hubspot?connection=hs%3Amain"


def test_documented_v1_and_v2_vectors() -> None:
    decoder = HubSpotWebhookDecoder(DOC_SECRET, versions={"v1", "v2"})
    decoder.verify("POST", TARGET, {"X-HubSpot-Signature": V1_SIGNATURE, "X-HubSpot-Signature-Version": "v1"}, V1_BODY)
    headers = {"x-hubspot-signature": V2_SIGNATURE, "x-hubspot-signature-version": "v2"}
    decoder.verify("GET", "https://www.example.com/webhook_uri", headers, b"")
    with pytest.raises(SignatureError):
        decoder.verify("POST", TARGET, {"X-HubSpot-Signature": V1_SIGNATURE}, V1_BODY + b" ")
    assert decoder.decode(V1_BODY) == [ChangeHint("contacts", "123", "changed", from_ms(1564113600000), "1")]


def test_v1_is_refused_unless_configured() -> None:
    decoder = HubSpotWebhookDecoder(DOC_SECRET)
    with pytest.raises(SignatureError, match="no accepted signature"):
        decoder.verify("POST", TARGET, {"X-HubSpot-Signature": V1_SIGNATURE}, V1_BODY)
    assert DOC_SECRET not in repr(decoder)


async def signed_delivery(client: httpx.AsyncClient, vendor: HubSpotEmulator) -> tuple[bytes, dict[str, str], int]:
    subscriptions = ["contact.creation", "contact.deletion", "contact.merge", "contact.associationChange"]
    await control(client, "POST", "webhooks", {"target_url": TARGET, "subscriptions": subscriptions})
    await control(client, "POST", "clock", {"freeze": True})
    ids = await create(client, "contacts", 2, email="w{i}@example.com")
    company = (await create(client, "companies", 1, name="Co"))[0]
    await control(
        client, "POST", "merge", {"objectType": "contacts", "primaryObjectId": ids[0], "objectIdToMerge": ids[1]}
    )
    await client.put(
        f"/crm/v4/objects/contacts/{ids[0]}/associations/default/companies/{company}",
        headers={"Authorization": f"Bearer {HubSpotConfig().private_app_token}"},
    )
    vendor.webhook_hub.flush()
    deliveries = vendor.runtime.webhooks.deliveries
    body = b"[" + b",".join(d.render(0)[0][1:-1] for d in deliveries) + b"]"
    # Each delivery is signed on its own: verify the first as sent, decode the events of all.
    first_body, headers = deliveries[0].render(0)
    assert first_body
    return body, {**headers, "X-First-Body": first_body.decode()}, vendor.runtime.clock.now_ms()


async def test_v3_signatures_of_emulator_deliveries(client: httpx.AsyncClient, vendor: HubSpotEmulator) -> None:
    _, headers, now_ms = await signed_delivery(client, vendor)
    body = headers.pop("X-First-Body").encode()
    decoder = HubSpotWebhookDecoder(HubSpotConfig().client_secret, clock=lambda: now_ms / 1000 + 60)
    decoder.verify("POST", TARGET, headers, body)
    with pytest.raises(SignatureError, match="does not match"):
        decoder.verify("POST", TARGET, headers, body.replace(b"contact", b"company", 1))
    with pytest.raises(SignatureError, match="does not match"):
        HubSpotWebhookDecoder("another-secret", clock=lambda: now_ms / 1000).verify("POST", TARGET, headers, body)
    stale = HubSpotWebhookDecoder(HubSpotConfig().client_secret, clock=lambda: now_ms / 1000 + 301)
    with pytest.raises(SignatureError, match="replay"):
        stale.verify("POST", TARGET, headers, body)
    with pytest.raises(SignatureError, match="Timestamp"):
        decoder.verify("POST", TARGET, {**headers, "X-HubSpot-Request-Timestamp": "soon"}, body)


async def test_decode_creation_merge_deletion_and_associations(
    client: httpx.AsyncClient, vendor: HubSpotEmulator
) -> None:
    body, _, _ = await signed_delivery(client, vendor)
    hints = HubSpotWebhookDecoder("secret").decode(body)
    kinds = [(h.object, h.kind) for h in hints]
    assert kinds.count(("contacts", "changed")) >= 3  # two creations and the merge survivor
    merged = [h for h in hints if h.kind == "merged"]
    survivor = merged[0].merged_into
    assert len(merged) == 2 and all(h.merged_into == survivor for h in merged)
    assert ("contacts", survivor, "changed") in [(h.object, h.id, h.kind) for h in hints]
    associations = {(h.object, h.id) for h in hints if h.kind == "associations"}
    assert {o for o, _ in associations} == {"contacts", "companies"}
    assert all(h.event_id and h.occurred_at for h in hints)
    events = orjson.loads(body)
    assert len({h.event_id for h in hints}) == len(events)


def test_decode_deletion_and_refuses_garbage() -> None:
    decoder = HubSpotWebhookDecoder("secret")
    body = orjson.dumps([{"eventId": 9, "subscriptionType": "deal.deletion", "objectId": 42, "occurredAt": 1}])
    assert decoder.decode(body) == [ChangeHint("deals", "42", "deleted", from_ms(1), "9")]
    assert decoder.decode(orjson.dumps([{"eventId": 1, "subscriptionType": "ticket.creation", "objectId": 1}])) == []
    with pytest.raises(VendorResponseError):
        decoder.decode(b"<html>")
    with pytest.raises(VendorResponseError, match="no object id"):
        decoder.decode(orjson.dumps([{"eventId": 2, "subscriptionType": "contact.creation"}]))
    assert decoder.acknowledge()[0] == 200
