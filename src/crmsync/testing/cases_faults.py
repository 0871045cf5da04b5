"""Fault profiles (5xx bursts, 429 storms, latency, drops) and tight limits: nothing lost, twice, or over limits.

Each profile is a fault plan put on the vendor API (never the token endpoint) through
`PUT /_emulator/faults`. Under it the connector does a full read and a batch write; then, with the
faults cleared, the emulator is read independently: every record delivered exactly once, every
write landed exactly once, and the connector's calls show no over-limit answer beyond the ones the
plan injected. Waits are recorded, not slept; where the vendor sends Retry-After they must honour it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crmsync.errors import QuotaExhaustedError
from crmsync.testing.cases_read import check_exact
from crmsync.testing.cases_write import apply_until_done, check_once_each, create_ops, multi_page_seed
from crmsync.testing.conformance import ConformanceTarget, ConnectorOptions, Role, Transport
from crmsync.testing.conformance import expect as check
from crmsync.testing.rig import Rig, open_rig, read_all

RETRY_AFTER_S = 1

Rules = Callable[[ConformanceTarget], list[dict[str, Any]]]

PROFILES: dict[str, Rules] = {
    # a burst of 503s, then a couple of 500s and a 502 further on
    "5xx": lambda t: [
        {"kind": "status", "status": 503, "path": t.api_path, "times": 3},
        {"kind": "status", "status": 500, "path": t.api_path, "skip": 4, "times": 2},
        {"kind": "status", "status": 502, "path": t.api_path, "skip": 8, "times": 1},
    ],
    # the vendor's own throttling answer, in a short storm, with Retry-After where the vendor sends one
    "429": lambda t: [
        {"kind": "rate_limit", "path": t.api_path, "times": 2, "retry_after_s": RETRY_AFTER_S},
        {"kind": "rate_limit", "path": t.api_path, "skip": 5, "times": 1, "retry_after_s": RETRY_AFTER_S},
    ],
    "latency": lambda t: [{"kind": "latency", "path": t.api_path, "latency_ms": 30, "probability": 0.5}],
    # connections cut mid-response (before the vendor acted): only visible over a real socket
    "drops": lambda t: [{"kind": "drop", "path": t.api_path, "probability": 0.3, "times": 4}],
}


def check_rare_refusals(label: str, over: int, calls: int) -> None:
    """Over-limit answers the connector caused: at most 2% of its calls (client and vendor clocks never agree
    exactly on a rolling window's edge), and it must have recovered from each (the case checks the outcome)."""
    allowed = calls // 50
    check(over <= allowed, f"{label}: {over} of {calls} call(s) went over the emulator's limits (allowed {allowed})")


def injected_limit_answers(target: ConformanceTarget, report: Sequence[Mapping[str, Any]]) -> int:
    """How many over-limit answers the plan itself injected (the connector is not to blame for those)."""
    count = 0
    for entry in report:
        rule = entry["rule"]
        if rule["kind"] == "rate_limit" or (rule["kind"] == "status" and rule["status"] in target.limit_statuses):
            count += int(entry["fired"])
    return count


async def _run_profile(target: ConformanceTarget, rig: Rig, profile: str) -> None:
    role: Role = "contact"
    obj = target.objects[role]
    label = f"{target.vendor} under {profile} faults ({rig.transport_kind})"
    await rig.seed(multi_page_seed(target))
    connector = await rig.connector(ConnectorOptions(small_pages=True))
    remote_before = await target.remote_records(rig, role)
    await connector.describe(obj)  # warm the token and any schema cache outside the plan's count
    rig.sleep.waits.clear()
    calls_before = len(rig.recorder.exchanges)

    await rig.set_faults(PROFILES[profile](target))
    read = await read_all(connector, obj, None)
    ops = create_ops(target, role, f"fault-{profile}", 12, start=200)
    results = await apply_until_done(connector, obj, ops)
    report = await rig.clear_faults()

    fired = sum(int(entry["fired"]) for entry in report)
    check(fired > 0 or profile == "latency", f"{label}: the fault plan never fired")
    check_exact(f"{label}: full read", read.upsert_ids(), set(remote_before))
    failed = [f"{r.ref}: {r.error}" for r in results if not r.ok]
    check(not failed, f"{label}: writes failed: {failed}")
    await check_once_each(target, rig, role, [op.ref for op in ops], label)

    exchanges = rig.recorder.exchanges[calls_before:]
    limited = sum(1 for e in exchanges if e.status in target.limit_statuses)
    check_rare_refusals(label, limited - injected_limit_answers(target, report), len(exchanges))
    if profile == "429" and target.rate_limit_retry_after:
        honoured = [w for w in rig.sleep.waits if w >= RETRY_AFTER_S]
        throttled = injected_limit_answers(target, report)
        check(
            len(honoured) >= throttled,
            f"{label}: {throttled} answers said Retry-After {RETRY_AFTER_S}s but the waits were {rig.sleep.waits}",
        )


async def limits_respected(target: ConformanceTarget, transport: Transport) -> None:
    """Against tight emulator limits the connector never goes over: it waits, or stops itself on its quota share."""
    async with open_rig(target, transport, **target.tight_limits) as rig:
        role: Role = "contact"
        obj = target.objects[role]
        label = f"{target.vendor} with tight limits {dict(target.tight_limits)}"
        await rig.seed(multi_page_seed(target))
        # a little latency so concurrent requests really overlap in the emulator
        await rig.set_faults([{"kind": "latency", "path": target.api_path, "latency_ms": 5}])
        connector = await rig.connector(ConnectorOptions(small_pages=True, tight_limits=True))
        stopped: QuotaExhaustedError | None = None
        try:
            # with a daily allocation: go on until the connector stops itself (a bounded number of rounds)
            for n in range(60 if target.tight_daily_quota else 3):
                read = await read_all(connector, obj, None)
                await connector.fetch(obj, read.upsert_ids())
                await connector.apply(obj, create_ops(target, role, f"tight-{n}", 5, start=300 + 5 * n))
        except QuotaExhaustedError as exc:
            stopped = exc
        await rig.clear_faults()
        limited = rig.recorder.count(target.api_path, statuses=sorted(target.limit_statuses))
        check_rare_refusals(label, limited, len(rig.recorder.exchanges))
        if target.tight_daily_quota:
            check(stopped is not None, f"{label}: the connector never stopped short of the daily allocation")
            # the shared limiter's own refusal (keeping the reserve), not the vendor's: it names the connection
            check(
                "conformance" in str(stopped) and "reserved" in str(stopped),
                f"{label}: the run ended on the vendor's refusal, not the connector's reserve: {stopped}",
            )


def _profile_case(profile: str) -> Callable[[ConformanceTarget, Transport], Any]:
    async def case(target: ConformanceTarget, transport: Transport) -> None:
        async with open_rig(target, transport) as rig:
            await _run_profile(target, rig, profile)

    case.__name__ = f"faults_{profile}"
    case.__doc__ = f"Under the {profile!r} fault profile a full read and a batch write lose and repeat nothing."
    return case


faults_5xx = _profile_case("5xx")
faults_429 = _profile_case("429")
faults_latency = _profile_case("latency")
faults_drops = _profile_case("drops")
