"""Service benchmark: `crmsync worker` scale-out on PostgreSQL (target: 4 workers ≥ 2.5× the jobs/s of one).

A throwaway PostgreSQL database (created on `--admin-url`'s server, dropped at the end) holds the state. Three
emulators run in their own processes (`engine_sync.spawn_emulators`); HubSpot gets `--records` new contacts (batch
create) and a first sync by this process copies them to Salesforce and Dataverse. Then every emulator answers each
API call 50 ms late (`--latency-ms`, its fault plan: `{"kind": "latency"}`), as a distant vendor does. For each
worker count (`--workers 1,4`), the same work is queued the way the webhook receiver queues it (as
`tests/integration/service/test_workers.py` does): the N contacts are edited in HubSpot
(`HubSpotUser.update_many`), and N `refetch_job` hints are enqueued in one transaction. The clock starts at that
commit, with the workers already started, warmed up and idle (`python -m crmsync worker --idle 0.1`, each its own
process; `--warmup` hints per worker, for other contacts, are handled before the clock starts, so statements
compiled and prepared on each connection, pools and tokens are not timed), and stops when no job is pending or
running: every hint was read again, reconciled and its writes delivered to Salesforce and Dataverse (those write
jobs are counted too; the end is seen by one probe of the live-jobs index every 50 ms). Between runs the finished
jobs are deleted, the workers stopped and the database vacuumed. The run checks both CRMs hold the new titles.
`--repeat N` runs the worker counts N times, alternated, and compares the medians: other processes' load on the
machine then weighs on every count alike.

The emulators' quotas are lifted; crmsync's own limiter (shared by the workers in the state database) paces
to them too, so the figure is the workers', not the vendors' (`--limits documented` paces to the vendors'
documented limits instead: HubSpot's 190 requests per 10 s then bounds the runs).

Prints jobs/s and hinted records/s for each worker count and the ratio to one worker, and for each run what
bounds it: the API calls per vendor and operation with their records per call (the emulators' statistics),
and the CPU seconds of each worker, the emulators and the database's PostgreSQL backends over the timed part,
per job, in cores, beside how busy the whole machine was (every process of every user, from /proc/stat).
This machine has 2 cores: the workers, PostgreSQL and the three emulators share them, so 4 workers reach
2.5× one worker only if their CPU seconds per job × 2.5 × one worker's jobs/s fit in the cores left to them.
`--logs DIR` keeps the workers' JSON logs (each pass logs its seconds reading, writing and in the database).

    .venv/bin/python benchmarks/service_workers.py                               # 10,000 hinted records
    .venv/bin/python benchmarks/service_workers.py --records 200 --workers 1,4
    .venv/bin/python benchmarks/service_workers.py --repeat 3 --logs /tmp/worker-logs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench_support import (
    RAISED_LIMITS,
    log_tail,
    start_crmsync,
    stop_emulators,
    stop_process,
    wait_emulators,
    write_config,
)
from crmsync.config import load_config
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.connections import open_connectors
from crmsync.engine.outbox import refetch_job
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.store import NewJob, Store, open_store
from crmsync.store.tables import jobs
from crmsync.testing.sandbox import OBJECTS, ControlPlane, DynamicsUser, HubSpotUser, SalesforceUser
from crmsync.testing.sandbox.hubspot import BATCH_LIMIT
from engine_sync import endpoints, spawn_emulators

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LIVE_PRIORITY = 10  # what the webhook receiver gives its hints
STARTUP_S = 120.0
RUN_DEADLINE_S = 3600.0
WATCH_S = 0.05


@dataclass(frozen=True, slots=True)
class RunResult:
    workers: int
    seconds: float
    jobs: Counter[str]  # done jobs by kind family (refetch, write, ...)
    dead: int
    in_salesforce: int
    in_dynamics: int
    cpu: dict[str, float]  # CPU seconds over the timed part (each worker, emulators, PostgreSQL, machine); transactions
    calls: dict[str, str]  # API calls per vendor and operation, with records per call

    @property
    def done(self) -> int:
        return sum(self.jobs.values())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux /proc; 0.0 where unavailable or gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every process of every user (Linux /proc/stat)."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


class CpuMeter:
    """CPU seconds spent by each worker, the emulators and the state database's backends over the timed part.

    On 2 cores shared by all of them, CPU seconds per job × jobs per second tells whether the cores bound a run.
    """

    def __init__(self, store: Store, workers: Sequence[int], emulators: Sequence[int]) -> None:
        self.store = store
        self.workers = list(workers)
        self.emulators = list(emulators)
        self._start: dict[int, float] = {}
        self._machine = (0.0, 0.0)
        self._transactions = 0

    async def backends(self) -> list[int]:
        """PostgreSQL server processes serving the benchmark's database (the workers' connections)."""
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        async with self.store.read() as tx:
            return [int(pid) for pid in (await tx.connection.execute(query)).scalars()]

    async def transactions(self) -> int:
        """Transactions the database has ended so far (PostgreSQL's statistics, flushed about once a second)."""
        query = sa.text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        async with self.store.read() as tx:
            return int((await tx.connection.execute(query)).scalar_one())

    async def start(self) -> None:
        pids = [*self.workers, *self.emulators, *await self.backends()]
        self._start = {pid: cpu_seconds(pid) for pid in pids}
        self._machine = machine_busy()
        self._transactions = await self.transactions()

    async def stop(self) -> dict[str, float]:
        """CPU seconds per part since `start` (`worker N`, `emulators`, `postgres`; `machine` busy out of
        `machine_capacity`, every core), and the database's `transactions` since then."""
        spent = {f"worker {n + 1}": self._since(pid) for n, pid in enumerate(self.workers)}
        spent["emulators"] = sum(self._since(pid) for pid in self.emulators)
        spent["postgres"] = sum(self._since(pid) for pid in await self.backends())
        busy, total = machine_busy()
        spent["machine"] = busy - self._machine[0]
        spent["machine_capacity"] = total - self._machine[1]
        spent["transactions"] = await self.transactions() - self._transactions
        return spent

    def _since(self, pid: int) -> float:
        return max(cpu_seconds(pid) - self._start.get(pid, 0.0), 0.0)


async def reset_api_stats(urls: dict[VendorName, str]) -> None:
    for url in urls.values():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            (await client.delete("/_emulator/stats")).raise_for_status()


async def api_stats(urls: dict[VendorName, str]) -> dict[str, str]:
    """Each emulator's calls since the last reset: `total (operation calls×records per call, ...)`."""
    found: dict[str, str] = {}
    for vendor, url in urls.items():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            stats = (await client.get("/_emulator/stats")).json()
        ops = ", ".join(
            f"{name} {op['calls']}×{op['records_per_call']:g}"
            for name, op in stats["operations"].items()
            if op["calls"]
        )
        found[vendor] = f"{stats['total_calls']} ({ops})"
    return found


async def admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def create_contacts(user: HubSpotUser, count: int, tag: str) -> list[str]:
    """`count` new HubSpot contacts through the batch endpoint (100 a call); their ids."""
    ids: list[str] = []
    for start in range(0, count, BATCH_LIMIT):
        inputs = [
            {"properties": {"firstname": "Worker", "lastname": f"W{n}", "email": f"w{n}.{tag}@workers.example"}}
            for n in range(start, min(start + BATCH_LIMIT, count))
        ]
        body = (
            await user.session.send("POST", "/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
        ).json()
        ids += [str(row["id"]) for row in body["results"]]
    return ids


async def queue_hints(store: Store, remote_ids: Sequence[str]) -> None:
    """What the webhook receiver does for HubSpot's notifications of these contacts' edits: one transaction."""
    hints = [
        refetch_job("contact", "hubspot", OBJECTS["hubspot"]["contact"], r, reason="benchmark") for r in remote_ids
    ]
    async with store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(h.key, h.kind, h.payload, priority=LIVE_PRIORITY) for h in hints])


