"""S21–S22: a 429 storm and HubSpot's daily quota, a long 503 outage: the sync waits or stops, and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from crmsync.config.values import Connection
from crmsync.connectors.base import Connector
from crmsync.connectors.dynamics import DynamicsConnector, DynamicsSettings
from crmsync.connectors.http import RetryPolicy
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.report import RunReport
from crmsync.engine.retrying import retry
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.views.errors import list_errors
from crmsync.errors import CrmSyncError, QuotaExhaustedError
from crmsync.store import Job, Store, open_store
from crmsync.store import RetryPolicy as JobsPolicy
from crmsync.testing.sandbox import EXTERNAL_ID_FIELDS, Sandbox

SPEED = 200.0
"""In a fast rig, how much faster than real time the connectors' rate limiters see time pass: a pause that
HubSpot's headers ask for (ten seconds) costs the test 50 ms, while the waits that matter go through `sleep`."""
CONTACT_FIELDS: dict[VendorName, tuple[str, str, str]] = {
    "salesforce": ("Email", "LastName", "Title"),
    "hubspot": ("email", "lastname", "jobtitle"),
    "dynamics": ("emailaddress1", "lastname", "jobtitle"),
}


class VirtualTime:
    """Time that passes when crmsync waits: the connectors' sleeps are recorded and move it on. When `fast`, the
    emulators' clocks move with it (HubSpot's ten-second window empties while crmsync waits) and the limiters'
    clock runs SPEED times faster than real time."""

    def __init__(self, sb: Sandbox, *, fast: bool) -> None:
        self.sb = sb
        self.fast = fast
        self.waits: list[float] = []
        self.offset = 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.offset += seconds
        if self.fast:
            await asyncio.gather(*(u.control.advance(seconds) for u in self.sb.users.values()))
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        return time.monotonic() * (SPEED if self.fast else 1.0) + self.offset


@dataclass(frozen=True)
class Answer:
    vendor: VendorName
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Rig:
    """crmsync against the sandbox with injected waits: connectors built as `open_connectors` builds them, plus
    `sleep` and the main limiters' clock (HubSpot's search limiter keeps real time, as the emulator's search
    window does); every answer a CRM gave is kept; `later` moves the state's clock on."""

    sb: Sandbox
    directory: Path
    connections: Mapping[str, Mapping[str, Any]]
    fast: bool = False
    later: timedelta = timedelta(0)
    answers: list[Answer] = field(default_factory=list)
    connectors: dict[str, Connector] = field(default_factory=dict)
    left_running: int = 0  # tasks of a run still going when it ended
    objects_yaml: str = "contact: {}"
    jobs_policy: JobsPolicy = field(default_factory=JobsPolicy)  # the queue's backoff and attempts

    def __post_init__(self) -> None:
        self.config = self.sb.load_config(self.directory, objects_yaml=self.objects_yaml, connections=self.connections)
        self.time = VirtualTime(self.sb, fast=self.fast)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.later

    async def store(self) -> Store:
        return await open_store(self.config.state_url, clock=self.now, policy=self.jobs_policy)

    async def sync(self) -> RunReport:
        store = await self.store()
        before = asyncio.all_tasks()
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), event_hooks={"response": [self._keep]}) as client:
            self.connectors = {name: self._connector(c, client) for name, c in self.config.connections.items()}
            try:
                return await SyncRunner(self.config, store, self.connectors, clock=self.now).run(RunOptions())
            finally:
                # Work a run left behind still uses the store and the client: it ends before they close.
                await self._drain(asyncio.all_tasks() - before)
                await store.aclose()

    async def _drain(self, tasks: set[asyncio.Task[Any]]) -> None:
        running = [t for t in tasks if not t.done() and t is not asyncio.current_task()]
        self.left_running += len(running)
        if running:
            await asyncio.wait(running, timeout=30)
        for task in running:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved here, so it is not reported as never retrieved

    def _connector(self, connection: Connection, client: httpx.AsyncClient) -> Connector:
        settings, name, sleep, clock = connection.settings, connection.name, self.time.sleep, self.time.monotonic
        if isinstance(settings, DynamicsSettings):
            return DynamicsConnector(settings, connection=name, client=client, sleep=sleep, clock=clock)
        if isinstance(settings, HubSpotSettings):
            hubspot = HubSpotConnector(settings, connection=name, client=client, sleep=sleep)
            hubspot.limiter.clock = clock
            return hubspot
        assert isinstance(settings, SalesforceSettings)
        salesforce = SalesforceConnector(settings, connection=name, client=client, sleep=sleep)
        salesforce.limiter.clock = clock
        return salesforce

    async def _keep(self, response: httpx.Response) -> None:
        vendor = next(v for v, url in self.sb.urls.items() if str(response.request.url).startswith(url))
        body = await response.aread() if response.status_code >= 400 else b""
        self.answers.append(
            Answer(
                vendor,
                response.request.method,
                response.request.url.path,
                response.status_code,
                dict(response.headers),
                body,
            )
        )


