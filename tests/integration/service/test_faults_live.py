"""S21, S22 and S24 through `crmsync serve`: throttled or failing CRMs delay webhook-driven changes, never lose them."""

from __future__ import annotations

import contextlib
import time

import orjson
import sqlalchemy as sa

from crmsync.connectors.hubspot.webhooks import sign_v3
from crmsync.engine.runlock import RunInProgressError, new_worker_id, run_lease
from crmsync.store import open_store
from crmsync.store.tables import jobs
from crmsync.testing.sandbox.config import HS_WEBHOOK_SECRET, WEBHOOK_SECRETS
from tests.integration.service.conftest import Served, ServeFactory, eventually

OUTAGE_DEADLINE_S = 60.0


async def _write_jobs(served: Served, connection: str) -> list[tuple[str, int]]:
    async with served.store.read() as tx:
        rows = await tx.connection.execute(
            sa.select(jobs.c.status, jobs.c.attempts).where(jobs.c.kind.like(f"write:%:{connection}"))
        )
        return [(str(status), int(attempts)) for status, attempts in rows]


async def test_s22_an_outage_delays_webhook_changes_then_delivers_them_in_order_once(serve: ServeFactory) -> None:
    # One send per batch, so a pass meets the outage after one call's retries (about 15 s), not three.
    served = await serve(connections={"salesforce": {"item_retries": 0}})
    await served.started()
    sb = served.sb
    await sb.salesforce.control.set_faults([{"kind": "status", "status": 503, "path": "^/services/data"}])
    emails = [f"outage{n}@example.com" for n in range(4)]
    created = [await sb.hubspot.create("contact", {"lastname": f"Outage{n}", "email": e}) for n, e in enumerate(emails)]
    for title in ("First", "Second", "Third"):  # one record edited three times while Salesforce is down
        await sb.hubspot.update("contact", created[0], {"jobtitle": title})

    async def paused() -> bool:
        return "salesforce" in (await served.http.get("/readyz")).json().get("paused_connections", {})

    await eventually(
        paused,
        after=served.progress,
        what="Salesforce paused after a pass failed against it",
        deadline_s=OUTAGE_DEADLINE_S,
    )
    waiting = await _write_jobs(served, "salesforce")
    assert waiting and {status for status, _ in waiting} == {"pending"}
    assert {attempts for _, attempts in waiting} == {0}  # an outage spends no attempt: nothing dead-letters
    # While Salesforce is paused, the other CRMs stay live.
    late = await sb.hubspot.create("contact", {"lastname": "Late", "email": "late@example.com"})

    async def late_in_dataverse() -> bool:
        return bool(await sb.dynamics.find("contact", "emailaddress1", "late@example.com"))

    await eventually(
        late_in_dataverse, after=served.progress, what=f"HubSpot contact {late} in Dataverse during the outage"
    )
    await sb.salesforce.control.clear_faults()

    async def delivered() -> bool:
        found = [await sb.salesforce.find("contact", "Email", e, ["Title"]) for e in [*emails, "late@example.com"]]
        return all(len(rows) == 1 for rows in found) and found[0][0]["Title"] == "Third"

    await eventually(
        delivered,
        after=served.progress,
        what="every change in Salesforce after the outage",
        deadline_s=OUTAGE_DEADLINE_S,
    )

    async def settled() -> bool:  # the pass records the writes just after Salesforce holds them
        return {status for status, _ in await _write_jobs(served, "salesforce")} == {"done"}

    await eventually(settled, after=served.progress, what="the delivered writes marked done")


async def test_s21_a_429_storm_slows_webhook_changes_and_loses_none(serve: ServeFactory) -> None:
    served = await serve()
    await served.started()
    sb = served.sb
    # Every third Dataverse call is refused with 429 and Retry-After: 1 while people edit HubSpot.
    storm = {"kind": "rate_limit", "path": "^/api/data", "probability": 0.34, "retry_after_s": 1}
    await sb.dynamics.control.set_faults([storm], seed=21)
    emails = [f"storm{n}@example.com" for n in range(6)]
    for n, email in enumerate(emails):
        await sb.hubspot.create("contact", {"lastname": f"Storm{n}", "email": email, "jobtitle": "Analyst"})

    async def delivered() -> bool:
        found = [await sb.dynamics.find("contact", "emailaddress1", e, ["jobtitle"]) for e in emails]
        return all(len(rows) == 1 and rows[0]["jobtitle"] == "Analyst" for rows in found)

    await eventually(
        delivered,
        after=served.progress,
        what="every contact in Dataverse through the storm",
        deadline_s=OUTAGE_DEADLINE_S,
    )
    report = await sb.dynamics.control.clear_faults()
    assert sum(int(rule.get("fired", 0)) for rule in report) >= 1, report  # there was a storm


def _signed(served: Served, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    secret = WEBHOOK_SECRETS[HS_WEBHOOK_SECRET]
    signature = sign_v3(secret, "POST", f"{served.url}/webhooks/hubspot", body, timestamp)
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


async def test_s24_the_same_valid_delivery_twice_leads_to_one_reconcile(serve: ServeFactory) -> None:
    served = await serve(register=False)  # only the deliveries this test sends
    await served.started()
    contact = await served.sb.hubspot.create("contact", {"lastname": "Twice", "email": "twice@example.com"})
    event = {
        "eventId": 24,
        "subscriptionId": 1,
        "portalId": 1,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": int(contact),
    }
    body = orjson.dumps([event])
    async with contextlib.AsyncExitStack() as lease:
        lease_store = await open_store(served.config.state_url)
        lease.push_async_callback(lease_store.aclose)

        async def held() -> bool:  # the service cannot sync until both deliveries are in
            try:
                await lease.enter_async_context(run_lease(lease_store, new_worker_id()))
            except RunInProgressError:
                return False
            return True

        await eventually(held, after=served.progress, what="the run lease")
        for _ in range(2):
            response = await served.http.post("/webhooks/hubspot", content=body, headers=_signed(served, body))
            assert response.status_code == 200
        async with served.store.read() as tx:
            queued = [j for j in await tx.jobs.list(status="pending") if j.key.startswith("in:hubspot/")]
        assert [j.key for j in queued] == [f"in:hubspot/contacts/{contact}"]

    async def reconciled_once() -> bool:
        read = await served.metric("crmsync_records_total", kind="contact", connection="hubspot", outcome="read")
        return read >= 1

    await eventually(reconciled_once, after=served.progress, what="the hinted contact reconciled")
    assert await served.metric("crmsync_records_total", kind="contact", connection="hubspot", outcome="read") == 1
    assert len(await served.sb.salesforce.find("contact", "Email", "twice@example.com")) == 1
