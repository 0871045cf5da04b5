"""The shared app: control plane, faults rendered by the vendor, limits headers, stats, crash guard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Message, Scope

from tests.unit.emulators.core.toy_vendor import toy_app

AUTH = {"Authorization": "Bearer good-token"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = toy_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy.test") as c:
        yield c


async def test_seed_reset_info_and_clock_through_the_control_plane(client: httpx.AsyncClient) -> None:
    seeded = await client.post("/_emulator/seed", json={"seed": 3, "records": 5})
    assert seeded.json() == {"seeded": {"items": 5}}
    info = (await client.get("/_emulator")).json()
    assert info["vendor"] == "toy" and info["counts"] == {"items": 5}
    clock = (await client.post("/_emulator/clock", json={"set_ms": 1_000_000, "freeze": True})).json()
    assert clock["now_ms"] == 1_000_000 and clock["frozen"] is True
    advanced = (await client.post("/_emulator/clock", json={"advance_ms": 500})).json()
    assert advanced["now_ms"] == 1_000_500
    await client.post("/_emulator/reset")
    assert (await client.get("/_emulator")).json()["counts"] == {"items": 0}


async def test_bad_control_plane_input_is_a_400_with_reasons(client: httpx.AsyncClient) -> None:
    bad_plan = await client.put("/_emulator/faults", json={"rules": [{"kind": "explode"}]})
    assert bad_plan.status_code == 400
    assert bad_plan.json()["error"] == "invalid fault plan"
    assert (await client.put("/_emulator/faults", content=b"{")).status_code == 400
    assert (await client.post("/_emulator/seed", json={"records": "many"})).status_code == 400
    assert (await client.post("/_emulator/clock", json={"advance_ms": "x"})).status_code == 400


async def test_fault_statuses_and_rate_limits_are_rendered_in_the_vendor_shape(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/seed", json={"records": 1})
    plan = {
        "rules": [
            {"kind": "status", "status": 503, "times": 1, "retry_after_s": 7},
            {"kind": "rate_limit", "times": 1},
        ]
    }
    assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
    first = await client.get("/items/0", headers=AUTH)
    assert first.status_code == 503
    assert first.json() == {"toyError": "injected fault", "status": 503}
    assert first.headers["retry-after"] == "7"
    second = await client.get("/items/0", headers=AUTH)
    assert second.status_code == 429
    third = await client.get("/items/0", headers=AUTH)
    assert third.status_code == 200
    assert "x-toy-remaining" in third.headers
    report = (await client.get("/_emulator/faults")).json()["rules"]
    assert [r["fired"] for r in report] == [1, 1]


async def test_a_fault_report_can_be_awaited_until_the_rules_fired(client: httpx.AsyncClient) -> None:
    """`faults?fired=N` answers once a client met the faults that often: a test awaits it instead of polling."""
    await client.post("/_emulator/seed", json={"records": 1})
    plan = {"rules": [{"kind": "latency", "latency_ms": 1, "path": "^/items"}]}
    assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
    waiting = asyncio.create_task(client.get("/_emulator/faults", params={"fired": 2}))
    for _ in range(2):
        assert not waiting.done()
        assert (await client.get("/items/0", headers=AUTH)).status_code == 200
    (rule,) = (await waiting).json()["rules"]
    assert rule["fired"] == 2
    (rule,) = (await client.get("/_emulator/faults", params={"fired": 1})).json()["rules"]  # already: at once
    assert rule["fired"] == 2


async def test_expire_token_fault_makes_the_vendor_answer_401(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/seed", json={"records": 1})
    await client.put("/_emulator/faults", json={"rules": [{"kind": "expire_token", "times": 1}]})
    response = await client.get("/items/0", headers=AUTH)
    assert response.status_code == 401
    assert response.json()["toyError"] == "token expired"


async def test_partial_batch_fault_reaches_the_handler(client: httpx.AsyncClient) -> None:
    await client.put("/_emulator/faults", json={"rules": [{"kind": "partial_batch", "fail_share": 0.5}]})
    response = await client.post("/items", json=[{"n": i} for i in range(4)], headers=AUTH)
    assert [r["ok"] for r in response.json()] == [False, False, True, True]


async def test_stats_count_calls_and_records_per_operation(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/seed", json={"records": 2})
    await client.get("/items/0", headers=AUTH)
    await client.get("/items/1", headers=AUTH)
    await client.post("/items", json=[{"n": 1}, {"n": 2}, {"n": 3}], headers=AUTH)
    await client.get("/nowhere", headers=AUTH)
    stats = (await client.get("/_emulator/stats")).json()
    ops = stats["operations"]
    assert ops["item.get"]["calls"] == 2
    assert ops["items.batch"]["records_per_call"] == 3.0
    assert ops["GET /nowhere"]["statuses"] == {"404": 1}
    assert stats["total_calls"] == 4
    await client.delete("/_emulator/stats")
    assert (await client.get("/_emulator/stats")).json()["total_calls"] == 0


async def test_unknown_routes_methods_and_crashes_answer_in_the_vendor_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and "toyError" in missing.json()
    wrong_method = await client.delete("/items")
    assert wrong_method.status_code == 405 and "toyError" in wrong_method.json()
    crash = await client.get("/boom")
    assert crash.status_code == 500
    assert crash.json()["toyError"] == "An unexpected error occurred in the emulator."
    assert "Traceback" not in crash.text


async def test_vendor_actions_are_forwarded(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_emulator/echo")).json() == {"action": "echo"}
    assert (await client.get("/_emulator/openapi.json")).json()["info"]["title"] == "toy"


async def test_drop_fault_looks_like_a_connection_reset_in_process(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/seed", json={"records": 1})
    await client.put("/_emulator/faults", json={"rules": [{"kind": "drop", "times": 1}]})
    with pytest.raises(ConnectionResetError):
        await client.get("/items/0", headers=AUTH)
    assert (await client.get("/items/0", headers=AUTH)).status_code == 200


async def test_a_caller_gone_mid_request_is_no_crash_to_log(caplog: pytest.LogCaptureFixture) -> None:
    """A client killed while sending its body: the handler meets ClientDisconnect; there is no one to answer."""
    app = toy_app()
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/items",
        "raw_path": b"/items",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"authorization", AUTH["Authorization"].encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("toy.test", 80),
    }

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    with caplog.at_level(logging.DEBUG, logger="crmsync.emulators"):
        await app(scope, receive, send)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("client gone during POST /items" in r.getMessage() for r in caplog.records)
    assert sent == []