def started_count(log: Path) -> int:
    """How many workers logged `worker started` into `log` (a log file is appended to by every round)."""
    return log.read_text(encoding="utf-8", errors="replace").count('"worker started"') if log.exists() else 0


async def wait_started(
    processes: Sequence[asyncio.subprocess.Process], logs: Sequence[Path], before: Sequence[int]
) -> None:
    """Each worker has logged `worker started` (it then looks at the queue every --idle seconds).

    `before`: the count already in each log from earlier rounds; without it a later round's clock started
    while its workers were still importing, and their start-up counted as the round's time and CPU.
    """
    end = time.monotonic() + STARTUP_S
    while time.monotonic() < end:
        for process, log in zip(processes, logs, strict=True):
            if process.returncode is not None:
                raise SystemExit(f"a worker exited with {process.returncode}:\n{log_tail(log)}")
        if all(started_count(log) > seen for log, seen in zip(logs, before, strict=True)):
            return
        await asyncio.sleep(WATCH_S)  # watching other processes' logs
    raise SystemExit(f"the workers did not start within {STARTUP_S:.0f} s:\n{log_tail(logs[0])}")


async def warm_up(
    store: Store,
    hubspot: HubSpotUser,
    warm: Sequence[str],
    title: str,
    processes: Sequence[asyncio.subprocess.Process],
    logs: Sequence[Path],
) -> None:
    """Before the clock: the started workers handle hints for `warm` contacts (reads, writes, settles), so one-time
    costs (statements compiled and prepared on each connection, connection pools, OAuth tokens) are not timed.
    Workers are long-running; the benchmark measures them in their steady state."""
    await hubspot.update_many("contact", {remote_id: {"jobtitle": f"Warm-up {title}"} for remote_id in warm})
    await queue_hints(store, warm)
    await drain(store, processes, logs, "the warm-up")
    await clear_finished(store)


