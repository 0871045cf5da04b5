"""The scheduler's timing: polls on their interval, every `sweep_interval_s` a poll that reads everything, and
every `link_scan_interval_s` a poll that scans links."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from crmsync.connectors.http import probed
from crmsync.engine.report import RunReport
from crmsync.engine.runlock import RunInProgressError
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.service import scheduler as scheduler_module
from crmsync.service.breaker import ConnectionBreaker
from crmsync.service.metrics import ServiceMetrics
from crmsync.service.scheduler import Scheduler
from crmsync.store import Store, open_store

BOUND_S = 10.0  # only a broken scheduler waits this long


async def run_until(scheduler: Scheduler, event: asyncio.Event) -> None:
    """Run the scheduler until `event` is set, then stop it gracefully (both bounded by BOUND_S)."""
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(event.wait(), BOUND_S)
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, BOUND_S)


class _Runner:
    """Records each run's options; `swept` is set once a full run came, `scanned_twice` once two scanned links."""

    def __init__(self) -> None:
        self.runs: list[RunOptions] = []
        self.swept = asyncio.Event()
        self.fifth = asyncio.Event()
        self.scanned_twice = asyncio.Event()

    async def run(self, options: RunOptions | None = None) -> RunReport:
        assert options is not None
        self.runs.append(options)
        if options.full:
            self.swept.set()
        if len(self.runs) >= 5:
            self.fifth.set()
        if sum(o.scan_links for o in self.runs) >= 2:
            self.scanned_twice.set()
        await asyncio.sleep(0)
        return RunReport()


async def test_polls_come_on_their_interval_and_a_sweep_reads_everything_now_and_then() -> None:
    runner = _Runner()
    scheduler = Scheduler(cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=0.01, sweep_interval_s=0.05)
    await run_until(scheduler, runner.swept)
    first = runner.runs[0]
    assert first.read and not first.full  # the startup pass is an incremental poll
    sweeps = [options for options in runner.runs if options.full]
    assert sweeps and all(options.read and not options.shared for options in sweeps)
    assert len(runner.runs) > len(sweeps)  # polls between the sweeps


async def test_no_sweep_when_its_interval_is_zero() -> None:
    runner = _Runner()
    scheduler = Scheduler(cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=0.01, sweep_interval_s=0)
    await run_until(scheduler, runner.fifth)
    assert not any(options.full for options in runner.runs)


def ticking(step: float = 0.001) -> Callable[[], float]:
    """A monotonic clock that moves `step` at every reading: intervals count the scheduler's own steps, so a loaded
    machine (a poll slower than the scan interval in real time) does not turn every poll into a scan."""
    ticks = itertools.count()
    return lambda: next(ticks) * step


async def test_a_poll_scans_links_now_and_then_starting_with_the_first() -> None:
    runner = _Runner()
    scheduler = Scheduler(
        cast(SyncRunner, runner),
        ServiceMetrics(),
        poll_interval_s=0.01,
        sweep_interval_s=0,
        link_scan_interval_s=0.05,
        monotonic=ticking(),
    )
    await run_until(scheduler, runner.scanned_twice)
    assert runner.runs[0].scan_links  # the startup poll
    assert any(not options.scan_links for options in runner.runs)  # polls between the scans read cursors only
    assert all(options.read and not options.full for options in runner.runs)


async def test_no_poll_scans_links_when_its_interval_is_zero() -> None:
    runner = _Runner()
    scheduler = Scheduler(cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=0.01, link_scan_interval_s=0)
    await run_until(scheduler, runner.fifth)
    assert not any(options.scan_links for options in runner.runs)


class _BusyOnceRunner(_Runner):
    """The first run finds another process holding the run lease."""

    async def run(self, options: RunOptions | None = None) -> RunReport:
        report = await super().run(options)
        if len(self.runs) == 1:
            raise RunInProgressError("a crmsync sync holds the run lease")
        return report


