"""Outbound Messages: parse the SOAP `notifications` envelope safely, check the org and token, answer the Ack."""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit
from xml.parsers import expat

from pydantic import SecretStr

from crmsync.connectors.base import ChangeHint
from crmsync.errors import SignatureError, VendorResponseError

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
MAX_BODY = 10 * 1024 * 1024
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def _refuse_declarations(body: bytes) -> None:
    """Reject DTDs and entity declarations before ElementTree sees the body (no XXE, no entity expansion)."""

    def refuse(*_: object) -> None:
        raise SignatureError("outbound message: XML declarations (DTD/entities) are not accepted")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = lambda *_: False
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise _malformed(f"not well-formed XML ({exc})") from None


def _malformed(what: str) -> VendorResponseError:
    """A body that is no outbound message, sent with the right token: the sender's bug (400), not a forgery (401)."""
    return VendorResponseError(f"outbound message: {what}", retryable=False)


def _org15(org_id: str) -> str:
    return org_id.strip()[:15]


class SalesforceWebhookDecoder:
    """Verifies and decodes Outbound Messages for one org.

    `org_id` is the org the messages must come from (15- or 18-character id). `token`, when set, must
    appear as the `token_param` query parameter of the endpoint URL registered in Salesforce: Outbound
    Messages carry no signature, so a secret URL is the documented way to authenticate the sender.
    """

    def __init__(self, org_id: str, *, token: SecretStr | None = None, token_param: str = "token") -> None:
        if not org_id:
            raise ValueError("the org id to accept outbound messages from is required")
        self.org_id = org_id
        self.token = token
        self.token_param = token_param

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        if method.upper() != "POST":
            raise SignatureError("outbound message: only POST is accepted")
        if self.token is not None:
            given = parse_qs(urlsplit(url).query).get(self.token_param, [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.get_secret_value().encode()):
                raise SignatureError("outbound message: missing or wrong URL token")
        org = self._notifications(body).findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or ""
        if not hmac.compare_digest(_org15(org).encode(), _org15(self.org_id).encode()):
            raise SignatureError(f"outbound message from another org ({org[:18]!r})")

    def decode(self, body: bytes) -> list[ChangeHint]:
        hints: list[ChangeHint] = []
        for notification in self._notifications(body).findall(f"{{{OUTBOUND_NS}}}Notification"):
            event_id = notification.findtext(f"{{{OUTBOUND_NS}}}Id")
            sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
            if sobject is None:
                raise _malformed("a notification has no sObject")
            type_name = sobject.get(XSI_TYPE, "")
            obj = type_name.rpartition(":")[2]
            record_id = next((child.text for child in sobject if child.tag.rpartition("}")[2] == "Id"), None)
            if not obj or not record_id:
                raise _malformed("a notification lacks the object type or record id")
            hints.append(ChangeHint(object=obj, id=record_id.strip(), kind="changed", event_id=event_id))
        return hints

    def acknowledge(self) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/xml; charset=utf-8"}, ACK

    def _notifications(self, body: bytes) -> ET.Element:
        if len(body) > MAX_BODY:
            raise _malformed("body too large")
        _refuse_declarations(body)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise _malformed(f"not well-formed XML ({exc})") from None
        found = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
        if found is None:
            raise _malformed("no SOAP Body/notifications element")
        return found
