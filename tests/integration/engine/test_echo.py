"""Scenario S09 (invariant 3): the vendors' notifications of crmsync's own writes, and the next poll, write nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmsync.connectors.base import ChangeHint
from crmsync.connectors.dynamics.webhooks import DynamicsWebhookDecoder
from crmsync.connectors.hubspot.webhooks import HubSpotWebhookDecoder
from crmsync.connectors.salesforce.webhooks import SalesforceWebhookDecoder
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.emulators.server import serve_in_thread
from crmsync.engine.outbox import refetch_job
from crmsync.engine.report import RunReport
from crmsync.errors import SignatureError
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.testing.sandbox import OBJECTS, Sandbox
from tests.integration.engine.conftest import Crm

EMAIL = "katherine.johnson@example.com"
# Secrets the webhook registrations are made with; the decoders must be given the same ones to accept a delivery.
HUBSPOT_SECRET = "echo-hubspot-app-secret"
SALESFORCE_TOKEN = "echo-salesforce-url-token"
DYNAMICS_KEY = "echo-dataverse-webhook-key"
# The vendor's object name -> canonical kind, to turn a hint into a refetch job (as the webhook receiver will).
KINDS: Mapping[VendorName, Mapping[str, ObjectKind]] = {
    vendor: {obj: kind for kind, obj in OBJECTS[vendor].items()} for vendor in VENDOR_NAMES
}


class Decoder(Protocol):
    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None: ...
    def decode(self, body: bytes) -> list[ChangeHint]: ...
    def acknowledge(self) -> tuple[int, dict[str, str], bytes]: ...


def decoders(
    sb: Sandbox, hubspot: str = HUBSPOT_SECRET, salesforce: str = SALESFORCE_TOKEN, dynamics: str = DYNAMICS_KEY
) -> dict[VendorName, Decoder]:
    """One decoder per vendor, configured with the given secrets (by default those the registrations were made with)."""
    hubspot_clock = sb.emulator("hubspot").runtime.clock
    return {
        # The replay window is judged on HubSpot's clock, which other scenarios of the session may have moved.
        "hubspot": HubSpotWebhookDecoder(hubspot, clock=lambda: hubspot_clock.now_ms() / 1000),
        "salesforce": SalesforceWebhookDecoder(sb.endpoints.salesforce.org_id, token=SecretStr(salesforce)),
        "dynamics": DynamicsWebhookDecoder(SecretStr(dynamics)),
    }


@dataclass(frozen=True, slots=True)
class Notification:
    vendor: VendorName
    url: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Stands in for crmsync's webhook endpoint (a later issue): keeps each request, answers as the vendor wants."""

    def __init__(self, acks: Mapping[VendorName, Decoder]) -> None:
        self._acks = acks
        self._received: list[Notification] = []
        self._lock = threading.Lock()  # requests arrive on the server's thread
        self.app = Starlette(routes=[Route("/{vendor}", self._hook, methods=["POST"])])
        self.base_url = ""

    async def _hook(self, request: Request) -> Response:
        vendor = next(v for v in VENDOR_NAMES if v == request.path_params["vendor"])
        body = await request.body()
        with self._lock:
            self._received.append(Notification(vendor, str(request.url), dict(request.headers), body))
        status, headers, content = self._acks[vendor].acknowledge()
        return Response(content, status, headers)

    async def subscribe(self, sb: Sandbox) -> None:
        """Register contact notifications on the three emulators (any change, every property)."""
        subscriptions = ["contact.creation", "contact.propertyChange", "contact.deletion", "contact.merge"]
        await sb.hubspot.control.call(
            "POST",
            "webhooks",
            {"target_url": f"{self.base_url}/hubspot", "client_secret": HUBSPOT_SECRET, "subscriptions": subscriptions},
        )
        await sb.salesforce.control.call(
            "POST",
            "outbound-messages",
            {
                "object": "Contact",
                "url": f"{self.base_url}/salesforce?token={SALESFORCE_TOKEN}",
                "fields": ["LastName", "Title"],
            },
        )
        await sb.dynamics.control.call(
            "POST",
            "webhooks",
            {"url": f"{self.base_url}/dynamics", "auth": "WebhookKey", "key": DYNAMICS_KEY, "table": "contact"},
        )

    async def collect(self, sb: Sandbox) -> list[Notification]:
        """Everything received since the last collect, once no emulator has a delivery left in flight."""
        for vendor in VENDOR_NAMES:
            deliveries = await sb.user(vendor).control.deliveries(settled=True)
            assert all(d["state"] == "delivered" for d in deliveries), f"{vendor}: {deliveries}"
        with self._lock:
            taken, self._received = self._received, []
        return taken


