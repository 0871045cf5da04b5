"""Service benchmark: change-to-everywhere latency of `crmsync serve` (target: p50 ≤ 1 s, p99 ≤ 3 s).

Three seeded emulators run in their own processes (`engine_sync.spawn_emulators`), and `crmsync serve` in
its own (`python -m crmsync serve --json-logs`, SQLite state, `register_emulator_webhooks: true`, so every
change reaches it by the emulators' real webhooks: HubSpot v3 events, Salesforce outbound messages,
Dataverse service endpoints). Its startup poll is the first full sync; the benchmark waits for that and for
the echoes of its writes to settle. Then simulated people edit contacts through the vendors' own APIs
(`SalesforceUser`, `HubSpotUser`, `DynamicsUser`) at a fixed rate (`--rate`, open loop: an edit starts on
schedule whether or not the earlier ones have arrived), turn by turn in Salesforce, HubSpot and Dataverse.
Each edit writes a unique title; the contacts are those linked in all three CRMs, each edited from one CRM
only (no conflicts), and never edited again while an earlier edit of it is still travelling.

For each edit, the latency runs from the moment the edit is sent to the moment BOTH other CRMs hold the new
title, as a probe sees it by reading them through their APIs every `--probe-ms` (batched: SOQL `Id IN`,
HubSpot `batch/read`, Dataverse `Microsoft.Dynamics.CRM.In`), so figures are rounded up by up to one probe
interval. An edit not everywhere within `--timeout` seconds counts as never arrived.

The emulators' quotas are lifted, since people editing and the probe are not crmsync's API client; crmsync
itself paces to the vendors' documented limits (HubSpot 190 requests per 10 s, ...) unless `--limits raised`.
The service polls every `--poll-interval` seconds (the product's default, 60) as the net under webhooks.

    .venv/bin/python benchmarks/service_latency.py                          # 50 changes/s for 300 s
    .venv/bin/python benchmarks/service_latency.py --seconds 20 --rate 10 --records 1000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import signal
import tempfile
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import sqlalchemy as sa

from bench_support import (
    RAISED_LIMITS,
    latency_line,
    log_tail,
    metric_value,
    percentile,
    start_crmsync,
    stop_emulators,
    stop_process,
    wait_emulators,
    wait_service,
    write_config,
)
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.store import open_store
from crmsync.store.tables import links
from crmsync.testing.sandbox import DynamicsUser, HubSpotUser, SalesforceUser, SandboxEndpoints
from crmsync.testing.sandbox.harness import make_users as sandbox_users
from engine_sync import endpoints, free_port, spawn_emulators

TITLE: Final[Mapping[VendorName, str]] = {"salesforce": "Title", "hubspot": "jobtitle", "dynamics": "jobtitle"}
TARGET_P50_S, TARGET_P99_S = 1.0, 3.0
QUIET_S = 3.0
"""The service is settled once its queue has been empty and no pass has run for this long."""
SETTLE_DEADLINE_S = 600.0
PROBE_CHUNK: Final[Mapping[VendorName, int]] = {"salesforce": 200, "hubspot": 100, "dynamics": 100}

User = SalesforceUser | HubSpotUser | DynamicsUser


@dataclass
class Edit:
    """One title edit: where it was made, the contact in every CRM, and when it arrived in each other CRM."""

    number: int
    origin: VendorName
    contact: Mapping[VendorName, str]  # remote id per CRM
    value: str
    sent: float
    arrived: dict[VendorName, float] = field(default_factory=dict)
    lost: set[VendorName] = field(default_factory=set)
    failed: str | None = None

    @property
    def targets(self) -> list[VendorName]:
        return [v for v in VENDOR_NAMES if v != self.origin]

    @property
    def settled(self) -> bool:
        return all(v in self.arrived or v in self.lost for v in self.targets)

    @property
    def latency(self) -> float | None:
        """Seconds until the last other CRM held the value; None when it never did everywhere."""
        if self.failed is not None or self.lost:
            return None
        return max(self.arrived[v] for v in self.targets) - self.sent


def make_users(ep: SandboxEndpoints) -> dict[VendorName, User]:
    return sandbox_users(ep, sleep=asyncio.sleep)


async def read_titles(user: User, ids: Sequence[str]) -> dict[str, str | None]:
    """Current titles of these contacts in one CRM, in one batched read per chunk."""
    titles: dict[str, str | None] = {}
    if isinstance(user, SalesforceUser):
        quoted = ",".join(f"'{i}'" for i in ids)
        for row in await user.query(f"SELECT Id, Title FROM Contact WHERE Id IN ({quoted})"):
            titles[str(row["Id"])] = row.get("Title")
    elif isinstance(user, HubSpotUser):
        body = {"properties": [TITLE["hubspot"]], "inputs": [{"id": i} for i in ids]}
        response = await user.session.send("POST", "/crm/v3/objects/contacts/batch/read", json=body)
        for row in response.json()["results"]:
            titles[str(row["id"])] = row["properties"].get(TITLE["hubspot"])
    else:
        values = ",".join(f"'{i}'" for i in ids)
        query = {
            "$select": f"contactid,{TITLE['dynamics']}",
            "$filter": f"Microsoft.Dynamics.CRM.In(PropertyName='contactid',PropertyValues=[{values}])",
        }
        for row in await user.rows("contact", query):
            titles[str(row["contactid"]).lower()] = row.get(TITLE["dynamics"])
    return titles


class Probe:
    """Watches one CRM for the titles of the edits made elsewhere; records when each arrives."""

    def __init__(self, vendor: VendorName, user: User, interval_s: float, timeout_s: float) -> None:
        self.vendor = vendor
        self.user = user
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.waiting: dict[str, Edit] = {}  # this CRM's remote id -> the edit travelling to it
        self.errors: Counter[str] = Counter()
        self.reads = 0

    def expect(self, edit: Edit) -> None:
        self.waiting[self._key(edit.contact[self.vendor])] = edit

    def _key(self, remote_id: str) -> str:
        return remote_id.lower() if self.vendor == "dynamics" else remote_id  # Dataverse GUIDs: any case

    async def run(self, finished: asyncio.Event) -> None:
        while not (finished.is_set() and not self.waiting):
            if self.waiting:
                await self.look()
            await asyncio.sleep(self.interval_s)  # a probe interval: this watches another process's state

    async def look(self) -> None:
        ids = list(self.waiting)
        chunk = PROBE_CHUNK[self.vendor]
        try:
            found: dict[str, str | None] = {}
            for part in await asyncio.gather(
                *(read_titles(self.user, ids[n : n + chunk]) for n in range(0, len(ids), chunk))
            ):
                found.update(part)
        except Exception as exc:  # a failed look is retried at the next interval; counted, never fatal
            self.errors[type(exc).__name__] += 1
            return
        self.reads += 1
        now = time.perf_counter()
        for key in ids:
            edit = self.waiting[key]
            if found.get(key) == edit.value:
                edit.arrived[self.vendor] = now
                del self.waiting[key]
            elif now - edit.sent > self.timeout_s:
                edit.lost.add(self.vendor)
                del self.waiting[key]


class Pool:
    """The contacts one CRM's people edit, in turn; a contact with an edit still travelling is skipped."""

    def __init__(self, contacts: Sequence[Mapping[VendorName, str]]) -> None:
        self.queue: deque[Mapping[VendorName, str]] = deque(contacts)
        self.busy: list[tuple[Mapping[VendorName, str], Edit]] = []

    def take(self) -> Mapping[VendorName, str] | None:
        still = []
        for contact, edit in self.busy:
            if edit.settled or edit.failed is not None:
                self.queue.append(contact)
            else:
                still.append((contact, edit))
        self.busy = still
        return self.queue.popleft() if self.queue else None

    def hold(self, contact: Mapping[VendorName, str], edit: Edit) -> None:
        self.busy.append((contact, edit))