async def drain(store: Store, processes: Sequence[asyncio.subprocess.Process], logs: Sequence[Path], what: str) -> None:
    """Until no job is pending or running; a worker that exits, or the deadline, ends the benchmark."""
    end = time.monotonic() + RUN_DEADLINE_S
    while await queue_live(store):
        if time.monotonic() > end:
            raise SystemExit(f"{what} did not empty the queue in {RUN_DEADLINE_S:.0f} s: {await job_counts(store)}")
        for process, log in zip(processes, logs, strict=True):
            if process.returncode is not None:
                raise SystemExit(f"a worker exited with {process.returncode}:\n{log_tail(log)}")
        await asyncio.sleep(WATCH_S)  # watching the workers' queue


async def clear_finished(store: Store) -> None:
    """The finished jobs go and the database is vacuumed: the next part starts without their dead rows."""
    async with store.begin() as tx:
        await tx.connection.execute(sa.delete(jobs).where(jobs.c.status == "done"))
    await vacuum(store)


async def job_counts(store: Store) -> dict[str, int]:
    async with store.read() as tx:
        return {str(status): count for status, count in (await tx.jobs.counts()).items()}


async def vacuum(store: Store) -> None:
    """VACUUM ANALYZE the state database, so each run starts without the dead rows of the runs before it
    (PostgreSQL's CPU per job otherwise grows run after run, and later rounds would pay for earlier ones)."""
    async with store.engine.connect() as plain:
        connection = await plain.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE")


async def queue_live(store: Store) -> bool:
    """Whether a job is still pending or running: one probe of the live-jobs index, where counting every job
    of the table 20 times a second cost PostgreSQL more CPU than the workers' own claims (2 cores are shared)."""
    query = sa.select(jobs.c.id).where(jobs.c.status.in_(["pending", "running"])).limit(1)
    async with store.read() as tx:
        return (await tx.connection.execute(query)).first() is not None


async def done_by_kind(store: Store) -> Counter[str]:
    query = sa.select(jobs.c.kind, sa.func.count()).where(jobs.c.status == "done").group_by(jobs.c.kind)
    async with store.read() as tx:
        rows = (await tx.connection.execute(query)).all()
    found: Counter[str] = Counter()
    for kind, count in rows:
        found[str(kind).split(":", 1)[0]] += int(count)
    return found


async def delivered(sf: SalesforceUser, dv: DynamicsUser, title: str) -> tuple[int, int]:
    """Contacts holding `title` in Salesforce and in Dataverse."""
    in_sf = await sf.query(f"SELECT Id FROM Contact WHERE Title = '{title}'")
    in_dv = await dv.rows("contact", {"$select": "contactid", "$filter": f"jobtitle eq '{title}'"})
    return len(in_sf), len(in_dv)