async def test_a_scan_owed_by_a_poll_that_could_not_run_is_made_by_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "BUSY_RETRY_S", 0.01)
    runner = _BusyOnceRunner()
    scheduler = Scheduler(cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=0.01, link_scan_interval_s=3600)
    await run_until(scheduler, runner.scanned_twice)
    assert [options.scan_links for options in runner.runs[:2]] == [True, True]


class _BusyForAWhileRunner(_Runner):
    """The first `busy` runs find a `crmsync sync` holding the run lease; `freed` is set at the first run after."""

    def __init__(self, busy: int) -> None:
        super().__init__()
        self.busy = busy
        self.freed = asyncio.Event()

    async def run(self, options: RunOptions | None = None) -> RunReport:
        report = await super().run(options)
        if len(self.runs) <= self.busy:
            raise RunInProgressError("a crmsync sync holds the run lease (pid 7 on ops-1)")
        self.freed.set()
        return report


async def test_passes_waiting_for_the_run_lease_say_so_once_and_say_when_they_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler_module, "BUSY_RETRY_S", 0.001)
    runner = _BusyForAWhileRunner(busy=6)
    metrics = ServiceMetrics()
    scheduler = Scheduler(cast(SyncRunner, runner), metrics, poll_interval_s=0.01)
    with capture_logs() as logs:
        await run_until(scheduler, runner.freed)
    waits = [e for e in logs if e["event"] == "sync passes wait for the run lease"]
    assert len(waits) == 1 and waits[0]["log_level"] == "warning"
    assert "pid 7 on ops-1" in waits[0]["message"]
    assert not [e for e in logs if e["event"] == "sync pass did not complete" and e["log_level"] != "debug"]
    resumed = [e for e in logs if e["event"] == "sync passes resumed: the run lease is free"]
    assert len(resumed) == 1 and resumed[0]["passes_refused"] == 6
    assert metrics.passes.labels("poll", "busy")._value.get() == 6  # the metric still counts every refusal


class _ProbeRunner:
    """Fails salesforce on the first pass; records which connections each later pass probed."""

    def __init__(self) -> None:
        self.probed: list[frozenset[str]] = []
        self.third = asyncio.Event()

    async def run(self, options: RunOptions | None = None) -> RunReport:
        self.probed.append(probed())
        report = RunReport()
        if len(self.probed) == 1:
            report.counts[("contact", "salesforce", "read_failed")] += 1
        if len(self.probed) >= 3:
            self.third.set()
        await asyncio.sleep(0)
        return report


async def test_the_first_pass_after_a_pause_probes_the_paused_connection() -> None:
    runner = _ProbeRunner()
    breaker = ConnectionBreaker(first_s=0.01)
    scheduler = Scheduler(
        cast(SyncRunner, runner),
        ServiceMetrics(),
        poll_interval_s=0.01,
        breaker=breaker,
        connections={"salesforce", "hubspot"},
    )
    await run_until(scheduler, runner.third)
    assert runner.probed[0] == frozenset()
    assert runner.probed[1] == {"salesforce"}  # after its pause: calls to it give up soon if it is still down
    assert runner.probed[2] == frozenset()  # it answered


class _Queue:
    """A queue's mark, moved by the test; `looked` is set once the scheduler has looked `enough` times."""

    def __init__(self, enough: int) -> None:
        self.value = (0, 0)
        self.looks = 0
        self.enough = enough
        self.looked = asyncio.Event()

    async def mark(self) -> object:
        self.looks += 1
        if self.looks >= self.enough:
            self.looked.set()
        return self.value


