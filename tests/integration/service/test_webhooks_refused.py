"""What the webhook endpoints refuse, and why: each refusal is a 4xx with a reason, counted, and queues nothing."""

from __future__ import annotations

import time

import orjson

from crmsync.connectors.hubspot.webhooks import sign_v3
from crmsync.testing.sandbox.config import HS_WEBHOOK_SECRET, SF_WEBHOOK_TOKEN, WEBHOOK_SECRETS
from tests.integration.service.conftest import Served, ServeFactory

HUBSPOT_SECRET = WEBHOOK_SECRETS[HS_WEBHOOK_SECRET]


def _event(object_id: int) -> list[dict[str, object]]:
    return [
        {
            "eventId": 1,
            "subscriptionId": 1,
            "portalId": 1,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": object_id,
            "propertyName": "jobtitle",
            "propertyValue": "x",
        }
    ]


def _signed(served: Served, body: bytes, *, secret: str = HUBSPOT_SECRET, age_s: float = 0) -> dict[str, str]:
    timestamp = str(int((time.time() - age_s) * 1000))
    url = f"{served.url}/webhooks/hubspot"
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


async def _pending(served: Served) -> int:
    async with served.store.read() as tx:
        return (await tx.jobs.counts()).get("pending", 0)


async def test_a_signed_hubspot_event_is_queued_once_and_acknowledged(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    body = orjson.dumps(_event(424242))
    for _ in range(2):  # HubSpot retries deliveries: the second one coalesces with the first
        response = await served.http.post("/webhooks/hubspot", content=body, headers=_signed(served, body))
        assert response.status_code == 200
    assert await served.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="accepted") == 2
    assert await served.metric("crmsync_webhook_hints_total", connection="hubspot", kind="changed") == 2


async def test_refusals_say_why_count_and_queue_nothing(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    before = await _pending(served)
    body = orjson.dumps(_event(1))
    sf_token = WEBHOOK_SECRETS[SF_WEBHOOK_TOKEN]
    cases = [
        (
            "wrong secret",
            "/webhooks/hubspot",
            body,
            _signed(served, body, secret="not-the-secret"),
            401,
            "bad_signature",
        ),
        ("replayed", "/webhooks/hubspot", body, _signed(served, body, age_s=3600), 401, "bad_signature"),
        ("unsigned", "/webhooks/hubspot", body, {"Content-Type": "application/json"}, 401, "bad_signature"),
        ("not json", "/webhooks/hubspot", b"{oops", _signed(served, b"{oops"), 400, "malformed"),
        ("too large", "/webhooks/hubspot", b"[" + b" " * 2_000_000 + b"]", {}, 413, "too_large"),
        ("no such connection", "/webhooks/pipedrive", body, {}, 404, "unknown"),
        ("dataverse without its key", "/webhooks/dynamics", b"{}", {}, 401, "bad_signature"),
        ("salesforce with a wrong token", "/webhooks/salesforce?token=guess", b"<x/>", {}, 401, "bad_signature"),
        ("salesforce, its token, no envelope", f"/webhooks/salesforce?token={sf_token}", b"<x/>", {}, 400, "malformed"),
        ("salesforce, its token, not XML", f"/webhooks/salesforce?token={sf_token}", b"<x", {}, 400, "malformed"),
    ]
    for what, path, content, headers, status, outcome in cases:
        response = await served.http.post(path, content=content, headers=headers)
        assert response.status_code == status, what
        answer = response.json()
        assert answer["error"] == outcome and answer["message"], what
    assert await _pending(served) == before
    refused = await served.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="bad_signature")
    assert refused == 3
    assert await served.metric("crmsync_webhook_requests_total", connection="(unknown)", outcome="unknown") == 1
    assert await served.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="accepted") == 0


async def test_no_secret_appears_in_refusals_or_metrics(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    token = WEBHOOK_SECRETS[SF_WEBHOOK_TOKEN]
    refusal = await served.http.post("/webhooks/salesforce?token=wrong", content=b"<x/>")
    metrics = (await served.http.get("/metrics")).text
    for secret in WEBHOOK_SECRETS.values():
        assert secret not in refusal.text and secret not in metrics
    assert token not in (await served.http.get("/readyz")).text


async def test_health_readiness_and_metrics(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    assert (await served.http.get("/healthz")).json() == {"status": "ok"}
    ready = (await served.http.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["last_pass"]["trigger"] == "poll" and ready["last_pass"]["ok"]
    metrics = (await served.http.get("/metrics")).text
    for name in (
        "crmsync_queue_jobs",
        "crmsync_queue_oldest_pending_seconds",
        "crmsync_sync_passes_total",
        "crmsync_sync_pass_seconds_bucket",
        "crmsync_last_successful_pass_timestamp_seconds",
        "crmsync_rate_limit_waits_total",
        "crmsync_quota_used",
    ):
        assert name in metrics, name
    # The startup poll's calls, counted by the limiters that admitted them.
    assert await served.metric("crmsync_api_calls_total", connection="hubspot", limiter="hubspot") > 0
    assert await served.metric("crmsync_sync_passes_total", trigger="poll", result="ok") >= 1, ready
