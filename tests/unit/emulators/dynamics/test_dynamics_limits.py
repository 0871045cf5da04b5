"""Service protection 429s, limit headers, and injected faults rendered in Dataverse's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.dynamics import DynamicsConfig, DynamicsEmulator
from crmsync.emulators.dynamics.testkit import API, authorised_client


@pytest.fixture
def vendor() -> DynamicsEmulator:
    return DynamicsEmulator(DynamicsConfig(requests_per_window=3, window_s=300))


@pytest.fixture
def app(vendor: DynamicsEmulator) -> Starlette:
    return build_app(vendor)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def test_request_limit_gives_429_with_retry_after(client: httpx.AsyncClient) -> None:
    remaining = [
        (await client.get(f"{API}/accounts")).headers["x-ms-ratelimit-burst-remaining-xrm-requests"] for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
    response = await client.get(f"{API}/accounts")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 300
    assert response.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 300 seconds.",
    }
    await client.post("/_emulator/clock", json={"advance_ms": 301_000})
    assert (await client.get(f"{API}/accounts")).status_code == 200


async def test_concurrency_limit(vendor: DynamicsEmulator, client: httpx.AsyncClient) -> None:
    gate_owner = vendor.config.application_user_id
    await client.post("/_emulator/limits", json={"requests_per_window": 100, "concurrent_requests": 1})
    vendor.limits.admit(
        {"type": "http", "path": "/api/data/v9.2/accounts", "headers": [(k.lower(), v) for k, v in client.headers.raw]}
    )
    assert vendor.limits.in_flight[gate_owner].in_flight == 1
    response = await client.get(f"{API}/accounts")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "0x80072326"


async def test_token_endpoint_is_not_counted(client: httpx.AsyncClient) -> None:
    state = (await client.get("/_emulator/limits")).json()
    assert all(usage["remaining"] == 3 for usage in state["usage"].values())


@pytest.mark.parametrize(
    ("rule", "status", "code"),
    [
        ({"kind": "status", "status": 503, "retry_after_s": 7}, 503, "0x80040216"),
        ({"kind": "rate_limit", "retry_after_s": 12}, 429, "0x80072322"),
        ({"kind": "status", "status": 500}, 500, "0x80040216"),
    ],
)
async def test_faults_render_in_dataverse_shape(
    client: httpx.AsyncClient, rule: dict[str, object], status: int, code: str
) -> None:
    await client.put("/_emulator/faults", json={"rules": [{**rule, "path": "/api/data", "times": 1}]})
    response = await client.get(f"{API}/accounts")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if "retry_after_s" in rule:
        assert response.headers["Retry-After"] == str(rule["retry_after_s"])
    assert (await client.get(f"{API}/accounts")).status_code == 200


async def test_unknown_route_is_vendor_shaped_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/data/v9.1/accounts")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_stats_count_operations_and_records(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/accounts", json={"name": "A"})
    await client.get(f"{API}/accounts")
    stats = (await client.get("/_emulator/stats")).json()["operations"]
    assert stats["GET /accounts"]["records"] == 1
    assert stats["POST /accounts"]["calls"] == 1
