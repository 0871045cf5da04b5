"""When the service syncs: a pass right after webhook hints arrive, and an incremental poll on a fixed interval.

A pass is one engine run: `read=False` passes handle only queued hints and writes (they answer webhooks
in well under a second); poll passes also read every connection from its cursor, the net under missed
webhooks. Hints that arrive during a pass wake the next one, so a burst coalesces into few passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from crmsync.connectors.http import probing
from crmsync.engine.report import RunReport
from crmsync.engine.runlock import RunInProgressError
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.errors import CrmSyncError
from crmsync.service.breaker import ConnectionBreaker
from crmsync.service.metrics import ServiceMetrics

Trigger = Literal["poll", "sweep", "hints"]
BUSY_RETRY_S = 2.0
"""How soon to try again while another process (a `crmsync sync`) holds the run lease."""
FAILED_RETRY_S = 5.0
QUEUE_PROBE_S = 2.0
"""How often an idle service looks for work queued without a hint (`crmsync conflicts resolve`, `errors retry`,
a write whose retry came due), as a `crmsync worker` does; without it such work waited for the next poll."""
CHECKPOINT_INTERVAL_S = 10.0
"""How often, at most, the service checkpoints its SQLite state database between passes (`Store.checkpoint`).
Under the latency benchmark's 20 edits/s the WAL grows about 3 MB/s: every 60 s let it reach the 64 MB of
`wal_autocheckpoint` again between checkpoints; every 10 s it stayed between 3 and 17 MB, at the same latency."""
_SUMMARY = ("read", "created", "updated", "deleted", "conflicts")  # what a pass's log line counts

log = structlog.get_logger("crmsync.service.scheduler")


@dataclass(frozen=True, slots=True)
class PassSummary:
    """The last pass, for /readyz and the logs."""

    trigger: Trigger
    started: datetime
    seconds: float
    ok: bool
    message: str


AfterPass = Callable[[RunReport | None, PassSummary], Awaitable[None]]
"""Called after every pass with its report (None when the pass raised) and summary: the alerts' hook."""
QueueMark = Callable[[], Awaitable[object]]
"""A cheap look at the queue that changes when work is queued or comes due (`JobQueue.due_mark`)."""
Checkpoint = Callable[[], Awaitable[object]]
"""Between passes: check SQLite's WAL back into the database and truncate it (`Store.checkpoint`)."""


