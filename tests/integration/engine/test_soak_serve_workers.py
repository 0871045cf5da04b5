"""Soak, run by hand (`pytest -m slow`): `crmsync serve` and two `crmsync worker`s on one PostgreSQL state under
faults, with people typed into the CRMs meanwhile; afterwards no person is in a CRM twice unless crmsync reported
the extra record as a duplicate.

Written for run 22 of commit 7f15d56 (ten people typed only into HubSpot found twice in Salesforce with one
crmsync id, beside a worker pass whose Salesforce writes lost their leases, at load 14), which did not recur. Run
as that repro ran: the emulators in this process's threads, serve polling every second with the emulators'
webhooks registered, two workers, each round one person typed only into HubSpot, one typed into HubSpot and
Salesforce at once, one only into Salesforce, and every fourth a company only into HubSpot. Every emulator fails
some of crmsync's own calls (latency, 5xx, dropped connections; never the typists'). Optional, by environment:
`CRMSYNC_SOAK_ROUNDS` (default 24), `CRMSYNC_SOAK_BURST` rounds typed back to back before waiting for the service
or a worker to move on (default 4), `CRMSYNC_SOAK_HOGS` CPU-bound processes beside them, and
`CRMSYNC_SOAK_FREEZE_S` seconds for which the process sending a Salesforce upsert is stopped (SIGSTOP) a third of the
way through while the emulator holds that upsert: longer than a job lease (60 s), its claims are reaped and run
again by the others while its write is under way.

A failure keeps the state database (named in the message; drop it by hand) and the processes' logs (in the test's
tmp_path). Not a unit of evidence on its own: a pass says the interleavings it met were handled, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.merges import DUPLICATE
from crmsync.store import open_store
from crmsync.store.jobs import PARKED
from crmsync.store.tables import UtcDateTime, jobs
from crmsync.testing.sandbox import EXTERNAL_ID_FIELDS, Sandbox, VendorUser
from tests.integration.service.conftest import AnyOf, LogLines, Progress, eventually
from tests.integration.store.conftest import ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROUNDS = int(os.environ.get("CRMSYNC_SOAK_ROUNDS", "24"))
HOGS = int(os.environ.get("CRMSYNC_SOAK_HOGS", "0"))
FREEZE_S = float(os.environ.get("CRMSYNC_SOAK_FREEZE_S", "0"))
BURST = max(1, int(os.environ.get("CRMSYNC_SOAK_BURST", "4")))
SEED_RECORDS = 60
"""Records the overlapping seed world puts in each emulator first (duplicates and twins included), as run 22 had."""
STARTUP_S = 120.0
DRAIN_S = 900.0 + FREEZE_S
"""Bounds the wait for the queue to empty once the typing stops: minutes under faults and hogs."""

# Only crmsync's calls fail: the typists create single records (`POST /sobjects/Contact`, `POST …/objects/contacts`,
# `POST /contacts`) and look them up through paths no rule matches (SOQL `query`, HubSpot `search`, OData filters).
FAULTS: dict[VendorName, list[dict[str, Any]]] = {
    "salesforce": [
        {"kind": "latency", "path": "/composite/", "latency_ms": 3000, "probability": 0.25},
        {"kind": "status", "path": "/composite/", "status": 503, "probability": 0.1},
        {"kind": "drop", "path": "/composite/", "probability": 0.05},
    ],
    "hubspot": [
        {"kind": "latency", "path": "/batch/", "latency_ms": 3000, "probability": 0.25},
        {"kind": "status", "path": "/batch/", "status": 502, "probability": 0.1},
        {"kind": "drop", "path": "/batch/", "probability": 0.05},
    ],
    "dynamics": [
        {"kind": "latency", "path": r"\$batch", "latency_ms": 3000, "probability": 0.25},
        {"kind": "status", "path": r"\$batch", "status": 503, "probability": 0.1},
        {"kind": "drop", "path": r"\$batch", "probability": 0.05},
    ],
}
# (record kind, field that finds it) per vendor; the typed values are unique to the run.
FINDS: dict[VendorName, dict[str, str]] = {
    "salesforce": {"contact": "Email", "company": "Name"},
    "hubspot": {"contact": "email", "company": "name"},
    "dynamics": {"contact": "emailaddress1", "company": "name"},
}
ID_FIELDS: dict[VendorName, dict[str, str]] = {
    "salesforce": {"contact": "Id", "company": "Id"},
    "hubspot": {"contact": "id", "company": "id"},  # not a property: every search result has it
    "dynamics": {"contact": "contactid", "company": "accountid"},
}


@dataclass
class SoakDatabase:
    """A database of its own: kept when the test fails (`keep` stays True until it passed), for inspection."""

    name: str
    url: str
    keep: bool = True


@dataclass(frozen=True)
class Typed:
    """One record a typist made: its kind, the value that finds it, and where it was typed."""

    kind: str
    value: str
    into: tuple[VendorName, ...]


@dataclass
class Crew:
    """The service's and the workers' processes, their logs as one `Progress`, and the CPU hogs."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    logs: list[LogLines] = field(default_factory=list)
    hogs: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def progress(self) -> Progress:
        return AnyOf(self.logs)


