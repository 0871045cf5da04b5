"""Outbound Messages: the emulator's SOAP envelopes verified, decoded and acknowledged."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.salesforce import SalesforceWebhookDecoder
from crmsync.emulators.salesforce.outbound import acknowledged
from crmsync.errors import SignatureError, VendorResponseError

from .conftest import Admin

URL = "https://hooks.example/sf?token=s3cret"


async def envelope(app: Starlette, admin: Admin) -> tuple[bytes, list[str]]:
    vendor = app.state.vendor
    ids = [await admin.create("Contact", {"LastName": f"L{i}"}) for i in range(3)]
    registration = vendor.outbound.register("Contact", URL, ["LastName"], "https://sf.test")
    body: bytes = vendor.outbound.envelope(registration, ids)
    return body, ids


async def test_decode_and_ack(app: Starlette, admin: Admin, credentials: dict[str, str]) -> None:
    body, ids = await envelope(app, admin)
    decoder = SalesforceWebhookDecoder(credentials["org_id"], token=SecretStr("s3cret"))
    decoder.verify("POST", URL, {}, body)
    hints = decoder.decode(body)
    assert [(h.object, h.id, h.kind) for h in hints] == [("Contact", i, "changed") for i in ids]
    assert all(h.event_id for h in hints) and len({h.event_id for h in hints}) == 3
    status, headers, ack = decoder.acknowledge()
    assert acknowledged(status, ack) and headers["Content-Type"].startswith("text/xml")


async def test_other_org_and_bad_token_are_refused(app: Starlette, admin: Admin, credentials: dict[str, str]) -> None:
    body, _ = await envelope(app, admin)
    with pytest.raises(SignatureError, match="another org"):
        SalesforceWebhookDecoder("00D000000000001").verify("POST", URL, {}, body)
    decoder = SalesforceWebhookDecoder(credentials["org_id"], token=SecretStr("s3cret"))
    with pytest.raises(SignatureError, match="token"):
        decoder.verify("POST", "https://hooks.example/sf?token=guess", {}, body)


def test_dtd_and_entities_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>'
    decoder = SalesforceWebhookDecoder("00D000000000001")
    with pytest.raises(SignatureError, match="DTD"):
        decoder.verify("POST", URL, {}, bomb)


def test_a_body_that_is_no_outbound_message_is_malformed_not_forged() -> None:
    """With the right token, a broken body is the sender's bug (400), not a forgery (401)."""
    decoder = SalesforceWebhookDecoder("00D000000000001")
    with pytest.raises(VendorResponseError, match="well-formed"):
        decoder.verify("POST", URL, {}, b"<soapenv:Envelope")
    with pytest.raises(VendorResponseError, match="well-formed"):
        decoder.decode(b"<soapenv:Envelope")
    with pytest.raises(VendorResponseError, match="notifications"):
        decoder.decode(b"<a/>")