@pytest.fixture
def receiver(sandbox: Sandbox) -> Iterator[Receiver]:
    hub = Receiver(decoders(sandbox))
    with serve_in_thread(hub.app) as served:
        hub.base_url = served.base_url
        yield hub


@dataclass(frozen=True, slots=True)
class Contact:
    canonical: str
    ids: Mapping[VendorName, str]


async def _everywhere(crm: Crm) -> Contact:
    """A contact created in HubSpot and synced: crmsync created it in Salesforce and Dataverse."""
    hs = await crm.sb.hubspot.create(
        "contact", {"firstname": "Katherine", "lastname": "Johnson", "email": EMAIL, "jobtitle": "Computer"}
    )
    await crm.sync()
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    return Contact(canonical, {"salesforce": sf, "hubspot": hs, "dynamics": dv})


Hint = tuple[VendorName, ChangeHint]


def verified_hints(sb: Sandbox, notifications: Sequence[Notification]) -> list[Hint]:
    """What the receiver will do with each request: verify it with the configured secret, then decode it."""
    found: list[Hint] = []
    genuine = decoders(sb)
    # Decoders holding other secrets must refuse the same requests, or passing `verify` would prove nothing.
    forged = decoders(sb, "another-secret", "another-token", "another-key")
    for note in notifications:
        genuine[note.vendor].verify("POST", note.url, note.headers, note.body)
        with pytest.raises(SignatureError, match=r"not match|wrong URL token"):
            forged[note.vendor].verify("POST", note.url, note.headers, note.body)
        found += [(note.vendor, hint) for hint in genuine[note.vendor].decode(note.body)]
    return found


async def enqueue(crm: Crm, hints: Sequence[Hint]) -> list[int]:
    """Each hint as the inbox job the receiver will enqueue, one transaction per request as it will be."""
    job_ids = []
    for connection, hint in hints:
        job = refetch_job(
            KINDS[connection][hint.object], connection, hint.object, hint.id, reason=f"webhook {hint.event_id}"
        )
        async with crm.store.begin() as tx:
            job_ids.append(await tx.jobs.enqueue(job))
    return job_ids


async def assert_done(crm: Crm, job_ids: Sequence[int]) -> None:
    """The hints were acted on (fetched and reconciled), not left in the queue: the zero writes are earned."""
    async with crm.store.read() as tx:
        jobs = [await tx.jobs.get(job_id) for job_id in job_ids]
    assert [job.status if job else None for job in jobs] == ["done"] * len(job_ids)


def assert_no_writes(report: RunReport) -> None:
    counts = {what: report.total(what) for what in ("created", "updated", "deleted")}
    assert counts == {"created": 0, "updated": 0, "deleted": 0} and report.plan == [], (counts, report.plan)
    assert report.failures == []


Snapshot = tuple[dict[str, CanonicalValue], dict[VendorName, dict[str, Any] | None]]


async def snapshot(crm: Crm, contact: Contact) -> Snapshot:
    """The golden record and every field of the three rows (modification stamps included: any write shows)."""
    rows = {vendor: await crm.sb.user(vendor).get("contact", remote_id) for vendor, remote_id in contact.ids.items()}
    return await crm.golden(contact.canonical), rows