async def linked_contacts(state_url: str) -> list[dict[VendorName, str]]:
    """Contacts linked exactly once in each of the three CRMs, in canonical id order."""
    store = await open_store(state_url, migrate_schema=False)
    try:
        query = sa.select(links.c.canonical_id, links.c.connection, links.c.remote_id).where(links.c.kind == "contact")
        async with store.read() as tx:
            rows = (await tx.connection.execute(query)).all()
    finally:
        await store.aclose()
    found: dict[str, dict[str, list[str]]] = {}
    for canonical, connection, remote_id in rows:
        found.setdefault(canonical, {}).setdefault(connection, []).append(remote_id)
    contacts = []
    for canonical in sorted(found):
        per = found[canonical]
        if all(len(per.get(v, [])) == 1 for v in VENDOR_NAMES):
            contacts.append({v: per[v][0] for v in VENDOR_NAMES})
    return contacts


async def settle(http: httpx.AsyncClient, process: asyncio.subprocess.Process, log: Path) -> float:
    """Wait until the service's queue is empty and no pass has run for QUIET_S; the seconds it took."""
    started = time.perf_counter()
    quiet_since: float | None = None
    last_passes = -1
    while time.perf_counter() - started < SETTLE_DEADLINE_S:
        if process.returncode is not None:
            raise SystemExit(f"crmsync serve exited with {process.returncode}:\n{log_tail(log)}")
        text = (await http.get("/metrics")).text
        busy = metric_value(text, "crmsync_queue_jobs", status="pending") + metric_value(
            text, "crmsync_queue_jobs", status="running"
        )
        passes = int((await http.get("/readyz")).json().get("passes", 0))
        now = time.perf_counter()
        if busy or passes != last_passes:
            quiet_since, last_passes = None, passes
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_S:
            return now - started
        await asyncio.sleep(0.25)  # watching another process's queue
    raise SystemExit(f"the service did not settle within {SETTLE_DEADLINE_S:.0f} s:\n{log_tail(log)}")


