"""Emulators over real loopback: HTTPS with the generated test CA, dropped connections, webhooks."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmsync.emulators.core.webhooks import WebhookDispatcher
from crmsync.emulators.server import serve_in_thread
from tests.unit.emulators.core.toy_vendor import ToyVendor, toy_app


def test_https_with_the_generated_ca_is_trusted_and_plain_trust_fails() -> None:
    with serve_in_thread(toy_app(), tls=True) as served:
        assert served.base_url.startswith("https://127.0.0.1:")
        assert served.ca_file is not None
        context = ssl.create_default_context(cafile=str(served.ca_file))
        with httpx.Client(verify=context) as client:
            response = client.get(f"{served.base_url}/_emulator")
            assert response.json()["vendor"] == "toy"
        with httpx.Client() as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get(f"{served.base_url}/_emulator")


def test_drop_fault_cuts_the_connection_mid_response() -> None:
    with serve_in_thread(toy_app()) as served, httpx.Client(base_url=served.base_url) as client:
        client.post("/_emulator/seed", json={"records": 1})
        client.put("/_emulator/faults", json={"rules": [{"kind": "drop", "times": 1}]})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/items/0", headers={"Authorization": "Bearer good-token"})
        assert client.get("/items/0", headers={"Authorization": "Bearer good-token"}).status_code == 200


async def test_webhook_dispatcher_retries_on_emulator_time_until_acknowledged() -> None:
    received: list[bytes] = []
    answers = [503, 200]

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=answers.pop(0))

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    vendor = ToyVendor()
    clock = vendor.runtime.clock
    clock.freeze()
    dispatcher = WebhookDispatcher(clock)
    with serve_in_thread(receiver) as served:
        runner = asyncio.create_task(dispatcher.run())
        delivery = dispatcher.enqueue(
            f"{served.base_url}/hook",
            render=lambda attempt: (f"attempt {attempt}".encode(), {"content-type": "text/plain"}),
            retry=lambda attempts, status: 60.0 if attempts < 5 else None,
        )
        await dispatcher.wait_idle()
        assert delivery.state == "pending" and [a.status for a in delivery.attempts] == [503]
        clock.advance(60_000)
        await dispatcher.wait_idle()
        runner.cancel()
    assert delivery.summary()["state"] == "delivered"
    assert received == [b"attempt 0", b"attempt 1"]


async def test_a_delivery_to_a_url_that_is_no_url_fails_alone_and_the_others_go_on() -> None:
    """A registration such as `http://::1:8080/hook` once ended the dispatcher: every later webhook was never sent."""
    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    clock = ToyVendor().runtime.clock
    clock.freeze()
    dispatcher = WebhookDispatcher(clock)
    with serve_in_thread(receiver) as served:
        runner = asyncio.create_task(dispatcher.run())
        broken = dispatcher.enqueue(
            "http://::1:8080/hook", render=lambda attempt: (b"lost", {}), retry=lambda attempts, status: None
        )
        await asyncio.wait_for(dispatcher.wait_idle(), 10)
        sent = dispatcher.enqueue(
            f"{served.base_url}/hook", render=lambda attempt: (b"sent", {}), retry=lambda attempts, status: None
        )
        await asyncio.wait_for(dispatcher.wait_idle(), 10)
        assert not runner.done()
        runner.cancel()
    assert broken.state == "failed" and broken.attempts[0].error is not None
    assert "InvalidURL" in broken.attempts[0].error
    assert sent.state == "delivered" and received == [b"sent"]
