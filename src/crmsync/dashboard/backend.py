"""What the dashboard's pages and API do, in one place: read the operator views, apply resolutions and retries.

Both front ends call this; after a resolution or a retry queues writes, the scheduler is woken so the change
reaches every CRM within a pass instead of waiting for the next poll.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

import structlog

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.dashboard.links import record_url
from crmsync.engine.health import KindHealth, VolumeBucket, kind_health, sync_volume, totals
from crmsync.engine.resolution import ResolutionOutcome, resolve
from crmsync.engine.resolution_checks import AskedFields, refuse_a_required_blank
from crmsync.engine.retrying import RetryOutcome, retry
from crmsync.engine.search import RecordHit, search_records
from crmsync.engine.views.common import OperatorError
from crmsync.engine.views.conflicts import ConflictDetail, ConflictView, conflict_detail, list_conflicts
from crmsync.engine.views.errors import DeadJobView, DuplicateGroup, SyncErrorView, list_errors
from crmsync.engine.views.explain import RecordExplanation, explain_record
from crmsync.engine.views.status import PendingWork, blocked_waits, job_queues, pending_work
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import Link, Store

if TYPE_CHECKING:  # the service imports the dashboard, so the dashboard names its types only for the checker
    from crmsync.service.scheduler import PassSummary, Scheduler

log = structlog.get_logger("crmsync.dashboard")

HISTORY_LIMIT = 20  # audit entries per field on a record's page
DESCRIBE_TIMEOUT_S = 10.0  # a CRM asked whether a field is required, while the operator waits for the page


class Live(Protocol):
    """What a running service lends the dashboard (`SyncService.running`)."""

    @property
    def store(self) -> Store: ...
    @property
    def connectors(self) -> Mapping[str, Connector]: ...
    @property
    def scheduler(self) -> Scheduler: ...


class Unavailable(Exception):
    """The service is starting or stopping: there is no state to show yet."""


LimitState = Literal["ok", "throttled", "paused", "quota_low"]


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """A connection's API budget right now, from its limiters, and whether the service is leaving it alone."""

    connection: str
    vendor: str
    calls: int
    waits: int
    daily_used: int | None
    daily_limit: int | None
    paused_for_s: float  # the vendor told us to back off this long
    breaker_paused_s: float  # the service skips this failing CRM this long
    state: LimitState

    @property
    def quota_share(self) -> float | None:
        if self.daily_used is None or not self.daily_limit:
            return None
        return self.daily_used / self.daily_limit