async def _admin(statement: str) -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture
async def soak_database(pytestconfig: pytest.Config) -> AsyncIterator[SoakDatabase]:
    if "slow" not in (pytestconfig.getoption("markexpr") or ""):
        pytest.skip("a soak of several minutes: run it with -m slow")
    name = f"crmsync_test_soak_{uuid.uuid4().hex[:10]}"
    try:
        await asyncio.wait_for(_admin(f'CREATE DATABASE "{name}"'), timeout=10)
    except (OSError, sa.exc.SQLAlchemyError, TimeoutError) as unreachable:
        reason = f"PostgreSQL is unreachable at {ADMIN_URL}: {unreachable}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests are mandatory)")
        pytest.skip(reason)
    database = SoakDatabase(name, make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    yield database
    if database.keep:
        print(f"state kept for inspection in database {name} (drop it by hand)")  # shown with the failure
    else:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start(crew: Crew, config: Path, name: str, *args: str) -> LogLines:
    """`python -m crmsync <args> --config … --json-logs`, its log read as it comes (and kept beside the config)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crmsync", *args, "--config", str(config), "--json-logs",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stderr is not None
    log = LogLines(process.stderr, config.parent / f"{name}.log")
    crew.processes.append(process)
    crew.logs.append(log)
    return log


async def _stop(crew: Crew) -> None:
    """SIGCONT (a frozen worker), SIGTERM, SIGKILL after a minute; the hogs at once."""
    for hog in crew.hogs:
        hog.kill()
        await hog.wait()
    for process in crew.processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.terminate()
    for process in crew.processes:
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()
    for log in crew.logs:
        await log.aclose()


async def _set_faults(sandbox: Sandbox, plans: dict[VendorName, list[dict[str, Any]]] | None) -> None:
    for vendor in VENDOR_NAMES:
        async with httpx.AsyncClient(base_url=sandbox.urls[vendor], timeout=30) as client:
            if plans is None:
                (await client.delete("/_emulator/faults")).raise_for_status()
            else:
                plan = {"seed": VENDOR_NAMES.index(vendor) + 1, "rules": plans[vendor]}
                (await client.put("/_emulator/faults", json=plan)).raise_for_status()


async def _type_round(sandbox: Sandbox, tag: str, n: int) -> list[Typed]:
    """One round of typing, all at once: a person only in HubSpot, one in HubSpot and Salesforce, one only in
    Salesforce, and every fourth round a company only in HubSpot."""
    typed = [
        Typed("contact", f"hs.{n}.{tag}@soak.example", ("hubspot",)),
        Typed("contact", f"both.{n}.{tag}@soak.example", ("hubspot", "salesforce")),
        Typed("contact", f"sf.{n}.{tag}@soak.example", ("salesforce",)),
    ]
    if n % 4 == 0:
        typed.append(Typed("company", f"Soak {n} {tag}", ("hubspot",)))
    made: list[Any] = []
    for item in typed:
        for vendor in item.into:
            made.append(sandbox.user(vendor).create(item.kind, _fields(vendor, item, n)))
    await asyncio.gather(*made)
    return typed


def _fields(vendor: VendorName, item: Typed, n: int) -> dict[str, Any]:
    if item.kind == "company":
        return {"name": item.value, "domain": f"soak{n}.{item.value.split()[-1]}.example"}
    if vendor == "salesforce":
        return {"LastName": f"Soak {n}", "FirstName": "Typed", "Email": item.value}
    return {"lastname": f"Soak {n}", "firstname": "Typed", "email": item.value}


async def _freeze_a_writer(sandbox: Sandbox, url: str, crew: Crew, tag: str, n: int) -> list[Typed]:
    """Type round `n` while Salesforce holds crmsync's next contact upsert, and stop (SIGSTOP) the process that sent
    it for `FREEZE_S`: its claims expire while its write is under way, and another process reaps and runs them."""
    held = {"kind": "latency", "method": "PATCH", "path": "/composite/sobjects/Contact/", "latency_ms": 5000}
    async with httpx.AsyncClient(base_url=sandbox.urls["salesforce"], timeout=30) as control:
        (await control.put("/_emulator/faults", json={"rules": [{**held, "times": 1}]})).raise_for_status()
        typed = await _type_round(sandbox, tag, n)
        for _ in range(12):  # each look waits up to 10 s for the upsert (a create may be held that long for reads)
            report = (await control.get("/_emulator/faults", params={"fired": "1"})).json()
            if report["rules"][0]["fired"]:
                break
        else:
            raise AssertionError("crmsync sent no contact upsert to Salesforce within two minutes")
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                holders = sa.select(jobs.c.locked_by).where(
                    jobs.c.status == "running", jobs.c.kind == "write:contact:salesforce"
                )
                writers = {str(h) for h in (await connection.execute(holders)).scalars() if h}
        finally:
            await engine.dispose()
        pids = {int(writer.split(":")[2]) for writer in writers} & {p.pid for p in crew.processes}
        assert pids, f"no process of the crew holds the Salesforce writes: {writers}"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            asyncio.get_running_loop().call_later(FREEZE_S, _resume, pid)
        (await control.put("/_emulator/faults", json={"seed": 1, "rules": FAULTS["salesforce"]})).raise_for_status()
    return typed


def _resume(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile (the test is over)
        os.kill(pid, signal.SIGCONT)


async def _drained(url: str) -> bool:
    """No job is running or due (a parked one waits for something that may never come: it does not count)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            live = sa.select(sa.func.count()).where(
                jobs.c.status.in_(["pending", "running"]),
                sa.or_(jobs.c.status == "running", jobs.c.run_after < sa.literal(PARKED, UtcDateTime())),
            )
            return int((await connection.execute(live.select_from(jobs))).scalar_one()) == 0
    finally:
        await engine.dispose()


async def _unreported(
    users: dict[VendorName, VendorUser], typed: Sequence[Typed], reported: set[tuple[str, str]]
) -> list[str]:
    """Each typed record that is not exactly once in every CRM once the reported duplicates are set aside."""
    problems: list[str] = []
    for item in typed:
        for vendor, user in users.items():
            id_field, carried = ID_FIELDS[vendor][item.kind], EXTERNAL_ID_FIELDS[vendor]
            wanted = [carried] if vendor == "hubspot" else [id_field, carried]
            found = await user.find(item.kind, FINDS[vendor][item.kind], item.value, wanted)
            ids = {str(row[id_field]): row.get(carried) for row in found}  # remote id -> the crmsync id it carries
            synced = [rid for rid in ids if (vendor, rid) not in reported]
            if len(synced) != 1:
                problems.append(f"{item.kind} {item.value} (typed into {', '.join(item.into)}) in {vendor}: {ids}")
    return problems


async def test_serve_and_two_workers_under_faults_create_nobody_twice_unreported(
    soak_database: SoakDatabase, tmp_path: Path
) -> None:
    crew = Crew()
    async with Sandbox(seed=1, records=SEED_RECORDS) as sandbox:
        port = _free_port()
        service = {"host": "127.0.0.1", "port": port, "poll_interval_s": 1, "register_emulator_webhooks": True}
        config = sandbox.write_config(tmp_path, soak_database.url, service=service)
        tag = uuid.uuid4().hex[:6]
        typed: list[Typed] = []
        try:
            serve = await _start(crew, config, "serve", "serve", "--port", str(port))

            async def ready() -> bool:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                    with contextlib.suppress(httpx.TransportError, ValueError):
                        answer = await http.get("/readyz")
                        return answer.status_code == 200 and int(answer.json().get("passes", 0)) >= 1
                return False

            await eventually(ready, after=serve, what="crmsync serve's startup poll", deadline_s=STARTUP_S)
            for n in range(2):
                worker = await _start(crew, config, f"worker{n + 1}", "worker", "--idle", "0.1")
                started = _said(worker, "worker started")  # imports take a while on a loaded machine
                await eventually(started, after=worker, what="a worker starting", deadline_s=STARTUP_S)
            for _ in range(HOGS):
                hog = [sys.executable, "-c", "while True: pass"]
                crew.hogs.append(await asyncio.create_subprocess_exec(*hog, stdin=asyncio.subprocess.DEVNULL))
            await _set_faults(sandbox, FAULTS)
            for n in range(ROUNDS):
                if FREEZE_S and n == ROUNDS // 3:
                    typed += await _freeze_a_writer(sandbox, soak_database.url, crew, tag, n)
                    continue
                typed += await _type_round(sandbox, tag, n)
                if n % BURST == BURST - 1:  # the next rounds once the service or a worker has moved on
                    mark = crew.progress.mark()
                    async with asyncio.timeout(STARTUP_S):
                        await crew.progress.beyond(mark)
            await eventually(
                lambda: _drained(soak_database.url), after=crew.progress, what="the queue emptied", deadline_s=DRAIN_S
            )
            await _set_faults(sandbox, None)
            await eventually(
                lambda: _drained(soak_database.url), after=crew.progress, what="the queue emptied without faults"
            )
        finally:
            await _stop(crew)
        store = await open_store(soak_database.url)
        try:
            async with store.read() as tx:
                reported = {
                    (e.report.connection, str(e.report.remote_id))
                    for e in await tx.errors.list()
                    if e.report.code == DUPLICATE
                }
        finally:
            await store.aclose()
        problems = await _unreported(dict(sandbox.users), typed, reported)
    assert not problems, (
        f"{len(problems)} of {len(typed)} typed records are not once in every CRM (beside reported duplicates); "
        f"state kept in database {soak_database.name}, logs in {tmp_path}:\n" + "\n".join(problems)
    )
    soak_database.keep = False


def _said(log: LogLines, event: str) -> Callable[[], Awaitable[bool]]:
    """A check that `log` holds a line naming `event`."""

    async def check() -> bool:
        return any(event in line for line in log.lines)

    return check
