"""Engine benchmark: a first full sync of companies and contacts across three emulators, then an incremental one.

The emulators run seeded in their own processes; the engine runs in this one, so its peak RSS is the
engine's. Prints the canonical records per second of the full sync (until every write is delivered),
the per-stage split (read, reconcile, store, write), the API calls against the minimum the page and
batch sizes allow, and the time of an incremental sync after `--changes` edits.

    .venv/bin/python benchmarks/engine_sync.py --records 65000          # ~100k contacts, ~20k companies in all

It also prints the emulators' CPU during the full sync (what the engine's process leaves of the machine), and
how many requests the connectors' rate limiters held back (whether a vendor's limit, not the engine, set the pace).
`--workers N` starts N `crmsync worker` processes on the same state beside the full sync (the scale-out
path; best with `--state-url postgresql://…`, as SQLite shares no rate windows between processes); the
wall time then runs until the queue is drained. The duplicates crmsync reports after the syncs are the seed's own
in-system duplicates; more than a run alone reports means a sync created some.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import sqlalchemy as sa

from bench_support import wait_ready
from crmsync.config import load_config
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.connections import open_connectors
from crmsync.engine.merges import DUPLICATE
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.heap import freeze_start_up_objects
from crmsync.store import Store, open_store
from crmsync.store.tables import jobs, links, records, sync_errors
from crmsync.testing.sandbox import HubSpotUser, SandboxEndpoints
from crmsync.testing.sandbox.config import render_config, secret_files
from crmsync.testing.sandbox.harness import make_users
from crmsync.testing.sandbox.names import merge_settings

KINDS = ("company", "contact")
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(process: subprocess.Popen[bytes]) -> float | None:
    """A child's user + system CPU so far, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulators_cpu(processes: list[subprocess.Popen[bytes]]) -> list[float | None]:
    return [cpu_seconds(process) for process in processes]


def show_emulators_cpu(before: list[float | None], after: list[float | None], wall: float) -> str:
    parts = [
        f"{vendor} {b - a:.1f}s" if a is not None and b is not None else f"{vendor} unknown"
        for vendor, a, b in zip(VENDOR_NAMES, before, after, strict=True)
    ]
    spent = sum(b - a for a, b in zip(before, after, strict=True) if a is not None and b is not None)
    cores = os.cpu_count() or 1
    return f"{', '.join(parts)}; {spent:.1f}s in all, with the engine's on {cores} cores over {wall:.1f}s of wall"


def spawn_workers(count: int, config_path: Path) -> list[subprocess.Popen[bytes]]:
    """`crmsync worker` processes on the same state: the scale-out path, delivering beside the sync."""
    command = [sys.executable, "-m", "crmsync", "worker", "--config", str(config_path), "--idle", "0.1"]
    return [subprocess.Popen([*command, "--json-logs"], stderr=subprocess.DEVNULL) for _ in range(count)]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.terminate()
    for process in workers:
        process.wait(timeout=60)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spawn_emulators(
    records: int, seed: int, settings: dict[VendorName, dict[str, int]]
) -> tuple[list[subprocess.Popen[bytes]], dict[VendorName, str]]:
    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[VendorName, str] = {}
    for vendor in VENDOR_NAMES:
        port = free_port()
        command = [sys.executable, str(HERE / "emulator_process.py"), vendor, "--port", str(port)]
        command += ["--seed", str(seed), "--records", str(records)]
        command += [f"--set={key}={value}" for key, value in settings.get(vendor, {}).items()]
        processes.append(subprocess.Popen(command))
        urls[vendor] = f"http://127.0.0.1:{port}"
    return processes, urls


async def start_emulators(
    records: int, seed: int, settings: dict[VendorName, dict[str, int]]
) -> tuple[list[subprocess.Popen[bytes]], dict[VendorName, str]]:
    processes, urls = spawn_emulators(records, seed, settings)
    for process, vendor in zip(processes, VENDOR_NAMES, strict=True):
        async with httpx.AsyncClient(base_url=urls[vendor], timeout=5) as client:
            await wait_ready(client, process)
    return processes, urls


