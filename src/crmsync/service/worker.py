"""A worker: claims queued hints and writes beside other workers and reconciles and delivers them, pass after pass.

Any number of workers (`crmsync worker`, on this machine or others) share one state database: on
PostgreSQL, claims use `FOR UPDATE SKIP LOCKED`, one record's jobs never run at once (the per-key
running index), and a worker's claims stay leased while it works. Polls and delete decisions stay with
`crmsync serve` (the run lease holder).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.errors import CrmSyncError
from crmsync.service.breaker import ConnectionBreaker
from crmsync.service.metrics import ServiceMetrics

IDLE_S = 0.5
"""How often an idle worker looks at the queue again."""
FAILED_RETRY_S = 5.0
_ACTIVITY = ("read", "created", "updated", "deleted", "failed", "retrying")

log = structlog.get_logger("crmsync.service.worker")


class Worker:
    """Runs shared passes until stopped; sleeps `idle_s` between passes that found nothing to do."""

    def __init__(
        self,
        runner: SyncRunner,
        metrics: ServiceMetrics,
        *,
        idle_s: float = IDLE_S,
        breaker: ConnectionBreaker | None = None,
    ) -> None:
        self.runner = runner
        self.metrics = metrics
        self.idle_s = idle_s
        self.breaker = breaker or ConnectionBreaker()
        self._wake = asyncio.Event()
        self._stopping = False
        self.passes = 0
        self.handled = 0  # records read or written by this worker

    def stop(self) -> None:
        """Finish the pass under way, then return from `run` (SIGTERM)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            busy, retry_in = await self._pass()
            if busy or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), retry_in or self.idle_s)
            self._wake.clear()

    async def _pass(self) -> tuple[bool, float | None]:
        """Whether the pass found work, and how long to wait before the next after a failure."""
        paused = self.breaker.paused()
        started = time.perf_counter()
        try:
            report = await self.runner.run(RunOptions(read=False, shared=True, paused=paused))
        except CrmSyncError as exc:
            self.metrics.passes.labels("worker", "failed").inc()
            log.warning("worker pass failed", error=str(exc))
            return False, FAILED_RETRY_S
        self.passes += 1
        self.breaker.record(set(self.runner.config.connections) - paused, report.failed_connections)
        self.metrics.count_report(report)
        handled = sum(report.total(what) for what in _ACTIVITY)
        self.handled += handled
        ok = not report.failures
        self.metrics.passes.labels("worker", "ok" if ok else "failed").inc()
        if handled or not ok:
            # Seconds per stage tell an operator whether a pass waited on the CRMs, the database or itself.
            stages = {stage: round(seconds, 3) for stage, seconds in sorted(report.timings.items())}
            stages["pass"] = round(time.perf_counter() - started, 3)
            log.info("worker pass", summary=report.summary(_ACTIVITY), handled=handled, seconds=stages)
        return handled > 0, None if ok else FAILED_RETRY_S


__all__ = ["IDLE_S", "Worker"]