async def one_run(
    count: int,
    config: Path,
    directory: Path,
    store: Store,
    hubspot: HubSpotUser,
    sf: SalesforceUser,
    dv: DynamicsUser,
    contacts: Sequence[str],
    warm: Sequence[str],
    idle: float,
    urls: dict[VendorName, str],
    emulators: Sequence[int],
) -> RunResult:
    await clear_finished(store)  # the reset: the previous run's finished jobs go
    left = {k: v for k, v in (await job_counts(store)).items() if v}
    if left:
        raise SystemExit(f"jobs left over from an earlier step: {left}")
    title = f"Workers {count} {secrets.token_hex(3)}"
    await hubspot.update_many("contact", {remote_id: {"jobtitle": title} for remote_id in contacts})
    logs = [directory / f"worker-{count}-{n}.log" for n in range(count)]
    before = [started_count(log) for log in logs]
    processes: list[asyncio.subprocess.Process] = []
    try:
        for log in logs:
            processes.append(await start_crmsync("worker", config, log, "--idle", str(idle)))
        await wait_started(processes, logs, before)
        if warm:
            await warm_up(store, hubspot, warm, title, processes, logs)
        await reset_api_stats(urls)
        meter = CpuMeter(store, [process.pid for process in processes], emulators)
        await meter.start()
        await queue_hints(store, contacts)
        started = time.perf_counter()
        await drain(store, processes, logs, f"{count} workers")
        seconds = time.perf_counter() - started
        cpu = await meter.stop()
        calls = await api_stats(urls)
    finally:
        codes = [await stop_process(process) for process in processes]
    if any(code not in (0, -signal.SIGTERM, None) for code in codes):
        print(f"  workers exited with {codes}")
    in_sf, in_dv = await delivered(sf, dv, title)
    dead = (await job_counts(store)).get("dead", 0)
    return RunResult(count, seconds, await done_by_kind(store), dead, in_sf, in_dv, cpu, calls)