class RigFactory(Protocol):
    async def __call__(
        self,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        fast: bool = False,
        objects_yaml: str = "contact: {}",
    ) -> Rig: ...


@pytest.fixture
async def rig_factory(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[RigFactory]:
    await sandbox.reset()
    made: list[Rig] = []

    async def make(
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        fast: bool = False,
        objects_yaml: str = "contact: {}",
    ) -> Rig:
        rig = Rig(sandbox, tmp_path / f"rig{len(made)}", connections or {}, fast, objects_yaml=objects_yaml)
        made.append(rig)
        return rig

    yield make
    # HubSpot's limits survive a sandbox reset: put back the ones the emulator was started with.
    config = sandbox.endpoints.hubspot
    await sandbox.hubspot.control.call(
        "POST",
        "limits",
        {
            "ten_second_limit": config.ten_second_limit,
            "daily_limit": config.daily_limit,
            "search_per_second": config.search_per_second,
        },
    )
    await sandbox.hubspot.control.clear_faults()
    await sandbox.dynamics.control.clear_faults()
    await sandbox.salesforce.control.clear_faults()


# ---- helpers ------------------------------------------------------------------------------------
async def people(sb: Sandbox, vendor: VendorName, prefix: str, count: int, title: str = "Analyst") -> list[str]:
    """`count` contacts created in `vendor` (ten at a time); their emails."""
    email, last, job = CONTACT_FIELDS[vendor]
    emails = [f"{prefix}{n}@example.com" for n in range(count)]
    user = sb.user(vendor)
    for start in range(0, count, 10):
        chunk = emails[start : start + 10]
        await asyncio.gather(
            *(user.create("contact", {email: e, last: e.split("@")[0].title(), job: title}) for e in chunk)
        )
    return emails


async def contacts(sb: Sandbox, vendor: VendorName) -> dict[str, list[dict[str, Any]]]:
    """Every live contact of one CRM by lower-case email (a list: duplicates show as several)."""
    email, _, job = CONTACT_FIELDS[vendor]
    ext = EXTERNAL_ID_FIELDS[vendor]
    found: list[dict[str, Any]] = []
    if vendor == "salesforce":
        found = await sb.salesforce.query(f"SELECT Id, {email}, {job}, {ext} FROM Contact")
    elif vendor == "hubspot":
        params = {"limit": "100", "properties": f"{email},{job},{ext}"}
        while True:
            page = (await sb.hubspot.session.send("GET", "/crm/v3/objects/contacts", params=params)).json()
            found += [{**r["properties"], "id": r["id"]} for r in page["results"]]
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
            params["after"] = str(after)
    else:
        found = await sb.dynamics.rows("contact", {"$select": f"contactid,{email},{job},{ext}"})
    by_email: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        remote_id = row.get("Id") or row.get("id") or row.get("contactid")
        by_email.setdefault(str(row.get(email) or "").lower(), []).append(
            {"id": str(remote_id), "title": row.get(job), "external_id": row.get(ext) or None}
        )
    return by_email


async def assert_everywhere(
    sb: Sandbox, expected: Mapping[str, str], *, vendors: Sequence[VendorName] = VENDOR_NAMES
) -> None:
    """Each expected person exactly once in each CRM, with the expected title; no crmsync id twice."""
    for vendor in vendors:
        held = await contacts(sb, vendor)
        twice = {e: len(rows) for e, rows in held.items() if len(rows) > 1}
        assert not twice, f"{vendor} holds duplicates: {twice}"
        ids = Counter(r["external_id"] for rows in held.values() for r in rows if r["external_id"])
        assert max(ids.values(), default=1) == 1, f"{vendor} holds one crmsync id twice: {ids.most_common(3)}"
        missing = sorted(set(expected) - set(held))
        assert not missing, f"{vendor} lacks {len(missing)} contact(s): {missing[:5]}"
        wrong = {e: held[e][0]["title"] for e, title in expected.items() if held[e][0]["title"] != title}
        assert not wrong, f"{vendor} holds other titles than expected: {dict(list(wrong.items())[:5])}"


def _writes(report: RunReport) -> int:
    return sum(report.total(what) for what in ("created", "updated", "deleted"))


async def hubspot_calls(sb: Sandbox) -> int:
    return int((await sb.hubspot.control.stats())["total_calls"])


# ---- S21 ----------------------------------------------------------------------------------------
async def test_s21_under_a_429_storm_the_sync_slows_and_completes(rig_factory: RigFactory, sandbox: Sandbox) -> None:
    # crmsync is sized for HubSpot's 190 calls per ten seconds, but the portal lets it make only 4: most of its
    # calls meet a 429 carrying HubSpot's X-HubSpot-RateLimit-* headers.
    rig = await rig_factory({"hubspot": {"batch_size": 5}}, fast=True)
    expected = dict.fromkeys(await people(sandbox, "salesforce", "sf", 30), "Analyst")
    expected |= dict.fromkeys(await people(sandbox, "dynamics", "dv", 10), "Analyst")
    await sandbox.hubspot.control.reset_stats()
    await sandbox.hubspot.control.call("POST", "limits", {"ten_second_limit": 4})
    started = time.monotonic()
    report = await rig.sync()
    elapsed = time.monotonic() - started
    await sandbox.hubspot.control.call(
        "POST", "limits", {"ten_second_limit": sandbox.endpoints.hubspot.ten_second_limit}
    )

    refused = [a for a in rig.answers if a.vendor == "hubspot" and a.status == 429]
    statuses = (await sandbox.hubspot.control.stats())["operations"]
    assert len(refused) >= 5, f"no storm: {len(refused)} answers were 429 ({statuses})"
    for answer in refused:
        assert answer.headers.get("x-hubspot-ratelimit-max") == "4", answer
        assert answer.headers.get("x-hubspot-ratelimit-remaining") == "0", answer
        assert answer.headers.get("x-hubspot-ratelimit-interval-milliseconds") == "10000", answer
        assert b'"TEN_SECONDLY_ROLLING"' in answer.body, answer
    # It slowed down: it waited out HubSpot's ten-second window (virtual time: the test itself did not wait).
    waited = sum(w for w in rig.time.waits if w >= 10)
    assert waited >= 10 * len(refused) / 2 and elapsed < waited
    # And nothing was lost.
    assert report.total("failed") == 0 and report.total("retrying") == 0, dict(report.counts)
    assert report.total("created", "contact") == 2 * len(expected)
    await assert_everywhere(sandbox, expected)
    assert _writes(await rig.sync()) == 0


async def _days_of_quota(rig: Rig, sandbox: Sandbox, limit: int, allowed: int) -> list[tuple[int, str]]:
    """Syncs, one per HubSpot day, until one writes nothing; asserts every day's calls stay within `allowed`."""
    days: list[tuple[int, str]] = []
    for _ in range(6):
        await sandbox.hubspot.control.reset_stats()
        report = await rig.sync()
        quota = [f for f in report.failures if "daily" in f]
        outcome = f"stopped: {quota[0]}" if quota else f"{_writes(report)} writes"
        used = await hubspot_calls(sandbox)
        days.append((used, outcome))
        remaining = (await sandbox.hubspot.control.call("GET", "limits"))["daily_remaining"]
        assert used <= allowed and remaining >= limit - allowed, f"day {len(days)}: {used} calls of {limit}: {days}"
        if outcome == "0 writes":
            break
        await sandbox.hubspot.control.advance(86_400)  # the next day: HubSpot's daily count starts again
    return days


async def test_s21_the_reserved_share_of_hubspots_daily_quota_is_never_used(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    limit, reserve = 40, 0.25
    allowed = int(limit * (1 - reserve))
    rig = await rig_factory({"hubspot": {"daily_limit": limit, "reserve_share": reserve, "batch_size": 2}})
    await people(sandbox, "salesforce", "sf", 70)  # 35 batches for HubSpot: more than a day's share
    # A fresh day with a small quota; the users make no call until the run is over, so every call HubSpot
    # counts is crmsync's.
    await sandbox.hubspot.control.call("POST", "limits", {"daily_limit": limit})
    await sandbox.hubspot.control.reset_stats()
    with contextlib.suppress(QuotaExhaustedError):  # the run may stop, or leave the rest for tomorrow
        await rig.sync()
    used = await hubspot_calls(sandbox)
    assert used <= allowed, f"crmsync made {used} of HubSpot's {limit} daily calls; {limit - allowed} are reserved"


async def test_s21_a_sync_stopped_by_the_quota_delivers_the_rest_on_later_days(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    limit, reserve = 40, 0.25
    allowed = int(limit * (1 - reserve))
    # One call at a time, so the reserve holds (see the test above) and only the stop itself is on trial.
    settings = {"daily_limit": limit, "reserve_share": reserve, "batch_size": 2, "concurrency": 1}
    rig = await rig_factory({"hubspot": settings})
    expected = dict.fromkeys(await people(sandbox, "salesforce", "sf", 70), "Analyst")
    await sandbox.hubspot.control.call("POST", "limits", {"daily_limit": limit})
    days = await _days_of_quota(rig, sandbox, limit, allowed)
    assert days[0][1].startswith("stopped"), f"the work fitted in one day's quota: {days}"
    await sandbox.hubspot.control.call("POST", "limits", {"daily_limit": sandbox.endpoints.hubspot.daily_limit})
    await assert_everywhere(sandbox, expected)


async def test_s21_a_run_stopped_by_the_quota_leaves_no_work_running(rig_factory: RigFactory, sandbox: Sandbox) -> None:
    limit, reserve = 40, 0.25
    settings = {"daily_limit": limit, "reserve_share": reserve, "batch_size": 2, "concurrency": 1}
    rig = await rig_factory({"hubspot": settings, "dynamics": {"batch_size": 5}})
    await people(sandbox, "salesforce", "sf", 70)
    await sandbox.hubspot.control.call("POST", "limits", {"daily_limit": limit})
    # Dataverse takes a while over its writes: its delivery is still going when HubSpot's quota stops.
    await sandbox.dynamics.control.set_faults([{"kind": "latency", "latency_ms": 150, "path": "/[$]batch$"}])
    report = await rig.sync()  # HubSpot's delivery stops on the quota; the run reports it and ends cleanly
    assert any("daily" in f for f in report.failures), report.failures
    assert rig.left_running == 0, f"{rig.left_running} task(s) of the run were still running when it returned"


# ---- S22 ----------------------------------------------------------------------------------------
async def test_s22_a_short_run_of_503s_is_retried_through(rig_factory: RigFactory, sandbox: Sandbox) -> None:
    rig = await rig_factory({"dynamics": {"batch_size": 5}})
    expected = dict.fromkeys(await people(sandbox, "hubspot", "hs", 20), "Analyst")
    await sandbox.dynamics.control.set_faults(
        [
            {"kind": "status", "status": 503, "method": "GET", "path": "/contacts", "times": 2},
            {"kind": "status", "status": 503, "method": "POST", "path": "/[$]batch$", "times": 3},
        ]
    )
    report = await rig.sync()
    fired = [rule["fired"] for rule in await sandbox.dynamics.control.clear_faults()]
    assert fired == [2, 3]
    assert len(rig.time.waits) >= 5  # each 503 was waited out with a backoff, then retried
    assert report.total("failed") == 0 and report.total("retrying") == 0, dict(report.counts)
    await assert_everywhere(sandbox, expected)
    assert _writes(await rig.sync()) == 0


EVERYTHING: dict[str, Any] = {"kind": "status", "status": 503, "duration_s": 600}
WRITES: dict[str, Any] = {**EVERYTHING, "method": "POST", "path": "/[$]batch$"}


async def _outage(
    rig: Rig, sandbox: Sandbox, rule: Mapping[str, Any]
) -> tuple[dict[str, str], list[RunReport | CrmSyncError]]:
    """Twelve HubSpot people synced everywhere; then, while Dataverse answers 503 (to `rule`'s requests) for ten
    minutes of its clock, six titles edited (three of them twice, a sync between) and four people added, a sync
    after each round. Returns what every CRM must hold in the end, and what each sync during the outage did."""
    emails = await people(sandbox, "hubspot", "hs", 12)
    await rig.sync()
    ids = {e: rows[0]["id"] for e, rows in (await contacts(sandbox, "hubspot")).items()}
    await sandbox.dynamics.control.set_faults([dict(rule)])
    outcomes: list[RunReport | CrmSyncError] = []
    for email in emails[:6]:
        await sandbox.hubspot.update("contact", ids[email], {"jobtitle": "First"})
    fresh = await people(sandbox, "hubspot", "new", 4, "Newcomer")
    outcomes.append(await _outcome(rig))
    for email in emails[:3]:
        await sandbox.hubspot.update("contact", ids[email], {"jobtitle": "Second"})
    outcomes.append(await _outcome(rig))
    expected = dict.fromkeys(emails, "Analyst") | dict.fromkeys(emails[:6], "First")
    return expected | dict.fromkeys(emails[:3], "Second") | dict.fromkeys(fresh, "Newcomer"), outcomes


@pytest.mark.parametrize("rule", [EVERYTHING, WRITES], ids=["every-request", "writes-only"])
async def test_s22_a_ten_minute_outage_delays_dataverse_and_a_later_run_delivers_in_order(
    rig_factory: RigFactory, sandbox: Sandbox, rule: dict[str, Any]
) -> None:
    rig = await rig_factory({"dynamics": {"batch_size": 5}})
    expected, _ = await _outage(rig, sandbox, rule)
    # Ten minutes later Dataverse is back; the next run delivers everything, the later title over the earlier.
    await asyncio.gather(*(u.control.advance(601) for u in sandbox.users.values()))
    rig.later += timedelta(minutes=11)
    report = await rig.sync()
    assert report.total("failed") == 0, dict(report.counts)
    await assert_everywhere(sandbox, expected)
    assert _writes(await rig.sync()) == 0


async def test_s22_an_outage_of_dataverse_does_not_stop_hubspot_reaching_salesforce(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    rig = await rig_factory({"dynamics": {"batch_size": 5}})
    expected, outcomes = await _outage(rig, sandbox, EVERYTHING)
    await assert_everywhere(sandbox, expected, vendors=("salesforce", "hubspot"))
    assert all(isinstance(o, RunReport) for o in outcomes), outcomes


async def test_s22_while_dataverse_refuses_writes_they_wait_and_the_others_sync(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    rig = await rig_factory({"dynamics": {"batch_size": 5}})
    expected, outcomes = await _outage(rig, sandbox, WRITES)
    await assert_everywhere(sandbox, expected, vendors=("salesforce", "hubspot"))
    # Each run retried Dataverse's writes with backoff, then, with every write of the batch refused, took the
    # CRM for unavailable: it reported Dataverse's writes failed and left them queued, failing no record.
    for outcome in outcomes:
        assert isinstance(outcome, RunReport), outcome
        assert outcome.causes.get("dynamics") == "unavailable" and outcome.total("failed") == 0, outcome
    assert len(rig.time.waits) >= 2 * 5
    store = await rig.store()
    try:
        async with store.read() as tx:
            pending = [j for j in await tx.jobs.list("pending") if j.kind == "write:contact:dynamics"]
    finally:
        await store.aclose()
    # One write per record, however often it changed: the six edited people and the four new ones; the outage
    # spent none of their attempts, so no length of outage dead-letters them.
    assert len(pending) == 10 and len({j.key for j in pending}) == 10
    assert {j.attempts for j in pending} == {0}


async def test_s22_a_crm_found_down_is_left_alone_for_the_rest_of_the_run(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    """Each later kind would spend the whole retry budget on a CRM that is down again, to learn the same."""
    rig = await rig_factory(objects_yaml="company: {}\ncontact: {}")
    expected = dict.fromkeys(await people(sandbox, "hubspot", "hs", 6), "Analyst")
    await sandbox.dynamics.control.set_faults([EVERYTHING])
    report = await rig.sync()
    (rule,) = await sandbox.dynamics.control.faults()
    assert rule["fired"] == RetryPolicy().attempts  # the companies' read, retried; never the contacts'
    (failure,) = report.failures
    assert failure.startswith("read company dynamics:")
    assert report.given_up == {"dynamics"} and report.causes == {"dynamics": "unavailable"}
    assert report.notes == ["dynamics is unavailable (down or throttling): left alone for the rest of this run"]
    # The others synced every kind; Dataverse's changes and writes wait for the next run.
    await assert_everywhere(sandbox, expected, vendors=("salesforce", "hubspot"))
    await asyncio.gather(*(u.control.advance(601) for u in sandbox.users.values()))
    rig.later += timedelta(minutes=11)
    again = await rig.sync()
    assert again.failures == [] and again.given_up == set()
    await assert_everywhere(sandbox, expected)


async def _outcome(rig: Rig) -> RunReport | CrmSyncError:
    try:
        return await rig.sync()
    except CrmSyncError as exc:
        return exc


# ---- row locks ----------------------------------------------------------------------------------
LOCKED_UPDATES: dict[str, Any] = {
    # Salesforce answers every collection update, item by item, with UNABLE_TO_LOCK_ROW (creates go by upsert,
    # another path, and land).
    "kind": "partial_batch",
    "method": "PATCH",
    "path": "/composite/sobjects$",
    "fail_share": 1,
}


async def _company_writes(rig: Rig) -> list[Job]:
    """The jobs writing companies to Salesforce, oldest first."""
    store = await rig.store()
    try:
        async with store.read() as tx:
            return sorted((j for j in await tx.jobs.list() if j.kind == "write:company:salesforce"), key=lambda j: j.id)
    finally:
        await store.aclose()


async def _company_write(rig: Rig) -> Job:
    """The one company write to Salesforce not done yet."""
    found = [j for j in await _company_writes(rig) if j.status != "done"]
    assert len(found) == 1, found
    return found[0]


async def _later(rig: Rig, sandbox: Sandbox, minutes: int) -> None:
    """Past the write's backoff, on every clock."""
    await asyncio.gather(*(u.control.advance(minutes * 60) for u in sandbox.users.values()))
    rig.later += timedelta(minutes=minutes)


async def test_a_lone_update_meeting_a_row_lock_is_the_records_failure_not_salesforce_down(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    """A write Salesforce answered with UNABLE_TO_LOCK_ROW, alone in its batch, looked like an outage: Salesforce
    was left alone for the run at every run, and the write never spent an attempt, so it never became visible."""
    rig = await rig_factory(objects_yaml="company: {}\ncontact: {}")
    rig.jobs_policy = JobsPolicy(max_attempts=3)
    company = await sandbox.hubspot.create("company", {"name": "Acme", "domain": "acme.example"})
    await people(sandbox, "hubspot", "hs", 2)
    await rig.sync()
    [account] = await sandbox.salesforce.find("company", "Website", "acme.example", ["Name"])
    await sandbox.hubspot.update("company", company, {"name": "Acme Locked"})
    late = await people(sandbox, "hubspot", "late", 1)  # a contact: delivered after the companies
    await sandbox.salesforce.control.set_faults([LOCKED_UPDATES])

    report = await rig.sync()
    # Salesforce is up: the run neither reports it down nor leaves it alone; the others and its later writes go on.
    assert "salesforce" not in report.causes and report.given_up == set(), (report.causes, report.failures)
    assert report.failures == []
    assert report.counts.get(("company", "salesforce", "retrying")) == 1, dict(report.counts)
    [in_dataverse] = await sandbox.dynamics.find("company", "websiteurl", "acme.example", ["name"])
    assert in_dataverse["name"] == "Acme Locked"
    assert len(await sandbox.salesforce.find("contact", "Email", late[0])) == 1
    assert (await sandbox.salesforce.get("company", account["Id"], ["Name"]) or {}).get("Name") == "Acme"
    # The locked write spent an attempt, as any record's failure does.
    job = await _company_write(rig)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error is not None and job.last_error.startswith("UNABLE_TO_LOCK_ROW: ")

    # A lock that does not clear ends as a dead letter the operator sees, naming the record and the vendor's words.
    for _ in range(2):
        await _later(rig, sandbox, 5)
        again = await rig.sync()
        assert "salesforce" not in again.causes and again.given_up == set(), again.causes
    job = await _company_write(rig)
    assert (job.status, job.attempts) == ("dead", 3)
    store = await rig.store()
    try:
        errors = await list_errors(store, rig.config, connection="salesforce")
        [dead] = errors.dead_jobs
        assert (dead.object_kind, dead.canonical_id) == ("company", job.payload["canonical_id"])
        assert dead.last_error is not None and "UNABLE_TO_LOCK_ROW" in dead.last_error
        assert account["Id"] in dead.last_error  # Salesforce's message names the locked row
        async with store.read() as tx:
            assert await tx.links.remote_id(str(dead.canonical_id), "salesforce") == account["Id"]

        # Once the lock clears, retrying the dead letter (`crmsync errors retry --all`) lands the write.
        await sandbox.salesforce.control.clear_faults()
        assert len((await retry(store, rig.config, everything=True)).requeued) == 1
    finally:
        await store.aclose()
    await rig.sync()
    assert (await sandbox.salesforce.get("company", account["Id"], ["Name"]) or {}).get("Name") == "Acme Locked"
    assert {j.status for j in await _company_writes(rig)} == {"done"}
    store = await rig.store()
    try:
        assert (await list_errors(store, rig.config, connection="salesforce")).empty
    finally:
        await store.aclose()


# ---- failed calls among answered ones -----------------------------------------------------------
async def _jobs_of(rig: Rig, kind: str) -> list[Job]:
    """The jobs of one kind, oldest first."""
    store = await rig.store()
    try:
        async with store.read() as tx:
            return await tx.jobs.list(kind=kind)
    finally:
        await store.aclose()


async def test_a_hubspot_batch_answered_503_beside_one_that_landed_spends_no_attempt(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    """HubSpot took one batch of updates and answered the next with 503s: HubSpot is up (the run goes on writing to
    it), but the 503 was the call's, not its records'. Their jobs spent attempts, so an outage of HubSpot's
    batch endpoint long enough dead-lettered records nothing was wrong with."""
    rig = await rig_factory({"hubspot": {"batch_size": 2, "concurrency": 1}})
    # A backoff far longer than the run: a job given back is not claimed again before the next run.
    rig.jobs_policy = JobsPolicy(max_attempts=2, base_delay=timedelta(minutes=5))
    emails = await people(sandbox, "salesforce", "sf", 4)
    await rig.sync()
    ids = {e: rows[0]["id"] for e, rows in (await contacts(sandbox, "salesforce")).items()}
    for email in emails:
        await sandbox.salesforce.update("contact", ids[email], {"Title": "Lead"})
    # The first batch of updates lands; every later call (the second batch and its retries) meets a 503.
    batch_update: dict[str, Any] = {
        "kind": "status",
        "status": 503,
        "method": "POST",
        "path": "/contacts/batch/update$",
        "skip": 1,
    }
    await sandbox.hubspot.control.set_faults([batch_update])

    report = await asyncio.wait_for(rig.sync(), timeout=120)  # a job claimed again at once would loop here
    (rule,) = await sandbox.hubspot.control.faults()
    # The failed batch was sent once this run (with the connector's own retries), never claimed again.
    assert rule["fired"] == RetryPolicy().attempts, rule
    assert "hubspot" not in report.causes and report.given_up == set(), (report.causes, report.failures)
    assert report.failures == []
    assert report.counts.get(("contact", "hubspot", "updated")) == 2, dict(report.counts)
    assert report.counts.get(("contact", "hubspot", "retrying")) == 2, dict(report.counts)
    held = await contacts(sandbox, "hubspot")
    assert sorted(held[e][0]["title"] for e in emails) == ["Analyst", "Analyst", "Lead", "Lead"]
    waiting = [j for j in await _jobs_of(rig, "write:contact:hubspot") if j.status != "done"]
    assert len(waiting) == 2, waiting
    for job in waiting:
        # Given back without spending an attempt, after a backoff, saying why.
        assert (job.status, job.attempts) == ("pending", 0), job
        assert job.run_after > rig.now() + timedelta(minutes=4), job
        assert job.last_error is not None and job.last_error.startswith("TransientError: "), job

    # Once HubSpot takes the calls again, the next run lands them.
    await sandbox.hubspot.control.clear_faults()
    await _later(rig, sandbox, 6)
    again = await rig.sync()
    assert again.failures == [] and again.counts.get(("contact", "hubspot", "updated")) == 2, dict(again.counts)
    await assert_everywhere(sandbox, dict.fromkeys(emails, "Lead"))
    assert {j.status for j in await _jobs_of(rig, "write:contact:hubspot")} == {"done"}


async def test_a_counterpart_merge_hubspot_answers_with_503s_waits_and_is_never_dead_lettered(
    rig_factory: RigFactory, sandbox: Sandbox
) -> None:
    """HubSpot's connector reports a merge call that kept failing (503) as a failed result, not by raising: the
    counterpart job spent an attempt on each run, so an outage of that length dead-lettered the merge (S14)."""
    rig = await rig_factory()
    rig.jobs_policy = JobsPolicy(max_attempts=2)
    kept = await sandbox.dynamics.create(
        "contact", {"firstname": "Grace", "lastname": "Hopper", "emailaddress1": "grace@example.com"}
    )
    gone = await sandbox.dynamics.create(
        "contact", {"lastname": "Hopper", "emailaddress1": "g.hopper@example.com", "jobtitle": "Admiral"}
    )
    await rig.sync()
    assert await sandbox.hubspot.count("contact") == 2
    await sandbox.dynamics.merge("contact", kept, gone)
    merges: dict[str, Any] = {"kind": "status", "status": 503, "method": "POST", "path": "/contacts/merge$"}
    await sandbox.hubspot.control.set_faults([merges])

    for _ in range(3):  # more runs than the job has attempts
        report = await rig.sync()
        (job,) = await _jobs_of(rig, "rmerge:contact:hubspot")
        assert (job.status, job.attempts) == ("pending", 0), job
        assert job.last_error is not None and "TransientError" in job.last_error, job
        # Every call of the counterparts' batch failed: HubSpot is reported unavailable, as a delivery would.
        assert report.causes.get("hubspot") == "unavailable", (report.causes, report.failures)
        assert any(f.startswith("write contact hubspot: ") for f in report.failures), report.failures
        await _later(rig, sandbox, 5)
    assert await sandbox.hubspot.count("contact") == 2

    # HubSpot takes merges again: the next run merges its two counterparts.
    await sandbox.hubspot.control.clear_faults()
    done = await rig.sync()
    assert done.failures == [] and done.total("merged") == 1, (done.failures, dict(done.counts))
    assert [j.status for j in await _jobs_of(rig, "rmerge:contact:hubspot")] == ["done"]
    assert await sandbox.hubspot.count("contact") == 1