async def test_s09_notifications_of_own_writes_and_the_next_poll_write_nothing(crm: Crm, receiver: Receiver) -> None:
    await receiver.subscribe(crm.sb)
    contact = await _everywhere(crm)
    # Salesforce and Dataverse announce the creates crmsync made; HubSpot the user's create, already synced.
    created = verified_hints(crm.sb, await receiver.collect(crm.sb))
    assert {(vendor, hint.id) for vendor, hint in created} == set(contact.ids.items())
    before = await snapshot(crm, contact)
    job_ids = await enqueue(crm, created)
    assert_no_writes(await crm.sync())
    await assert_done(crm, job_ids)
    assert await snapshot(crm, contact) == before
    assert await receiver.collect(crm.sb) == []

    await crm.sb.hubspot.update("contact", contact.ids["hubspot"], {"jobtitle": "Mathematician"})
    edit = await crm.sync()
    assert {(w.connection, w.operation) for w in edit.plan} == {("salesforce", "update"), ("dynamics", "update")}

    # Salesforce and Dataverse notify about crmsync's own writes; HubSpot about the user's edit, already synced.
    hints = verified_hints(crm.sb, await receiver.collect(crm.sb))
    assert {(vendor, hint.id, hint.kind) for vendor, hint in hints} == {
        (vendor, remote_id, "changed") for vendor, remote_id in contact.ids.items()
    }
    before = await snapshot(crm, contact)
    assert before[1]["salesforce"] is not None and before[1]["salesforce"]["Title"] == "Mathematician"
    assert before[1]["dynamics"] is not None and before[1]["dynamics"]["jobtitle"] == "Mathematician"

    job_ids = await enqueue(crm, hints)
    assert_no_writes(await crm.sync())
    await assert_done(crm, job_ids)
    assert await snapshot(crm, contact) == before

    # The poll: crmsync's writes are in every change feed by now, and must not come back as writes either.
    assert_no_writes(await crm.sync())
    assert await snapshot(crm, contact) == before
    # No vendor saw a write, counted or not.
    assert await receiver.collect(crm.sb) == []
    assert await crm.conflicts() == [] and await crm.errors() == []


async def test_s09_duplicate_and_out_of_order_notifications_are_harmless(crm: Crm, receiver: Receiver) -> None:
    contact = await _everywhere(crm)
    await receiver.subscribe(crm.sb)
    await crm.sb.hubspot.update("contact", contact.ids["hubspot"], {"jobtitle": "Mathematician"})
    await crm.sync()
    older = verified_hints(crm.sb, await receiver.collect(crm.sb))
    await crm.sb.hubspot.update("contact", contact.ids["hubspot"], {"jobtitle": "Aerospace Technologist"})
    await crm.sync()
    newer = verified_hints(crm.sb, await receiver.collect(crm.sb))
    assert older and newer
    before = await snapshot(crm, contact)

    # Every notification delivered twice, and the older round arriving after the newer one.
    job_ids = await enqueue(crm, newer) + await enqueue(crm, newer) + await enqueue(crm, older)
    assert_no_writes(await crm.sync())
    await assert_done(crm, job_ids)
    assert await snapshot(crm, contact) == before
    # A vendor's redelivery after the first copy was processed (at-least-once delivery).
    job_ids = await enqueue(crm, older) + await enqueue(crm, newer)
    assert_no_writes(await crm.sync())
    await assert_done(crm, job_ids)
    assert await snapshot(crm, contact) == before
    assert await receiver.collect(crm.sb) == []

    # A genuine later edit in Dataverse still lands, though stale notifications arrive right after its own.
    await crm.sb.dynamics.update("contact", contact.ids["dynamics"], {"jobtitle": "Research Mathematician"})
    fresh = verified_hints(crm.sb, await receiver.collect(crm.sb))
    assert [(vendor, hint.id) for vendor, hint in fresh] == [("dynamics", contact.ids["dynamics"])]
    job_ids = await enqueue(crm, fresh) + await enqueue(crm, older) + await enqueue(crm, newer)
    landed = await crm.sync()
    await assert_done(crm, job_ids)
    assert sorted((w.connection, w.operation) for w in landed.plan) == [("hubspot", "update"), ("salesforce", "update")]
    assert {name for w in landed.plan for name, _, _ in w.changes} == {"title"}
    sf_row = await crm.sb.salesforce.get("contact", contact.ids["salesforce"])
    hs_row = await crm.sb.hubspot.get("contact", contact.ids["hubspot"])
    assert sf_row is not None and sf_row["Title"] == "Research Mathematician"
    assert hs_row is not None and hs_row["jobtitle"] == "Research Mathematician"

    # Its echoes (twice each, with the stale ones among them) and the poll after them write nothing.
    echoes = verified_hints(crm.sb, await receiver.collect(crm.sb))
    assert {vendor for vendor, _ in echoes} == {"salesforce", "hubspot"}
    after = await snapshot(crm, contact)
    job_ids = await enqueue(crm, echoes) + await enqueue(crm, older) + await enqueue(crm, echoes)
    assert_no_writes(await crm.sync())
    await assert_done(crm, job_ids)
    assert_no_writes(await crm.sync())
    assert await snapshot(crm, contact) == after
    assert await receiver.collect(crm.sb) == []
    assert await crm.conflicts() == [] and await crm.errors() == []