async def run(args: argparse.Namespace) -> None:
    database = f"crmsync_bench_{secrets.token_hex(6)}"
    admin_url = make_url(args.admin_url)
    state_url = admin_url.set(database=database).render_as_string(hide_password=False)
    await admin(args.admin_url, f'CREATE DATABASE "{database}"')
    emulators: list[subprocess.Popen[bytes]] = []
    store: Store | None = None
    users: list[HubSpotUser | SalesforceUser | DynamicsUser] = []
    try:
        emulators, urls = spawn_emulators(0, args.seed, RAISED_LIMITS)
        await wait_emulators(emulators, urls)
        ep = endpoints(urls, RAISED_LIMITS if args.limits == "raised" else {})
        hubspot = HubSpotUser(ep.hubspot_url, ep.hubspot.private_app_token, sleep=asyncio.sleep)
        sf = SalesforceUser(
            ep.salesforce_url, ep.salesforce.client_id, ep.salesforce.client_secret, sleep=asyncio.sleep
        )
        dv = DynamicsUser(
            ep.dynamics_url,
            ep.dynamics.tenant_id,
            ep.dynamics.client_id,
            ep.dynamics.client_secret,
            sleep=asyncio.sleep,
        )
        users = [hubspot, sf, dv]
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-workers-") as scratch:
            directory = Path(scratch)
            config_path = write_config(directory, ep, state_url)
            config = load_config(config_path, environ={})
            store = await open_store(state_url)
            started = time.perf_counter()
            contacts = await create_contacts(hubspot, args.records, secrets.token_hex(3))
            warm = await create_contacts(hubspot, args.warmup * max(args.workers), secrets.token_hex(3))
            async with open_connectors(config) as connectors:
                first = await SyncRunner(config, store, connectors).run(RunOptions())
            print(
                f"setup: {len(contacts):,} HubSpot contacts, first sync {first.total('read'):,} read, "
                f"{first.total('created'):,} created in {time.perf_counter() - started:.1f}s "
                f"(state: PostgreSQL {admin_url.set(database=database).render_as_string(hide_password=True)})"
            )
            rules = [{"kind": "latency", "latency_ms": args.latency_ms}]
            for vendor in VENDOR_NAMES:
                control = ControlPlane(vendor, urls[vendor])
                try:
                    await control.set_faults(rules, seed=0)
                finally:
                    await control.aclose()
            results: list[RunResult] = []
            for round_ in range(args.repeat):
                for count in args.workers:
                    pids = [process.pid for process in emulators]
                    result = await one_run(
                        count,
                        config_path,
                        directory,
                        store,
                        hubspot,
                        sf,
                        dv,
                        contacts,
                        warm[: args.warmup * count],
                        args.idle,
                        urls,
                        pids,
                    )
                    results.append(result)
                    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(result.jobs.items()))
                    check = "ok" if result.in_salesforce == result.in_dynamics == len(contacts) else "INCOMPLETE"
                    label = f"round {round_ + 1}, " if args.repeat > 1 else ""
                    print(
                        f"{label}{count} worker(s): {result.done:,} jobs ({kinds}) in {result.seconds:.2f}s "
                        f"→ {result.done / result.seconds:,.1f} jobs/s, {len(contacts) / result.seconds:,.1f} "
                        f"records/s; dead {result.dead}; new titles in Salesforce {result.in_salesforce:,}, "
                        f"Dataverse {result.in_dynamics:,} of {len(contacts):,} ({check})"
                    )
                    print(f"  {cpu_line(result)}")
                    for name, calls in result.calls.items():
                        print(f"  API calls {name}: {calls}")
            # Rounds alternate the worker counts, so a load that other processes put on the machine for a while
            # weighs on every count alike; the median of each count's runs is compared.
            speed = {
                count: statistics.median(r.done / r.seconds for r in results if r.workers == count)
                for count in args.workers
            }
            base = args.workers[0]
            of = f" (median of {args.repeat} runs each)" if args.repeat > 1 else ""
            for count in args.workers[1:]:
                ratio = speed[count] / speed[base]
                verdict = "met" if ratio >= args.target else "NOT met"
                print(
                    f"{count} workers vs {base}: {speed[count]:,.1f} vs {speed[base]:,.1f} jobs/s{of}, {ratio:.2f}× "
                    f"(target ≥ {args.target:g}×: {verdict})"
                )
            print(
                f"machine: {os.cpu_count()} CPU cores, shared by the workers, PostgreSQL, the three emulators and this "
                f"process; {args.latency_ms} ms injected on every API call; crmsync at the {args.limits} limits"
            )
            if args.logs is not None:
                keep_logs(directory, args.logs)
    finally:
        for user in users:
            await user.aclose()
        if store is not None:
            await store.aclose()
        stop_emulators(emulators)
        await admin(args.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def keep_logs(directory: Path, target: Path) -> None:
    """Copy the workers' logs out of the scratch directory before it goes."""
    target.mkdir(parents=True, exist_ok=True)
    for log in directory.glob("worker-*.log"):
        shutil.copy(log, target / log.name)


def cpu_line(result: RunResult) -> str:
    """CPU seconds of each part over the timed run, per job, and the share of the machine's cores in use."""
    cpu = result.cpu
    workers = sum(v for k, v in cpu.items() if k.startswith("worker "))
    ours = workers + cpu["emulators"] + cpu["postgres"]
    each = ", ".join(f"{v:.1f}" for k, v in cpu.items() if k.startswith("worker "))
    cores = cpu["machine_capacity"] / result.seconds if result.seconds else 0.0
    return (
        f"CPU s: workers {workers:.1f} ({each}), emulators {cpu['emulators']:.1f}, PostgreSQL {cpu['postgres']:.1f}; "
        f"{ours / result.done * 1000:.2f} ms per job → {ours / result.seconds:.2f} of {cores:.0f} cores; "
        f"machine busy {cpu['machine'] / cpu['machine_capacity']:.0%} (every process); "
        f"~{cpu['transactions'] / result.done:.2f} database transactions per job"
        if cpu["machine_capacity"]
        else "CPU figures unavailable (no /proc)"
    )


def worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive worker counts, such as 1,4")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="hinted HubSpot contacts per run (default 10,000)")
    parser.add_argument(
        "--workers", type=worker_counts, default=[1, 4], help="worker counts to time, first is the base (default 1,4)"
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="latency injected on every API call (default 50)")
    parser.add_argument("--idle", type=float, default=0.1, help="the workers' --idle: seconds between empty looks")
    parser.add_argument("--target", type=float, default=2.5, help="the speed-up asked of the last worker count")
    parser.add_argument("--seed", type=int, default=1, help="the emulators' seed (they start empty)")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CRMSYNC_BENCH_POSTGRES_URL", ADMIN_URL),
        help="a PostgreSQL server's maintenance database; a fresh database is created there and dropped",
    )
    parser.add_argument(
        "--limits",
        choices=["raised", "documented"],
        default="raised",
        help="crmsync paces to the emulators' lifted limits, or to the vendors' documented ones",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the worker counts, alternated; medians are compared"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=500,
        help="hints per worker handled before the clock starts, so one-time costs are not timed (0: none)",
    )
    parser.add_argument("--logs", type=Path, help="keep the workers' JSON logs in this directory")
    args = parser.parse_args()
    if args.records < 1 or args.latency_ms < 0 or args.repeat < 1 or args.warmup < 0:
        parser.error("--records and --repeat must be positive, --latency-ms and --warmup not negative")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