def endpoints(urls: dict[VendorName, str], settings: dict[VendorName, dict[str, int]]) -> SandboxEndpoints:
    configs: dict[str, Any] = {}
    for vendor in VENDOR_NAMES:
        module = importlib.import_module(f"crmsync.emulators.{vendor}")
        configs[vendor] = module.CONFIG_CLASS.model_validate(merge_settings(vendor, settings.get(vendor, {})))
    return SandboxEndpoints(
        urls["salesforce"],
        urls["hubspot"],
        urls["dynamics"],
        configs["salesforce"],
        configs["hubspot"],
        configs["dynamics"],
    )


async def api_stats(urls: dict[VendorName, str]) -> dict[str, dict[str, int]]:
    """Requests each emulator served since the last reset, per operation (its own statistics)."""
    stats: dict[str, dict[str, int]] = {}
    for vendor, url in urls.items():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            body = (await client.get("/_emulator/stats")).json()
        stats[vendor] = {name: op["calls"] for name, op in body["operations"].items() if op["calls"]}
    return stats


async def api_calls(urls: dict[VendorName, str]) -> dict[str, str]:
    return {
        vendor: f"{sum(ops.values())} ({', '.join(f'{name} {n}' for name, n in ops.items())})"
        for vendor, ops in (await api_stats(urls)).items()
    }


def _call_class(vendor: str, operation: str) -> str:
    """read, write, link (HubSpot associations) or other (auth, describe), from an emulator's operation name."""
    if vendor == "salesforce":
        return "read" if operation.startswith("query") else "write" if operation.startswith("collections") else "other"
    if vendor == "hubspot":
        if operation.startswith("associations"):
            return "link"
        if operation.endswith((".list", ".search", ".batch.read")):
            return "read"
        return "write" if ".batch." in operation else "other"
    return "read" if operation.startswith("GET") else "write" if operation == "POST /$batch" else "other"


