"""Service-protection signals, and reads/writes that survive 429 storms, 5xx bursts and dropped connections."""

from __future__ import annotations

import httpx
import pytest

from crmsync.connectors.base import WriteOp
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.dynamics.limits import build_limiter, signals

from .conftest import EXTERNAL_ID, Sleeps, control, settings_for


def test_signals_read_retry_after_and_the_burst_allowance() -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "17", "x-ms-ratelimit-burst-remaining-xrm-requests": "0"})
    signal = signals(throttled)
    assert signal.retry_after == 17.0
    assert signal.window_remaining == 0 and signal.window_s
    ok = signals(httpx.Response(200, headers={"x-ms-ratelimit-burst-remaining-xrm-requests": "5998"}))
    assert (ok.retry_after, ok.window_remaining) == (None, 5998)
    assert signals(httpx.Response(200)).window_remaining is None


def test_the_limiter_is_sized_from_settings(config: object) -> None:
    from crmsync.emulators.dynamics import DynamicsConfig

    assert isinstance(config, DynamicsConfig)
    limiter = build_limiter(settings_for(config, requests_per_window=1200, window_s=60, concurrency=8), "dv")
    assert [(r.limit, r.period_s) for r in limiter.rates] == [(1200, 60)]
    assert limiter.concurrency == 8
    assert limiter.reserve_share == 0.1


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "rate_limit", "retry_after_s": 3, "times": 3},
        {"kind": "status", "status": 503, "times": 2},
        {"kind": "status", "status": 502, "times": 1},
    ],
)
async def test_reads_and_writes_survive_fault_profiles(
    connector: DynamicsConnector, client: httpx.AsyncClient, sleeps: Sleeps, rule: dict[str, object]
) -> None:
    await control(client, "POST", "seed", {"seed": 5, "records": 50})
    baseline = [r async for p in connector.changes("contact", None) for r in p.upserts]
    await control(client, "PUT", "faults", {"rules": [{**rule, "path": "/api/data/v9.2/"}]})
    pages = [p async for p in connector.changes("contact", None)]
    assert sorted(r.id for p in pages for r in p.upserts) == sorted(r.id for r in baseline)
    await control(client, "PUT", "faults", {"rules": [{**rule, "path": "batch"}]})
    ops = [
        WriteOp("create", f"f-{i}", fields={"lastname": "F"}, external_id=(EXTERNAL_ID, f"f-{i}")) for i in range(20)
    ]
    results = await connector.apply("contact", ops)
    assert all(r.ok for r in results), results
    assert sleeps.calls  # backoff happened through the injected sleep
    if rule["kind"] == "rate_limit":
        assert 3.0 in sleeps.calls  # Retry-After honoured


async def test_the_concurrency_cap_holds_under_parallel_reads(
    config: object, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    import asyncio

    from crmsync.emulators.dynamics import DynamicsConfig

    assert isinstance(config, DynamicsConfig)
    await control(client, "POST", "limits", {"concurrent_requests": 2})
    connector = DynamicsConnector(
        settings_for(config, concurrency=2), connection="dv", client=client, sleep=sleeps, clock=sleeps.clock
    )
    ids = [f"0d15ea5e-0000-4000-8000-{i:012d}" for i in range(20)]
    await asyncio.gather(*(connector.fetch("account", [i]) for i in ids))
    stats = await control(client, "GET", "stats")
    statuses = {code for op in stats["operations"].values() for code in op["statuses"]}
    assert "429" not in statuses


async def test_dropped_connections_are_retried(config: object, sleeps: Sleeps) -> None:
    from crmsync.connectors.auth import StaticToken
    from crmsync.emulators.dynamics import DynamicsConfig

    assert isinstance(config, DynamicsConfig)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= 2:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        return httpx.Response(200, json={"value": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    connector = DynamicsConnector(
        settings_for(config), connection="dv", client=client, sleep=sleeps, clock=sleeps.clock, token=StaticToken("t")
    )
    found = await connector.fetch("account", ["0d15ea5e-0000-4000-8000-000000000001"])
    assert len(calls) == 3
    assert len(sleeps.calls) == 2
    assert found[0].id == "0d15ea5e-0000-4000-8000-000000000001"
