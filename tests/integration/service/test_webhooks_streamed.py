"""Webhook bodies that arrive in pieces (chunked, no Content-Length): read whole, or refused at the size limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson

from crmsync.connectors.hubspot.webhooks import sign_v3
from crmsync.testing.sandbox.config import HS_WEBHOOK_SECRET, WEBHOOK_SECRETS
from tests.integration.service.conftest import Served, ServeFactory

HUBSPOT_SECRET = WEBHOOK_SECRETS[HS_WEBHOOK_SECRET]


def _events(first_id: int, count: int) -> bytes:
    now_ms = int(time.time() * 1000)
    return orjson.dumps(
        [
            {
                "eventId": first_id + n,
                "subscriptionId": 1,
                "portalId": 1,
                "occurredAt": now_ms,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": first_id + n,
                "propertyName": "jobtitle",
                "propertyValue": "x",
            }
            for n in range(count)
        ]
    )


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    """`body` as an async stream: httpx sends it chunked, so the service gets several body messages."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _signed(served: Served, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    url = f"{served.url}/webhooks/hubspot"
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


async def _hinted(served: Served, first_id: int, count: int) -> int:
    """Jobs of these contacts in any status: a pass may already have claimed or finished them."""
    async with served.store.read() as tx:
        queued = await tx.jobs.list()
    wanted = {f"in:hubspot/contacts/{first_id + n}" for n in range(count)}
    return sum(1 for job in queued if job.key in wanted)


async def test_a_chunked_body_is_read_whole_verified_and_queued(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    body = _events(7_100_000, 40)
    response = await served.http.post("/webhooks/hubspot", content=_pieces(body, 300), headers=_signed(served, body))
    assert response.status_code == 200, response.text
    assert "content-length" not in response.request.headers  # it really went chunked
    assert await _hinted(served, 7_100_000, 40) == 40


async def test_a_chunked_body_past_the_limit_is_refused_and_queues_nothing(serve: ServeFactory) -> None:
    served = await serve(register=False)
    await served.started()
    limit = served.config.service.max_body_bytes
    padding = b" " * (limit + 1)
    body = _events(7_200_000, 1)[:-1] + padding + b"]"  # valid JSON, and signed: only its size is wrong
    response = await served.http.post(
        "/webhooks/hubspot", content=_pieces(body, 64 * 1024), headers=_signed(served, body)
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert await _hinted(served, 7_200_000, 1) == 0
    assert await served.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="too_large") == 1