def minimum_calls(report: RunReport, connectors: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The fewest read and write calls the page and batch sizes allow for what the run read and wrote.

    Reads: one page per `page size` records of each object. Writes: one call per `batch size` creates and
    per `batch size` updates of each object: Salesforce collections and HubSpot batch endpoints take one
    operation per call, while a Dataverse `$batch` takes up to 1,000 requests of any kinds, so there creates
    and updates share calls. HubSpot association calls are counted apart (their minimum depends on how
    many links changed, which the report does not count).
    """
    out: dict[str, dict[str, int]] = {}
    for vendor in ("salesforce", "hubspot", "dynamics"):
        settings = connectors[vendor].settings
        if vendor == "salesforce":
            page, batch = int(settings.query_batch_size), int(settings.write_batch_size)
        else:
            page, batch = int(settings.page_size), int(settings.batch_size)
        groups = [("created", "updated")] if vendor == "dynamics" else [("created",), ("updated",)]
        out[vendor] = {
            "read": sum(math.ceil(report.counts.get((kind, vendor, "read"), 0) / page) for kind in KINDS),
            "write": sum(
                math.ceil(sum(report.counts.get((kind, vendor, what), 0) for what in group) / batch)
                for kind in KINDS
                for group in groups
            ),
        }
    return out


def show_minimum(report: RunReport, connectors: Mapping[str, Any], stats: dict[str, dict[str, int]]) -> None:
    minimum = minimum_calls(report, connectors)
    for vendor, ops in stats.items():
        made: dict[str, int] = {}
        for operation, calls in ops.items():
            kind = _call_class(vendor, operation)
            made[kind] = made.get(kind, 0) + calls
        parts = []
        for kind in ("read", "write"):
            least = minimum[vendor][kind]
            over = f" (+{(made.get(kind, 0) - least) / least:.0%})" if least else ""
            parts.append(f"{kind} {made.get(kind, 0)} vs minimum {least}{over}")
        parts += [f"{kind} {made[kind]}" for kind in ("link", "other") if made.get(kind)]
        print(f"  API calls {vendor} against the minimum: " + ", ".join(parts))


async def reset_stats(urls: dict[VendorName, str]) -> None:
    for url in urls.values():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            (await client.delete("/_emulator/stats")).raise_for_status()


async def canonical_counts(store: Store) -> dict[str, int]:
    query = sa.select(records.c.kind, sa.func.count()).group_by(records.c.kind)
    async with store.read() as tx:
        return {row[0]: int(row[1]) for row in await tx.connection.execute(query)}


DRAIN_TIMEOUT_S = 300.0


async def queue_drained(store: Store) -> None:
    """Until no job is pending or running: the workers' writes are part of the sync's time."""
    live = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status.in_(("pending", "running")))
    async with asyncio.timeout(DRAIN_TIMEOUT_S):
        while True:
            async with store.read() as tx:
                if not (await tx.connection.execute(live)).scalar_one():
                    return
            await asyncio.sleep(0.05)  # a benchmark polls another process's progress; tests await events


async def duplicates_reported(store: Store) -> dict[str, int]:
    """In-system duplicates each connection holds by crmsync's reports: the seed's, and any a sync created."""
    query = (
        sa.select(sync_errors.c.connection, sa.func.count())
        .where(sync_errors.c.code == DUPLICATE)
        .group_by(sync_errors.c.connection)
        .order_by(sync_errors.c.connection)
    )
    async with store.read() as tx:
        return {row[0]: int(row[1]) for row in await tx.connection.execute(query)}


async def edit_contacts(store: Store, ep: SandboxEndpoints, changes: int) -> None:
    """`changes` title edits, spread over the three CRMs, through each vendor's API (as people would)."""
    per_vendor = changes // 3
    users = make_users(ep, sleep=asyncio.sleep)
    title = {"salesforce": "Title", "hubspot": "jobtitle", "dynamics": "jobtitle"}
    for n, (vendor, user) in enumerate(users.items()):
        count = per_vendor + (changes - 3 * per_vendor if n == 0 else 0)
        query = sa.select(links.c.remote_id).where(links.c.connection == vendor, links.c.kind == "contact")
        async with store.read() as tx:
            ids = [row[0] for row in await tx.connection.execute(query.order_by(links.c.remote_id).limit(count))]
        if isinstance(user, HubSpotUser):  # one at a time would spend 333 of its 190 calls per 10 s: edit in bulk
            await user.update_many(
                "contact", {remote_id: {title[vendor]: f"Benchmark title {remote_id[-4:]}"} for remote_id in ids}
            )
            await user.aclose()
            continue
        limit = asyncio.Semaphore(16)

        async def edit(
            remote_id: str, user: Any = user, field: str = title[vendor], limit: asyncio.Semaphore = limit
        ) -> None:
            async with limit:
                await user.update("contact", remote_id, {field: f"Benchmark title {remote_id[-4:]}"})

        await asyncio.gather(*(edit(remote_id) for remote_id in ids))
        await user.aclose()


def limiter_waits(connectors: Mapping[str, Any]) -> dict[str, tuple[int, float]]:
    """Per connection: how many requests its rate limiters held back, and for how long in all."""
    waits: dict[str, tuple[int, float]] = {}
    for name, connector in connectors.items():
        states = [limiter.state() for limiter in getattr(connector, "limiters", ())]
        waits[name] = (sum(int(s["waits"] or 0) for s in states), sum(float(s["waited_s"] or 0) for s in states))
    return waits


def show_waits(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]) -> str:
    parts = []
    for name, (count, seconds) in after.items():
        was_count, was_seconds = before.get(name, (0, 0.0))
        parts.append(f"{name} {count - was_count} ({seconds - was_seconds:.1f}s)")
    return ", ".join(parts)


def show_stages(report: RunReport, wall: float) -> str:
    parts = [
        f"{stage} {report.timings.get(stage, 0.0):.1f}s" for stage in ("read", "reconcile", "store", "write", "scan")
    ]
    other = wall - sum(report.timings.values())
    return ", ".join(parts) + f", other {max(other, 0.0):.1f}s"


def writes(report: RunReport) -> int:
    return report.total("created") + report.total("updated") + report.total("deleted")