async def edit_at_rate(
    args: argparse.Namespace, users: Mapping[VendorName, User], pools: Mapping[VendorName, Pool], probes: list[Probe]
) -> tuple[list[Edit], Counter[str], float]:
    """Edits on schedule for `--seconds`; returns them, the edits skipped for want of a free contact, the wall."""
    tag = secrets.token_hex(3)
    edits: list[Edit] = []
    skipped: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    by_vendor = {probe.vendor: probe for probe in probes}

    async def one(edit: Edit) -> None:
        try:
            await users[edit.origin].update("contact", edit.contact[edit.origin], {TITLE[edit.origin]: edit.value})
        except Exception as exc:  # the vendor refused or the call failed: that edit is reported, the rest go on
            edit.failed = f"{type(exc).__name__}: {str(exc)[:200]}"
            return
        for target in edit.targets:
            by_vendor[target].expect(edit)

    interval = 1.0 / args.rate
    total = round(args.seconds * args.rate)
    origins = itertools.cycle(VENDOR_NAMES)
    started = time.perf_counter()
    for number in range(total):
        delay = started + number * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule: one edit every 1/rate seconds
        origin = next(origins)
        contact = pools[origin].take()
        if contact is None:
            skipped[origin] += 1
            continue
        edit = Edit(number, origin, contact, f"Latency {tag} {number}", time.perf_counter())
        pools[origin].hold(contact, edit)
        edits.append(edit)
        task = asyncio.create_task(one(edit))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    wall = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return edits, skipped, wall


def report(
    edits: list[Edit], skipped: Counter[str], wall: float, args: argparse.Namespace, probes: list[Probe]
) -> None:
    done = [e for e in edits if e.failed is None]
    arrived = [e.latency for e in done if e.latency is not None]
    lost = [e for e in done if e.lost]
    failed = [e for e in edits if e.failed is not None]
    print(f"edits: {len(edits):,} in {wall:.1f}s ({len(edits) / wall:.1f}/s; asked {args.rate}/s)")
    print(f"  change-to-everywhere: {latency_line(arrived)}")
    for origin in VENDOR_NAMES:
        mine = [e.latency for e in done if e.origin == origin and e.latency is not None]
        print(f"  from {origin}: {len(mine):,} arrived, {latency_line(mine)}")
    for target in VENDOR_NAMES:
        legs = [e.arrived[target] - e.sent for e in done if target in e.arrived]
        print(f"  into {target} (one leg): {latency_line(legs)}")
    missing = Counter(f"{e.origin}→{v}" for e in lost for v in sorted(e.lost))
    detail = ", ".join(f"{k} {n}" for k, n in sorted(missing.items())) or "none"
    print(f"  never arrived within {args.timeout:.0f}s: {len(lost)} ({detail})")
    if failed:
        reasons = Counter(e.failed for e in failed)
        print(f"  edits refused or failed: {len(failed)}: {', '.join(f'{r} ×{n}' for r, n in reasons.most_common(3))}")
    if skipped:
        print(f"  edits skipped (every contact of that CRM still had an edit travelling): {dict(skipped)}")
    for probe in probes:
        errors = f", errors {dict(probe.errors)}" if probe.errors else ""
        print(f"  probe {probe.vendor}: {probe.reads:,} batched reads every {args.probe_ms} ms{errors}")
    ordered = sorted(arrived)
    p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
    verdict = "met" if p50 <= TARGET_P50_S and p99 <= TARGET_P99_S and not lost else "NOT met"
    print(f"  target p50 ≤ {TARGET_P50_S:.0f} s, p99 ≤ {TARGET_P99_S:.0f} s, nothing lost: {verdict}")


