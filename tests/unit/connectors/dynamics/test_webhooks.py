"""The webhook decoder: shared-key checks (header or `?code=`), RemoteExecutionContext → hints, emulator deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.base import WriteOp
from crmsync.connectors.dynamics import DynamicsConnector, DynamicsWebhookDecoder
from crmsync.errors import SignatureError, VendorResponseError

from .conftest import EXTERNAL_ID, control

KEY = SecretStr("s3cret-key")
BODY = orjson.dumps({"MessageName": "Update", "PrimaryEntityName": "contact", "PrimaryEntityId": "x"})


def _context(message: str, **extra: Any) -> bytes:
    base = {
        "MessageName": message,
        "PrimaryEntityName": "account",
        "PrimaryEntityId": "0d15ea5e-0000-4000-8000-000000000001",
        "OperationId": "6a1b2c3d-0000-4000-8000-000000000001",
        "CorrelationId": "c",
        "RequestId": "r",
        "OperationCreatedOn": "/Date(1506409448000-0700)/",
        "InputParameters": [],
    }
    return orjson.dumps({**base, **extra})


def test_the_key_is_accepted_from_the_header_or_the_code() -> None:
    decoder = DynamicsWebhookDecoder(KEY)
    decoder.verify("POST", "https://hooks.example/dv", {"X-CrmSync-Key": "s3cret-key"}, BODY)
    decoder.verify("POST", "https://hooks.example/dv?code=s3cret-key", {}, BODY)
    with pytest.raises(SignatureError):
        decoder.verify("POST", "https://hooks.example/dv?code=wrong", {"x-crmsync-key": "also-wrong"}, BODY)
    with pytest.raises(SignatureError, match="no key"):
        decoder.verify("POST", "https://hooks.example/dv", {}, BODY)
    with pytest.raises(SignatureError):
        decoder.verify("GET", "https://hooks.example/dv?code=s3cret-key", {}, BODY)


def test_a_replay_window_can_be_enforced() -> None:
    created = datetime.fromtimestamp(1506409448, tz=UTC).timestamp()
    decoder = DynamicsWebhookDecoder(KEY, max_age_s=60, clock=lambda: created + 30)
    decoder.verify("POST", "https://h/?code=s3cret-key", {}, _context("Update"))
    late = DynamicsWebhookDecoder(KEY, max_age_s=60, clock=lambda: created + 600)
    with pytest.raises(SignatureError, match="replay"):
        late.verify("POST", "https://h/?code=s3cret-key", {}, _context("Update"))


def test_messages_become_hints() -> None:
    decoder = DynamicsWebhookDecoder(KEY)
    [created] = decoder.decode(_context("Create"))
    assert (created.object, created.id, created.kind) == ("account", "0d15ea5e-0000-4000-8000-000000000001", "changed")
    assert created.event_id == "6a1b2c3d-0000-4000-8000-000000000001"
    assert created.occurred_at == datetime.fromtimestamp(1506409448, tz=UTC)
    [deleted] = decoder.decode(_context("Delete"))
    assert deleted.kind == "deleted"
    survivor, merged = decoder.decode(
        _context(
            "Merge",
            OperationId="00000000-0000-0000-0000-000000000000",
            InputParameters=[
                {"key": "Target", "value": {"Id": "0d15ea5e-0000-4000-8000-000000000001", "LogicalName": "account"}},
                {"key": "SubordinateId", "value": "0d15ea5e-0000-4000-8000-000000000002"},
            ],
        )
    )
    assert (survivor.kind, survivor.id) == ("changed", "0d15ea5e-0000-4000-8000-000000000001")
    assert (merged.kind, merged.id, merged.merged_into) == (
        "merged",
        "0d15ea5e-0000-4000-8000-000000000002",
        "0d15ea5e-0000-4000-8000-000000000001",
    )
    assert merged.event_id == "c:r"
    assert decoder.acknowledge()[0] == 200


def test_bodies_that_are_not_contexts_are_classified() -> None:
    decoder = DynamicsWebhookDecoder(KEY)
    with pytest.raises(VendorResponseError):
        decoder.decode(b"<html>")
    with pytest.raises(VendorResponseError):
        decoder.decode(b'{"MessageName": "Update"}')


async def test_emulator_deliveries_decode(
    app: Starlette, client: httpx.AsyncClient, connector: DynamicsConnector
) -> None:
    await control(
        client,
        "POST",
        "webhooks",
        {"url": "https://hooks.example/dv", "auth": "WebhookKey", "key": "s3cret-key", "table": "contact"},
    )
    await control(
        client,
        "POST",
        "webhooks",
        {
            "url": "https://hooks.example/dv",
            "auth": "HttpHeader",
            "headers": {"x-crmsync-key": "s3cret-key"},
            "table": "contact",
        },
    )
    [created] = await connector.apply(
        "contact", [WriteOp("create", "w-1", fields={"lastname": "Hook"}, external_id=(EXTERNAL_ID, "w-1"))]
    )
    assert created.id
    await connector.apply("contact", [WriteOp("delete", "w-1", id=created.id)])
    decoder = DynamicsWebhookDecoder(KEY)
    hints = []
    for delivery in app.state.vendor.runtime.webhooks.deliveries:
        body, headers = delivery.render(1)
        decoder.verify("POST", delivery.url, headers, body)
        hints.extend(decoder.decode(body))
    assert [(h.kind, h.id) for h in hints] == [("changed", created.id)] * 2 + [("deleted", created.id)] * 2
    assert all(h.object == "contact" and h.event_id and h.occurred_at for h in hints)
