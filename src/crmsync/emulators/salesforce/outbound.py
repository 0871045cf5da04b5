"""Outbound Messages: SOAP `notifications` for registered objects, retried until acknowledged, up to 24 h."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from crmsync.emulators.core.ids import salesforce_id18
from crmsync.emulators.core.store import ChangeEvent

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

MAX_PER_MESSAGE = 100
FIRST_RETRY_S = 15.0
MAX_RETRY_GAP_S = 2 * 3600.0
GIVE_UP_AFTER_S = 24 * 3600.0
_ACK = re.compile(rb"<(?:\w+:)?Ack>\s*true\s*</(?:\w+:)?Ack>")
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


@dataclass
class Registration:
    """An outbound-message action: which object, where to send, which fields to include."""

    action_id: str
    object_name: str
    url: str
    fields: list[str]
    base_url: str
    pending: list[str] = field(default_factory=list)


def retry_delay(attempts: int, status: int | None) -> float | None:
    """Exponential backoff capped at 2 h between tries; dropped once 24 h of tries have passed."""
    elapsed = sum(min(FIRST_RETRY_S * 2 ** (n - 1), MAX_RETRY_GAP_S) for n in range(1, attempts))
    delay = min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_GAP_S)
    if elapsed + delay > GIVE_UP_AFTER_S:
        return None
    return float(delay)


def acknowledged(status: int, body: bytes) -> bool:
    return status == 200 and _ACK.search(body) is not None


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ""
    return escape(str(value))


class OutboundMessages:
    def __init__(self, vendor: SalesforceVendor) -> None:
        self.vendor = vendor
        self.registrations: list[Registration] = []
        self._ids = itertools.count(1)
        self._notification_ids = itertools.count(1)
        vendor.runtime.store.subscribe(self._on_change)

    def reset(self) -> None:
        self.registrations.clear()

    def register(self, object_name: str, url: str, fields: list[str], base_url: str) -> Registration:
        action_id = salesforce_id18(f"04kdM{next(self._ids):010d}")
        names = ["Id", *[f for f in fields if f != "Id"]]
        registration = Registration(action_id, object_name, url, names, base_url)
        self.registrations.append(registration)
        return registration

    def _on_change(self, event: ChangeEvent) -> None:
        if event.kind not in {"create", "update"}:
            return
        for registration in self.registrations:
            if registration.object_name == event.collection:
                registration.pending.append(event.record_id)

    def flush(self) -> None:
        """Batch what one API call changed into messages of at most 100 notifications (called per request)."""
        for registration in self.registrations:
            pending, registration.pending = registration.pending, []
            for start in range(0, len(pending), MAX_PER_MESSAGE):
                self._enqueue(registration, pending[start : start + MAX_PER_MESSAGE])

    def _enqueue(self, registration: Registration, record_ids: list[str]) -> None:
        body = self.envelope(registration, record_ids)
        webhooks = self.vendor.runtime.webhooks
        webhooks.enqueue(
            registration.url,
            lambda attempt: (body, dict(SOAP_HEADERS)),
            retry_delay,
            ack=acknowledged,
            meta={"action_id": registration.action_id, "object": registration.object_name, "ids": record_ids},
        )

    def envelope(self, registration: Registration, record_ids: list[str]) -> bytes:
        org = self.vendor.org
        obj = org.objects[registration.object_name]
        renderer = org.renderers[obj.name]
        version = f"{self.vendor.config.max_api_version:.1f}"
        base = registration.base_url
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body>"
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{org.org_id}</OrganizationId>"
            f"<ActionId>{registration.action_id}</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{version}/{org.org_id[:15]}</EnterpriseUrl>"
            f"<PartnerUrl>{escape(base)}/services/Soap/u/{version}/{org.org_id[:15]}</PartnerUrl>"
        ]
        coll = org.coll(obj)
        for record_id in record_ids:
            record = coll.get(record_id, include_deleted=True)
            if record is None:
                continue
            notification_id = salesforce_id18(f"04ldM{next(self._notification_ids):010d}")
            parts.append(
                f"<Notification><Id>{notification_id}</Id>"
                f'<sObject xsi:type="sf:{obj.name}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            )
            for name in registration.fields:
                get = renderer.by_name.get(name)
                value = get(record) if get is not None else None
                if value is not None:
                    parts.append(f"<sf:{name}>{_xml_value(value)}</sf:{name}>")
            parts.append("</sObject></Notification>")
        parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
        return "".join(parts).encode()