async def run(args: argparse.Namespace) -> None:
    emulators, urls = spawn_emulators(args.records, args.seed, RAISED_LIMITS)
    users: dict[VendorName, User] = {}
    probers: dict[VendorName, User] = {}
    try:
        await wait_emulators(emulators, urls)
        ep = endpoints(urls, RAISED_LIMITS if args.limits == "raised" else {})
        users, probers = make_users(ep), make_users(ep)
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-latency-") as scratch:
            directory = Path(scratch)
            state_url = f"sqlite:///{directory / 'state.db'}"
            port = free_port()
            service = {
                "host": "127.0.0.1",
                "port": port,
                "poll_interval_s": args.poll_interval,
                "register_emulator_webhooks": True,
            }
            config = write_config(directory, ep, state_url, service=service)
            log = directory / "serve.log"
            started = time.perf_counter()
            process = await start_crmsync("serve", config, log, "--port", str(port))
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                    ready = await wait_service(http, process, log)
                    first = time.perf_counter() - started
                    print(f"first sync (the service's startup poll): {first:.1f}s: {ready.get('last_pass', {})}")
                    settled = await settle(http, process, log)
                    print(f"  echoes of its writes settled in {settled:.1f}s more")
                    contacts = await linked_contacts(state_url)
                    if len(contacts) < 3:
                        raise SystemExit(f"only {len(contacts)} contacts are linked in all three CRMs: seed more")
                    pools = {v: Pool(contacts[n::3]) for n, v in enumerate(VENDOR_NAMES)}
                    print(f"  {len(contacts):,} contacts linked in all three CRMs, a third edited from each")
                    before = (await http.get("/metrics")).text
                    probes = [Probe(v, probers[v], args.probe_ms / 1000, args.timeout) for v in VENDOR_NAMES]
                    finished = asyncio.Event()
                    watching = [asyncio.create_task(p.run(finished)) for p in probes]
                    try:
                        edits, skipped, wall = await edit_at_rate(args, users, pools, probes)
                    finally:
                        finished.set()
                        await asyncio.gather(*watching)
                    after = (await http.get("/metrics")).text
                report(edits, skipped, wall, args, probes)
                passes = {
                    trigger: metric_value(after, "crmsync_sync_passes_total", trigger=trigger)
                    - metric_value(before, "crmsync_sync_passes_total", trigger=trigger)
                    for trigger in ("hints", "poll")
                }
                refused = metric_value(after, "crmsync_webhook_requests_total") - metric_value(
                    after, "crmsync_webhook_requests_total", outcome="accepted"
                )
                print(
                    f"  service: {passes['hints']:.0f} hint passes, {passes['poll']:.0f} polls (every "
                    f"{args.poll_interval:g}s), {refused:.0f} webhooks refused; crmsync at the {args.limits} limits"
                )
                print(f"  machine: {os.cpu_count()} CPUs shared by the service, the three emulators and this process")
            finally:
                code = await stop_process(process)
                if code not in (0, -signal.SIGTERM, None):  # uvicorn re-raises the SIGTERM it handled
                    print(f"crmsync serve exited with {code}")
    finally:
        for user in [*users.values(), *probers.values()]:
            await user.aclose()
        stop_emulators(emulators)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="edits per second, over the three CRMs (default 50)")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to edit (default 300)")
    parser.add_argument("--records", type=int, default=3000, help="seed records per emulator (default 3,000)")
    parser.add_argument("--seed", type=int, default=1, help="the emulators' seed")
    parser.add_argument("--timeout", type=float, default=30.0, help="an edit not everywhere by then never arrived")
    parser.add_argument("--probe-ms", type=int, default=50, help="how often the probe reads each CRM (default 50)")
    parser.add_argument(
        "--poll-interval", type=float, default=60.0, help="the service's poll interval, seconds (default 60)"
    )
    parser.add_argument(
        "--limits",
        choices=["documented", "raised"],
        default="documented",
        help="crmsync paces to the vendors' documented limits, or to the lifted ones the emulators run with",
    )
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.probe_ms < 1:
        parser.error("--rate, --seconds and --probe-ms must be positive")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