async def run(args: argparse.Namespace) -> None:
    settings: dict[VendorName, dict[str, int]] = {}
    if args.hubspot_ten_second_limit:
        settings["hubspot"] = {"ten_second_limit": args.hubspot_ten_second_limit}
    processes, urls = await start_emulators(args.records, args.seed, settings)
    try:
        ep = endpoints(urls, settings)
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as scratch:
            directory = Path(scratch)
            state_url = args.state_url or f"sqlite:///{directory / 'state.db'}"
            for relative, secret in secret_files(ep).items():
                (directory / relative).parent.mkdir(parents=True, exist_ok=True)
                (directory / relative).write_text(secret)
            (directory / "crmsync.yaml").write_text(render_config(ep, state_url))
            config = load_config(directory / "crmsync.yaml", environ={})
            store = await open_store(config.state_url)
            options = RunOptions(full=True, kinds=cast(Any, KINDS))
            async with open_connectors(config) as connectors:
                for vendor in ("hubspot",):
                    for obj in ("companies", "contacts"):
                        await connectors[vendor].ensure_external_id_property(obj)  # type: ignore[attr-defined]
                await reset_stats(urls)
                rss_before = peak_rss_mb()
                freeze_start_up_objects()  # as `crmsync sync` does before it starts
                workers = spawn_workers(args.workers, directory / "crmsync.yaml")
                emulators_before = emulators_cpu(processes)
                workers_before = emulators_cpu(workers)
                waits_before = limiter_waits(connectors)
                started, cpu_started, loop_started = time.perf_counter(), time.process_time(), time.thread_time()
                full = await SyncRunner(config, store, connectors).run(options)
                if workers:
                    await queue_drained(store)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                loop_cpu = time.thread_time() - loop_started
                emulators_after = emulators_cpu(processes)
                workers_cpu = sum(
                    (b or 0.0) - (a or 0.0) for a, b in zip(workers_before, emulators_cpu(workers), strict=True)
                )
                stop_workers(workers)
                canonical = await canonical_counts(store)
                stats = await api_stats(urls)
                calls = await api_calls(urls)
                total = sum(canonical.get(k, 0) for k in KINDS)
                read = full.total("read")
                print(f"first full sync: {read:,} remote records read, {total:,} canonical, {writes(full):,} writes")
                print(f"  wall {wall:.1f}s → {total / wall:,.0f} canonical records/s ({read / wall:,.0f} remote/s)")
                print(f"  stages: {show_stages(full, wall)}")
                print(f"  engine CPU {cpu:.1f}s ({cpu / max(total, 1) * 1000:.2f} ms per canonical record)")
                print(
                    f"  of which the event loop's thread {loop_cpu:.1f}s (busy {loop_cpu / wall:.0%} of the wall), "
                    f"other threads (the database driver's) {cpu - loop_cpu:.1f}s"
                )
                print(f"  emulators' CPU: {show_emulators_cpu(emulators_before, emulators_after, wall)}")
                print(f"  requests held by the rate limiters: {show_waits(waits_before, limiter_waits(connectors))}")
                if workers:
                    print(
                        f"  {len(workers)} `crmsync worker` processes beside the sync: {workers_cpu:.1f}s of CPU "
                        "(wall until the queue drained; writes and calls above count the sync process's only)"
                    )
                for vendor, line in calls.items():
                    print(f"  API calls {vendor}: {line}")
                show_minimum(full, connectors, stats)
                print(f"  peak RSS of the engine process: {peak_rss_mb():.0f} MB (before the sync {rss_before:.0f} MB)")

                started = time.perf_counter()
                echo = await SyncRunner(config, store, connectors).run(RunOptions(kinds=cast(Any, KINDS)))
                echo_wall = time.perf_counter() - started
                print(f"echo sync: {echo.total('read'):,} read, {writes(echo)} writes in {echo_wall:.1f}s")
                duplicates = ", ".join(f"{c} {n:,}" for c, n in (await duplicates_reported(store)).items())
                print(f"  duplicates reported after both (the seed's own, and any created): {duplicates or 'none'}")

                await edit_contacts(store, ep, args.changes)
                await reset_stats(urls)
                waits_before = limiter_waits(connectors)
                started = time.perf_counter()
                incremental = await SyncRunner(config, store, connectors).run(RunOptions(kinds=cast(Any, KINDS)))
                inc_wall = time.perf_counter() - started
                print(
                    f"incremental sync after {args.changes} edits: {incremental.total('read'):,} read, "
                    f"{writes(incremental):,} writes in {inc_wall:.2f}s ({show_stages(incremental, inc_wall)})"
                )
                print(f"  requests held by the rate limiters: {show_waits(waits_before, limiter_waits(connectors))}")
                for vendor, line in (await api_calls(urls)).items():
                    print(f"  API calls {vendor}: {line}")
            await store.aclose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=65_000, help="seed records per emulator")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changes", type=int, default=1000, help="edits before the incremental sync")
    parser.add_argument(
        "--hubspot-ten-second-limit",
        type=int,
        default=0,
        help="raise HubSpot's burst limit (documented: 190 per 10 s) to measure the engine rather than the vendor",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="`crmsync worker` processes delivering beside the full sync"
    )
    parser.add_argument("--state-url", default=os.environ.get("CRMSYNC_BENCH_STATE_URL"), help="default: SQLite")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
