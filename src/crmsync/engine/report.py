"""What a sync run did (or, with --dry-run, would do): counts per object and connection, and the plan."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from crmsync.errors import AuthError, CredentialsRefusedError, QuotaExhaustedError, RetryableError
from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue

PLAN_CAP = 2_000
"""Writes a run's plan lists at most: a full sync of a large org would otherwise keep every write in memory."""


@quick_init
@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One write of the plan: a create, an update with its field diffs, or a delete."""

    connection: str
    kind: str
    operation: str  # create | update | delete | merge
    canonical_id: str
    remote_id: str | None
    changes: tuple[tuple[str, CanonicalValue, CanonicalValue], ...] = ()  # field, old, new


@dataclass
class RunReport:
    """Counters keyed by (kind, connection, what); `plan` lists the writes made (or planned, in a dry run), capped.

    `plan_counts` counts every write of the plan by (kind, connection, operation), listed or not: the cap
    bounds what is held, never the totals a person is told.
    """

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    plan: list[PlannedWrite] = field(default_factory=list)
    plan_counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # the notes a person must act on
    failures: list[str] = field(default_factory=list)
    causes: dict[str, str] = field(default_factory=dict)  # connection -> why it failed (see `fail`)
    given_up: set[str] = field(default_factory=set)  # connections left alone for the rest of the run (see `fail`)
    timings: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # seconds per stage
    _active: Counter[str] = field(default_factory=Counter, repr=False)
    _since: dict[str, float] = field(default_factory=dict, repr=False)
    plan_cap: int = field(default_factory=lambda: PLAN_CAP)

    def add(self, kind: str, connection: str, what: str, n: int = 1) -> None:
        if n:
            self.counts[(kind, connection, what)] += n

    def total(self, what: str, kind: str | None = None) -> int:
        return sum(n for (k, _, w), n in self.counts.items() if w == what and (kind is None or k == kind))

    @property
    def plan_full(self) -> bool:
        """The plan holds `plan_cap` writes already: more are not kept, so need not be described."""
        return len(self.plan) >= self.plan_cap

    def planned(self, write: PlannedWrite) -> None:
        self.plan_counts[(write.kind, write.connection, write.operation)] += 1
        if not self.plan_full:
            self.plan.append(write)

    def planned_beyond_cap(self, kind: str, connection: str, operation: str) -> None:
        """Count a write the full plan no longer lists (cheaper than describing it first)."""
        self.plan_counts[(kind, connection, operation)] += 1

    @property
    def plan_total(self) -> int:
        """Every write of the plan, listed or not."""
        return sum(self.plan_counts.values())

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Count the wall time during which at least one task is in `stage` (the benchmark's per-stage split).

        Tasks overlap (batches in flight, connections delivered at once): time is counted once per
        stage however many tasks are in it, so a stage never exceeds the run's wall time.
        """
        if self._active[stage] == 0:
            self._since[stage] = time.perf_counter()
        self._active[stage] += 1
        try:
            yield
        finally:
            self._active[stage] -= 1
            if self._active[stage] == 0:
                self.timings[stage] += time.perf_counter() - self._since[stage]

    def fail(self, kind: str, connection: str, stage: str, error: BaseException | str) -> None:
        """A connection that could not be read or written this run (the others went on).

        `causes` keeps why, by the error's class: `auth`, `quota`, `unavailable` or `error`.
        A connection unavailable (down, or throttling past its retries) is given up for the rest of the run:
        each later kind would spend the whole retry budget on it again (about 17 s of backoff a request) to
        learn the same. So is one whose credentials were refused, or every later kind would fail alike. Another
        refusal is not: it costs one request to learn, and may concern one object only (a HubSpot app without
        the deals scope answers 403 for deals alone).
        """
        self.failures.append(f"{stage} {kind} {connection}: {error}")
        self.add(kind, connection, f"{stage}_failed")
        if not isinstance(error, BaseException):  # a plain message leaves the cause unknown
            return
        cause = failure_cause(error)
        self.causes.setdefault(connection, cause)
        if connection in self.given_up:
            return
        if cause in GIVE_UP:
            self.given_up.add(connection)
            self.note(f"{connection} is {GIVE_UP[cause]}: left alone for the rest of this run", alert=True)
        elif isinstance(error, CredentialsRefusedError):  # refused for every object alike, unlike a missing scope
            self.given_up.add(connection)
            self.note(f"{connection} refused its credentials: left alone for the rest of this run", alert=True)

    def summary(self, whats: tuple[str, ...]) -> str:
        """`read 12, created 3, …` for these counters, then the failures (one line, for logs)."""
        text = ", ".join(f"{what} {self.total(what)}" for what in whats)
        if self.failures:
            text += "; failed: " + "; ".join(self.failures)
        return text

    @property
    def failed_connections(self) -> frozenset[str]:
        """Connections that could not be read or written in this run."""
        return frozenset(c for (_, c, what), n in self.counts.items() if n and what in ("read_failed", "write_failed"))

    def note(self, text: str, *, alert: bool = False) -> None:
        """A line for the run's end; `alert` for what a person must act on (a connection given up, deletes held),
        shown as such, unlike a note that only explains (a connection read in full, jobs queued again)."""
        self.notes.append(text)
        if alert:
            self.alerts.append(text)


GIVE_UP = {"unavailable": "unavailable (down or throttling)"}
"""Causes for which a run leaves a connection alone once met (see `RunReport.fail`), with how it says so."""


def failure_cause(error: BaseException) -> str:
    """What a person does about a failed connection, by the error's class."""
    if isinstance(error, AuthError):
        return "auth"  # fix the credentials or the integration user's permissions
    if isinstance(error, QuotaExhaustedError):
        return "quota"  # wait for the quota, or raise it
    if isinstance(error, RetryableError):
        return "unavailable"  # the CRM is down or throttling: it resolves itself
    return "error"


__all__ = ["PlannedWrite", "RunReport", "failure_cause"]