class Scheduler:
    """Runs sync passes one at a time, woken by hints and by the poll interval."""

    def __init__(
        self,
        runner: SyncRunner,
        metrics: ServiceMetrics,
        *,
        poll_interval_s: float,
        sweep_interval_s: float = 0.0,
        link_scan_interval_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        after_pass: AfterPass | None = None,
        breaker: ConnectionBreaker | None = None,
        connections: Collection[str] = (),
        queue_mark: QueueMark | None = None,
        queue_probe_s: float = QUEUE_PROBE_S,
        checkpoint: Checkpoint | None = None,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self.runner = runner
        self.metrics = metrics
        self.poll_interval_s = poll_interval_s
        self.sweep_interval_s = sweep_interval_s  # 0: never
        self.link_scan_interval_s = link_scan_interval_s  # 0: never (see RunOptions.scan_links)
        self._monotonic = monotonic
        self._after_pass = after_pass
        self.breaker = breaker or ConnectionBreaker(monotonic=monotonic)
        self.connections = frozenset(connections)  # every configured connection (what a pass tries but the paused)
        self._queue_mark = queue_mark  # None: no probe, passes come from hints and polls only
        self.queue_probe_s = queue_probe_s
        self._mark_at_pass: object = None  # the queue's mark when the last pass began
        self._wake = asyncio.Event()
        self._arrivals: list[float] = []  # monotonic times of hints not yet covered by a finished pass
        self._stopping = False
        self._hinted = False  # hints arrived since the last hints pass started
        self._checkpoint = checkpoint  # None: the database needs none (PostgreSQL)
        self.checkpoint_interval_s = checkpoint_interval_s
        self._checkpoint_due = monotonic()  # the first pass is followed by one
        self.last: PassSummary | None = None
        self.last_ok: PassSummary | None = None
        self.passes = 0
        self.settled = 0  # passes finished with their after-pass hook and checkpoint (`settled_passes`)
        self._waiting: _Wait | None = None  # passes found the run lease held since then (one line, not one a pass)
        self._settled = asyncio.Condition()

    def hints_queued(self, count: int) -> None:
        """The receiver committed `count` hints: run a pass soon."""
        now = self._monotonic()
        self._arrivals.extend([now] * count)
        self._hinted = True
        self._wake.set()

    async def settled_passes(self, count: int) -> int:
        """Wait until `count` passes have finished, their after-pass hook and checkpoint included; the number so far.

        What changes a pass makes (writes delivered, alerts sent, connections paused) are in place when it
        returns, so a caller waiting for the service's progress awaits this instead of polling on a timer.
        The caller bounds the wait (`asyncio.wait_for`): an idle service runs no pass.
        """
        async with self._settled:
            await self._settled.wait_for(lambda: self.settled >= count)
            return self.settled

    def stop(self) -> None:
        """Finish the pass under way (if any), then return from `run` (graceful shutdown)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Passes until stopped or cancelled; the first pass is a poll.

        A poll runs in the background: hints that arrive meanwhile get their own passes beside it
        (shared passes, as `crmsync worker` runs them), so a long poll never holds live changes back.
        """
        next_poll = self._monotonic()
        next_sweep = next_poll + self.sweep_interval_s if self.sweep_interval_s > 0 else float("inf")
        # Webhooks tell of moved links as they happen; a poll scans for one missed now and then (HubSpot's
        # associations: the CRM's stamps miss them), the first one included.
        next_scan = next_poll if self.link_scan_interval_s > 0 else float("inf")
        retry_at = float("inf")  # a hints pass after a failure, or when a paused connection may be tried again
        next_probe = next_poll + self.queue_probe_s if self._queue_mark is not None else float("inf")
        poll: asyncio.Task[float | None] | None = None
        scanning = False  # the poll under way scans links
        try:
            while not self._stopping:
                deadline = min(retry_at, next_poll if poll is None else float("inf"), next_probe)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - self._monotonic()))
                if self._stopping:
                    return  # type: ignore[unreachable]  # stop() may have run while this task waited
                self._wake.clear()
                now = self._monotonic()
                if poll is not None and poll.done():
                    poll_retry = poll.result()
                    poll = None
                    # A poll that could not run (busy, failed) is tried again soon; otherwise at the interval.
                    next_poll = now + (poll_retry if poll_retry is not None else self.poll_interval_s)
                    if poll_retry is not None and scanning:
                        next_scan = now  # its scan is still owed: the poll tried again scans
                    retry_at = min(retry_at, self.breaker.next_resume())
                if poll is None and now >= next_poll:
                    # Now and then the poll is a sweep: everything read again, the net under lost cursors and hints.
                    sweep = now >= next_sweep
                    if sweep:
                        next_sweep = now + self.sweep_interval_s
                    scanning = not sweep and now >= next_scan
                    if scanning or sweep:  # a sweep reads every record with its links
                        next_scan = now + self.link_scan_interval_s
                    trigger: Trigger = "sweep" if sweep else "poll"
                    poll = asyncio.create_task(self._pass(trigger, scan=scanning), name="crmsync-poll")
                    poll.add_done_callback(lambda _: self._wake.set())
                    continue
                if now >= next_probe:
                    next_probe = now + self.queue_probe_s
                    # Not beside a poll: it delivers what is queued itself, and its own writes move the mark.
                    if poll is None and await self._queued_since_last_pass():
                        self._hinted = True
                if self._hinted or now >= retry_at:
                    self._hinted = False
                    retry_in = await self._pass("hints", shared=poll is not None)
                    now = self._monotonic()
                    retry_at = min(now + retry_in if retry_in is not None else float("inf"), self.breaker.next_resume())
        finally:
            if poll is not None:
                await poll  # a graceful stop lets the poll finish its page (the caller bounds how long)

    async def _queued_since_last_pass(self) -> bool:
        """Whether the queue's mark moved since the last pass began."""
        mark = await self._look_at_queue()
        return mark is not None and mark != self._mark_at_pass

    async def _look_at_queue(self) -> object:
        """The queue's mark; None when it could not be had (the state database busy or gone: passes say so)."""
        assert self._queue_mark is not None
        try:
            return await self._queue_mark()
        except Exception as exc:
            log.warning("could not look at the queue", error=f"{type(exc).__name__}: {exc}")
            return None

    async def _pass(self, trigger: Trigger, *, shared: bool = False, scan: bool = False) -> float | None:
        """Run one pass, then the `after_pass` hook; the delay before trying again when it failed, else None."""
        try:
            report, retry_in = await self._sync(trigger, shared, scan)
            if self._after_pass is not None and self.last is not None:
                try:
                    await self._after_pass(report, self.last)
                except Exception:  # a hook's failure must not stop the passes
                    log.exception("the after-pass hook failed", trigger=trigger)
            await self._maybe_checkpoint()
            return retry_in
        finally:
            async with self._settled:
                self.settled += 1
                self._settled.notify_all()

    async def _maybe_checkpoint(self) -> None:
        """Checkpoint the state database when `checkpoint_interval_s` has passed since the last time."""
        if self._checkpoint is None or self._monotonic() < self._checkpoint_due:
            return
        self._checkpoint_due = self._monotonic() + self.checkpoint_interval_s
        try:
            result = await self._checkpoint()
        except Exception as exc:  # the next one tries again; a pass must not fail for it
            log.warning("could not checkpoint the state database", error=f"{type(exc).__name__}: {exc}")
            return
        log.debug("state database checkpointed", result=str(result))

    async def _sync(self, trigger: Trigger, shared: bool, scan: bool) -> tuple[RunReport | None, float | None]:
        """Run one engine run; its report (None when it raised) and the delay before trying again, if any."""
        covered = len(self._arrivals) if trigger == "hints" else 0  # a poll's end says nothing of the hints' lag
        started_at, started = datetime.now(UTC), self._monotonic()
        if self._queue_mark is not None:
            self._mark_at_pass = await self._look_at_queue()
        try:
            paused = self.breaker.paused()
            options = RunOptions(
                read=trigger != "hints", full=trigger == "sweep", paused=paused, shared=shared, scan_links=scan
            )
            with probing(self.breaker.probing()):
                report = await self.runner.run(options)
        except RunInProgressError as exc:
            self._finish(trigger, started_at, started, False, "busy", str(exc))
            return None, BUSY_RETRY_S
        except CrmSyncError as exc:
            self._finish(trigger, started_at, started, False, "failed", str(exc))
            return None, FAILED_RETRY_S
        except Exception as exc:  # a bug must not stop the service: it is logged, counted and retried
            log.exception("sync pass crashed", trigger=trigger)
            self._finish(trigger, started_at, started, False, "failed", f"{type(exc).__name__}: {exc}")
            return None, FAILED_RETRY_S
        for note in report.notes:  # why a pass took long (a connection read in full), what it left alone
            if note in report.alerts:
                log.warning("sync pass alert", trigger=trigger, note=note)
            else:
                log.info("sync pass note", trigger=trigger, note=note)
        self.breaker.record(self.connections - paused, report.failed_connections)
        self.metrics.count_report(report)
        ended = self._monotonic()
        for arrived in self._arrivals[:covered]:
            self.metrics.lag.observe(ended - arrived)
        del self._arrivals[:covered]
        ok = not report.failures
        self._finish(trigger, started_at, started, ok, "ok" if ok else "failed", report.summary(_SUMMARY))
        return report, (None if ok else FAILED_RETRY_S)

    def _finish(
        self, trigger: Trigger, started_at: datetime, started: float, ok: bool, result: str, message: str
    ) -> None:
        seconds = self._monotonic() - started
        self.passes += 1
        self.metrics.passes.labels(trigger, result).inc()
        self.metrics.pass_seconds.labels(trigger).observe(seconds)
        summary = PassSummary(trigger, started_at, seconds, ok, message)
        self.last = summary
        if result == "busy":
            self._wait_for_lease(trigger, message)
            return
        if self._waiting is not None:
            waited = self._waiting
            self._waiting = None
            log.info(
                "sync passes resumed: the run lease is free",
                waited_s=round(self._monotonic() - waited.since, 1),
                passes_refused=waited.refused,
            )
        if ok:
            self.last_ok = summary
            self.metrics.last_success.set(started_at.timestamp() + seconds)
            log.info("sync pass", trigger=trigger, seconds=round(seconds, 3), summary=message)
        else:
            log.warning("sync pass did not complete", trigger=trigger, result=result, message=message)

    def _wait_for_lease(self, trigger: Trigger, message: str) -> None:
        """A pass found another process holding the run lease: said once, not every `BUSY_RETRY_S`.

        A `crmsync sync` beside the service can hold it for many minutes; a warning every two seconds buried
        the log. The metric still counts each refused pass, and the end of the wait is logged.
        """
        if self._waiting is not None:
            self._waiting.refused += 1
            log.debug("sync pass did not complete", trigger=trigger, result="busy", message=message)
            return
        self._waiting = _Wait(self._monotonic())
        log.warning(
            "sync passes wait for the run lease",
            trigger=trigger,
            message=message,
            retry_every_s=BUSY_RETRY_S,
        )


@dataclass(slots=True)
class _Wait:
    """Passes refused for the run lease since `since` (monotonic), the first included."""

    since: float
    refused: int = 1


__all__ = [
    "CHECKPOINT_INTERVAL_S",
    "QUEUE_PROBE_S",
    "AfterPass",
    "Checkpoint",
    "PassSummary",
    "QueueMark",
    "Scheduler",
    "Trigger",
]