async def test_work_queued_without_a_hint_gets_a_pass_and_work_no_pass_can_do_gets_none() -> None:
    runner, queue = _Runner(), _Queue(enough=12)
    scheduler = Scheduler(
        cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=3600, queue_mark=queue.mark, queue_probe_s=0.001
    )
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(queue.looked.wait(), BOUND_S)
        assert len(runner.runs) == 1  # the startup poll; the mark stood still since it began: no pass
        queue.value = (1, 7)  # `crmsync conflicts resolve` queued a write
        queue.enough = queue.looks + 12
        queue.looked.clear()
        await asyncio.wait_for(queue.looked.wait(), BOUND_S)
        assert len(runner.runs) == 2 and not runner.runs[1].read  # one hints pass, and no more after it
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, BOUND_S)


class _NotingRunner(_Runner):
    """A runner whose runs read a connection in full for a field mapped since (`newly_mapped`)."""

    async def run(self, options: RunOptions | None = None) -> RunReport:
        await super().run(options)
        report = RunReport()
        report.note("hubspot contact: fields newly mapped (favourite_colour): read in full")
        report.note("hubspot refused its credentials: left alone for the rest of this run", alert=True)
        return report


async def test_the_notes_of_a_pass_are_logged() -> None:
    runner = _NotingRunner()
    scheduler = Scheduler(cast(SyncRunner, runner), ServiceMetrics(), poll_interval_s=0.01, sweep_interval_s=0)
    with capture_logs() as logs:
        await run_until(scheduler, runner.fifth)
    notes = [entry for entry in logs if entry["event"] == "sync pass note"]
    assert notes and notes[0]["note"] == "hubspot contact: fields newly mapped (favourite_colour): read in full"
    assert notes[0]["trigger"] == "poll" and notes[0]["log_level"] == "info"
    alerts = [entry for entry in logs if entry["event"] == "sync pass alert"]  # a person must act: a warning
    assert alerts and alerts[0]["log_level"] == "warning" and "refused its credentials" in alerts[0]["note"]


class _WalRunner:
    """Each pass commits about a megabyte to the state database, as a pass of a busy service does."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def run(self, options: RunOptions | None = None) -> RunReport:
        async with self.store.begin() as tx:
            for n in range(128):
                await tx.cursors.put("pass", str(n), os.urandom(4_096).hex())
        return RunReport()


class _Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_passes_keep_the_sqlite_wal_truncated_at_the_checkpoint_interval(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'state.db'}")
    wal = tmp_path / "state.db-wal"
    clock = _Monotonic()
    scheduler = Scheduler(
        cast(SyncRunner, _WalRunner(store)),
        ServiceMetrics(),
        poll_interval_s=3600,
        monotonic=clock,
        checkpoint=store.checkpoint,
        checkpoint_interval_s=60,
    )
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(scheduler.settled_passes(1), BOUND_S)  # the startup poll, then a checkpoint
        assert wal.stat().st_size == 0
        scheduler.hints_queued(1)
        await asyncio.wait_for(scheduler.settled_passes(2), BOUND_S)
        assert wal.stat().st_size > 1_000_000  # within the interval: no checkpoint after every pass
        clock.now += 60
        scheduler.hints_queued(1)
        await asyncio.wait_for(scheduler.settled_passes(3), BOUND_S)
        assert wal.stat().st_size == 0
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, BOUND_S)
        await store.aclose()


async def test_a_failing_checkpoint_is_logged_and_passes_go_on() -> None:
    async def broken() -> None:
        raise OSError("disk I/O error")

    scheduler = Scheduler(
        cast(SyncRunner, _Runner()), ServiceMetrics(), poll_interval_s=3600, checkpoint=broken, checkpoint_interval_s=0
    )
    task = asyncio.create_task(scheduler.run())
    try:
        with capture_logs() as logs:
            await asyncio.wait_for(scheduler.settled_passes(1), BOUND_S)
            scheduler.hints_queued(1)
            await asyncio.wait_for(scheduler.settled_passes(2), BOUND_S)
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, BOUND_S)
    assert scheduler.last is not None and scheduler.last.ok
    warnings = [e for e in logs if e["event"] == "could not checkpoint the state database"]
    assert [w["error"] for w in warnings] == ["OSError: disk I/O error"] * 2