@dataclass(frozen=True, slots=True)
class Overview:
    generated_at: datetime
    totals: Mapping[str, int]
    health: tuple[KindHealth, ...]
    limits: tuple[ConnectionLimits, ...]
    open_conflicts: int
    sync_errors: int
    dead_jobs: int
    queue_depth: int
    oldest_pending: datetime | None
    pending: PendingWork
    last_pass: PassSummary | None
    last_ok_pass: PassSummary | None
    volume: tuple[VolumeBucket, ...]


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Sync errors with one cause: the same connection, object, field and vendor message."""

    key: str
    connection: str
    object: str
    kind: ObjectKind | None
    field: str | None
    message: str
    errors: tuple[SyncErrorView, ...]

    @property
    def retryable_ids(self) -> tuple[int, ...]:
        return tuple(e.id for e in self.errors if e.retryable)


@dataclass(frozen=True, slots=True)
class ErrorsPage:
    groups: tuple[ErrorGroup, ...]
    duplicates: tuple[DuplicateGroup, ...]
    dead_jobs: tuple[DeadJobView, ...]


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    resolved: tuple[ResolutionOutcome, ...]
    skipped: tuple[tuple[int, str], ...]  # conflict id, why


@dataclass(frozen=True, slots=True)
class RecordLink:
    """A record's copy in one CRM, with the address of its page there (or of the emulator's API)."""

    connection: str
    object: str
    remote_id: str
    url: str | None


@dataclass(frozen=True, slots=True)
class RecordPage:
    explanation: RecordExplanation
    links: tuple[RecordLink, ...]


class DashboardBackend:
    """The dashboard's operations over the running service's store, connectors and scheduler."""

    def __init__(self, config: SyncConfig, live: Callable[[], Live | None]) -> None:
        self.config = config
        self._live = live

    def live(self) -> Live:
        found = self._live()
        if found is None:
            raise Unavailable("the service is starting or stopping")
        return found

    # ---- reading ------------------------------------------------------------------------------
    async def overview(self, *, hours: int = 24, buckets: int = 48) -> Overview:
        live = self.live()
        store = live.store
        health = await kind_health(store, self.config)
        volume = await sync_volume(store, hours=hours, buckets=buckets)
        async with store.read() as tx:
            oldest = await tx.jobs.oldest_pending()
            queues = await job_queues(tx)
            blocked = await blocked_waits(tx)
            open_conflicts = len(await tx.conflicts.list())
        report = await list_errors(store, self.config)
        return Overview(
            generated_at=datetime.now(UTC),
            totals=totals(health),
            health=health,
            limits=self.limits(live),
            open_conflicts=open_conflicts,
            sync_errors=len(report.errors),
            dead_jobs=len(report.dead_jobs),
            queue_depth=sum(queue.pending + queue.running for queue in queues),
            oldest_pending=oldest,
            pending=pending_work(queues, blocked),
            last_pass=live.scheduler.last,
            last_ok_pass=live.scheduler.last_ok,
            volume=volume,
        )

    def limits(self, live: Live) -> tuple[ConnectionLimits, ...]:
        paused = live.scheduler.breaker.state()
        found = []
        for name, connection in self.config.connections.items():
            connector = live.connectors.get(name)
            states = [limiter.state() for limiter in getattr(connector, "limiters", ())]
            used = [int(s["daily_used"]) for s in states if s["daily_used"] is not None]
            limit = [int(s["daily_limit"]) for s in states if s["daily_limit"] is not None]
            vendor_pause = max((float(s["paused_for_s"] or 0) for s in states), default=0.0)
            breaker = float(paused.get(name, 0.0))
            daily_used, daily_limit = (max(used) if used else None), (max(limit) if limit else None)
            if breaker > 0:
                state: LimitState = "paused"
            elif vendor_pause > 0 or any(int(s["waiting"] or 0) > 0 for s in states):
                state = "throttled"
            elif daily_used is not None and daily_limit and daily_used >= 0.8 * daily_limit:
                state = "quota_low"
            else:
                state = "ok"
            found.append(
                ConnectionLimits(
                    connection=name,
                    vendor=connection.vendor,
                    calls=sum(int(s["admitted"] or 0) for s in states),
                    waits=sum(int(s["waits"] or 0) for s in states),
                    daily_used=daily_used,
                    daily_limit=daily_limit,
                    paused_for_s=round(vendor_pause, 1),
                    breaker_paused_s=round(breaker, 1),
                    state=state,
                )
            )
        return tuple(found)

    async def conflicts(
        self, *, kind: ObjectKind | None = None, include_resolved: bool = False
    ) -> tuple[ConflictView, ...]:
        return await list_conflicts(self.live().store, kind=kind, include_resolved=include_resolved)

    async def conflict(self, conflict_id: int) -> ConflictDetail:
        return await conflict_detail(self.live().store, conflict_id)

    async def errors(self, *, connection: str | None = None, kind: ObjectKind | None = None) -> ErrorsPage:
        report = await list_errors(self.live().store, self.config, connection=connection, kind=kind)
        grouped: dict[tuple[str, str, str | None, str], list[SyncErrorView]] = defaultdict(list)
        for error in report.errors:
            grouped[(error.connection, error.object, error.field, error.message)].append(error)
        groups = tuple(
            ErrorGroup(
                key=f"G{min(e.id for e in members)}",
                connection=connection_name,
                object=obj,
                kind=members[0].kind,
                field=field,
                message=message,
                errors=tuple(sorted(members, key=lambda e: e.id)),
            )
            for (connection_name, obj, field, message), members in grouped.items()
        )
        groups = tuple(sorted(groups, key=lambda g: (-len(g.errors), g.key)))
        return ErrorsPage(groups, report.duplicates, report.dead_jobs)

    async def search(self, query: str) -> tuple[RecordHit, ...]:
        return await search_records(self.live().store, query)

    async def record(self, kind: str, ident: str) -> RecordPage:
        if kind not in OBJECT_KINDS:
            raise OperatorError(f"unknown object kind {kind!r}; expected one of {', '.join(OBJECT_KINDS)}")
        explanation = await explain_record(
            self.live().store,
            self.config,
            kind,
            ident,
            history=HISTORY_LIMIT,
        )
        return RecordPage(explanation, tuple(self._link(link) for link in explanation.links))

    def _link(self, link: Link) -> RecordLink:
        connection = self.config.connections.get(link.connection)
        url = record_url(connection, link, self.config.service.dashboard.record_urls) if connection else None
        return RecordLink(link.connection, link.object, link.remote_id, url)

    # ---- acting -------------------------------------------------------------------------------
    async def resolve(self, conflict_id: int, *, take: str | None, value: str | None, by: str) -> ResolutionOutcome:
        live = self.live()
        await self._refuse_a_required_blank(live, conflict_id, take, value)
        outcome = await resolve(live.store, self.config, conflict_id, choice_connection=take, value=value, by=by)
        self._wake(live, len(outcome.writes))
        return outcome

    async def resolve_bulk(self, *, field: str, take: str, kind: ObjectKind | None, by: str) -> BulkOutcome:
        """Every open conflict on `field` (of `kind`, if given) settled with `take`'s side."""
        live = self.live()
        resolved: list[ResolutionOutcome] = []
        skipped: list[tuple[int, str]] = []
        asked: AskedFields = {}
        for conflict in await list_conflicts(live.store, kind=kind):
            if conflict.field != field:
                continue
            try:
                await self._refuse_a_required_blank(live, conflict.id, take, None, asked)
                resolved.append(await resolve(live.store, self.config, conflict.id, choice_connection=take, by=by))
            except OperatorError as exc:
                skipped.append((conflict.id, str(exc)))
        self._wake(live, sum(len(o.writes) for o in resolved))
        return BulkOutcome(tuple(resolved), tuple(skipped))

    async def retry(
        self, *, error_ids: Sequence[int] = (), job_ids: Sequence[int] = (), everything: bool = False
    ) -> RetryOutcome:
        """Re-queue the failed work (and a read of each retried record: `resolution.retry`), then wake a pass."""
        live = self.live()
        outcome = await retry(
            live.store, self.config, error_ids=error_ids, job_ids=job_ids, everything=everything, refuse_unknown=True
        )
        self._wake(live, sum(r.jobs for r in outcome.requeued) + outcome.reads)
        return outcome

    async def _refuse_a_required_blank(
        self, live: Live, conflict_id: int, take: str | None, value: str | None, asked: AskedFields | None = None
    ) -> None:
        """As `crmsync conflicts resolve` does: a blank a target CRM requires is refused before anything is stored."""
        unknown = await refuse_a_required_blank(
            live.store,
            self.config,
            conflict_id,
            live.connectors,
            take=take,
            value=value,
            describe_timeout=DESCRIBE_TIMEOUT_S,
            asked=asked,
        )
        if unknown:
            log.warning("could not ask whether a cleared field is required", conflict=conflict_id, crms=list(unknown))

    @staticmethod
    def _wake(live: Live, queued: int) -> None:
        if queued:
            live.scheduler.hints_queued(queued)


__all__ = [
    "BulkOutcome",
    "ConnectionLimits",
    "DashboardBackend",
    "ErrorGroup",
    "ErrorsPage",
    "Live",
    "Overview",
    "RecordLink",
    "RecordPage",
    "Unavailable",
]
