"""The state database at a glance for `crmsync status`: records, links, cursors, queues, conflicts and errors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crmsync.config import SyncConfig
from crmsync.engine.merges import DUPLICATE
from crmsync.engine.outbox import AWAIT, LINK_WAIT, REFETCH, WRITE
from crmsync.engine.views.common import OperatorError, is_duplicate, kind_of_object, parse_job_kind
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import Store, Transaction, open_store
from crmsync.store.among import among, chunks
from crmsync.store.tables import audit, conflicts, cursors, jobs, links, records, sync_errors


@dataclass(frozen=True, slots=True)
class KindStatus:
    """One object kind at a glance: how many records crmsync holds and how many are linked where."""

    kind: str
    configured: bool
    records: int
    deleted: int
    links: Mapping[str, int]  # connection → linked remote records
    open_conflicts: int


@dataclass(frozen=True, slots=True)
class CursorStatus:
    """Where incremental reads of one connection's object stand, and when the cursor last moved."""

    connection: str
    object: str
    kind: ObjectKind | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """The live and dead jobs of one job kind (`write:<kind>:<connection>`, `refetch:…`)."""

    job_kind: str
    role: str  # "write" (outbox), "refetch" (inbox) or whatever else the queue holds
    object_kind: ObjectKind | None
    connection: str | None
    pending: int
    retrying: int  # pending again after a failed attempt: backing off
    running: int
    dead: int
    oldest_pending: datetime | None


@dataclass(frozen=True, slots=True)
class BlockedWait:
    """A child waiting for its link to a parent whose write to the connection failed: the error that holds it."""

    kind: str
    canonical_id: str
    connection: str
    parent: str
    error: str  # E12 (a sync error: `crmsync errors show E12`) or J34 (a job out of attempts, or retrying)
    retrying: bool  # the parent's write is tried again on its own (a job backing off), else it needs a person

    def line(self) -> str:
        how = "is being retried" if self.retrying else "failed"
        where = f"{self.kind} {self.canonical_id} waiting in {self.connection} on {self.parent}"
        return f"{where}, whose write {how}: {self.error}"


@dataclass(frozen=True, slots=True)
class PendingWork:
    """What the queue holds for the next sync to do (dead jobs aside: those need a person)."""

    waiting: Mapping[str, int]  # object kind → records read but waiting for a parent not synced yet (parked)
    reads: Mapping[str, int]  # connection → records queued to read again (webhook hints, merges, retries)
    writes: Mapping[str, int]  # connection → writes queued
    other: int  # deletes and merges queued
    links: Mapping[str, int] = field(default_factory=dict)
    """connection → records written there without a link to a parent not there yet (parked until it lands)"""
    blocked: tuple[BlockedWait, ...] = ()
    """Link waits whose parent's write to that connection failed: they land once it is retried and goes through."""

    @property
    def total(self) -> int:
        return (
            sum(self.waiting.values())
            + sum(self.reads.values())
            + sum(self.writes.values())
            + sum(self.links.values())
            + self.other
        )


@dataclass(frozen=True, slots=True)
class StatusSummary:
    """The state database at a glance, for `crmsync status`."""

    state_url: str  # with any password masked
    dialect: str
    kinds: tuple[KindStatus, ...]
    cursors: tuple[CursorStatus, ...]
    queues: tuple[QueueStatus, ...]
    outbox: Mapping[str, int]  # connection → writes pending or running
    dead_jobs: int
    open_conflicts: int
    sync_errors: int  # failures, duplicate groups not included
    errors_by_connection: Mapping[str, int]
    duplicate_groups: int  # survivors with at least one duplicate, per connection
    last_audit_at: datetime | None
    last_change_at: datetime | None  # the latest golden record write
    pending: PendingWork


def state_exists(config: SyncConfig) -> bool:
    """False when the config names a SQLite file that is not there (no sync has run yet)."""
    url = make_url(config.state_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return True
    return Path(url.database).exists()


async def open_state(config: SyncConfig) -> Store:
    """Open the configured state database; a missing SQLite file is an error rather than silently created."""
    if not state_exists(config):
        raise OperatorError(f"no state database at {config.state_url_safe}; run `crmsync sync` first")
    return await open_store(config.state_url)


async def status_summary(store: Store, config: SyncConfig) -> StatusSummary:
    """Counts of records, links, cursors, jobs, conflicts and errors, in one read snapshot."""
    async with store.read() as tx:
        db = tx.connection
        record_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for kind, deleted, count in await db.execute(
            sa.select(records.c.kind, records.c.deleted, sa.func.count()).group_by(records.c.kind, records.c.deleted)
        ):
            record_counts[kind][1 if deleted else 0] += int(count)
        link_counts: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, connection, count in await db.execute(
            sa.select(links.c.kind, links.c.connection, sa.func.count()).group_by(links.c.kind, links.c.connection)
        ):
            link_counts[kind][connection] = int(count)
        conflict_counts: dict[str | None, int] = {}
        for kind, count in await db.execute(
            sa.select(records.c.kind, sa.func.count())
            .select_from(conflicts.outerjoin(records, records.c.canonical_id == conflicts.c.canonical_id))
            .where(conflicts.c.status == "open")
            .group_by(records.c.kind)
        ):
            conflict_counts[kind] = int(count)
        cursor_rows = list(await db.execute(sa.select(cursors).order_by(cursors.c.connection, cursors.c.object)))
        queues = await job_queues(tx)
        blocked = await blocked_waits(tx) if any(q.role == LINK_WAIT and q.pending for q in queues) else []
        error_rows = list(
            await db.execute(
                sa.select(sync_errors.c.connection, sync_errors.c.operation, sync_errors.c.code, sa.func.count())
                .group_by(sync_errors.c.connection, sync_errors.c.operation, sync_errors.c.code)
                .order_by(sync_errors.c.connection)
            )
        )
        groups = (
            sa.select(sync_errors.c.connection, sync_errors.c.object, sync_errors.c.canonical_id)
            .where(sync_errors.c.operation == "link", sync_errors.c.code == DUPLICATE)
            .distinct()
            .subquery()
        )
        duplicates = (await db.execute(sa.select(sa.func.count()).select_from(groups))).scalar_one()
        last_audit = (await db.execute(sa.select(sa.func.max(audit.c.at)))).scalar_one_or_none()
        last_change = (await db.execute(sa.select(sa.func.max(records.c.updated_at)))).scalar_one_or_none()

    configured = set(config.kinds)
    kind_names = [*config.kinds, *sorted(set(record_counts) | set(link_counts) - configured)]
    kinds = tuple(
        KindStatus(
            kind=kind,
            configured=kind in configured,
            records=record_counts[kind][0] if kind in record_counts else 0,
            deleted=record_counts[kind][1] if kind in record_counts else 0,
            links=dict(sorted(link_counts.get(kind, {}).items())),
            open_conflicts=conflict_counts.get(kind, 0),
        )
        for kind in dict.fromkeys(kind_names)
    )
    cursor_status = tuple(
        CursorStatus(row.connection, row.object, kind_of_object(config, row.connection, row.object), row.updated_at)
        for row in cursor_rows
    )
    outbox: dict[str, int] = defaultdict(int)
    for queue in queues:
        if queue.role == "write" and queue.connection is not None and queue.pending + queue.running:
            outbox[queue.connection] += queue.pending + queue.running
    errors_by_connection: dict[str, int] = defaultdict(int)
    failures = 0
    for connection, operation, code, count in error_rows:
        if not is_duplicate(operation, code):
            failures += int(count)
            errors_by_connection[connection] += int(count)
    return StatusSummary(
        state_url=config.state_url_safe,
        dialect=store.dialect,
        kinds=kinds,
        cursors=cursor_status,
        queues=queues,
        outbox=dict(sorted(outbox.items())),
        dead_jobs=sum(q.dead for q in queues),
        open_conflicts=sum(conflict_counts.values()),
        sync_errors=failures,
        errors_by_connection=dict(errors_by_connection),
        duplicate_groups=int(duplicates),
        last_audit_at=last_audit,
        last_change_at=last_change,
        pending=pending_work(queues, blocked),
    )


async def job_queues(tx: Transaction) -> tuple[QueueStatus, ...]:
    """The live and dead jobs per job kind (done ones left out), in one statement."""
    rows = await tx.connection.execute(
        sa.select(
            jobs.c.kind,
            jobs.c.status,
            sa.func.count(),
            sa.func.sum(sa.case((jobs.c.attempts > 0, 1), else_=0)),
            sa.func.min(jobs.c.created_at),
        )
        .where(jobs.c.status != "done")
        .group_by(jobs.c.kind, jobs.c.status)
    )
    return _queues(rows)


BLOCKED_LINES = 10
"""Blocked link waits named one a line in status; the rest are counted."""


async def blocked_waits(tx: Transaction) -> list[BlockedWait]:
    """Parked link waits whose parent's write to their connection failed, each with the error that holds it.

    A sync error on the parent's create there (E…, it waits for a person: `crmsync errors retry`), else its write
    job dead (J…) or backing off after a failure (J…, retried on its own).
    """
    parked = await tx.connection.execute(
        sa.select(jobs.c.payload).where(jobs.c.status == "pending", jobs.c.kind.startswith(f"{LINK_WAIT}:"))
    )
    waits = [payload for (payload,) in parked if isinstance(payload, dict) and payload.get("parents")]
    if not waits:
        return []
    failed: dict[tuple[str, str], tuple[str, bool]] = {}
    parents = sorted({(str(wait["connection"]), str(p)) for wait in waits for p in wait["parents"]})
    for connection in sorted({c for c, _ in parents}):
        for wanted in chunks(sorted({p for c, p in parents if c == connection})):
            rows = await tx.connection.execute(
                sa.select(sync_errors.c.id, sync_errors.c.canonical_id)
                .where(
                    sync_errors.c.connection == connection,
                    among(tx.connection, sync_errors.c.canonical_id, wanted),
                    sync_errors.c.operation == "create",
                )
                .order_by(sync_errors.c.id)
            )
            for error_id, parent in rows:
                failed.setdefault((connection, str(parent)), (f"E{error_id}", False))
            writes = await tx.connection.execute(
                sa.select(jobs.c.id, jobs.c.key, jobs.c.status, jobs.c.attempts).where(
                    among(tx.connection, jobs.c.key, [f"{connection}/{p}" for p in wanted]),
                    jobs.c.kind.startswith(f"{WRITE}:"),
                    jobs.c.status.in_(("dead", "pending")),
                )
            )
            for job_id, key, status, attempts in writes:
                if status == "dead" or attempts > 0:
                    failed.setdefault((connection, str(key).partition("/")[2]), (f"J{job_id}", status != "dead"))
    blocked = []
    for wait in waits:
        connection = str(wait["connection"])
        for parent in wait["parents"]:
            held = failed.get((connection, str(parent)))
            if held is not None:
                kind, canonical_id = str(wait["kind"]), str(wait["canonical_id"])
                blocked.append(BlockedWait(kind, canonical_id, connection, str(parent), held[0], held[1]))
    return blocked


def pending_work(queues: Iterable[QueueStatus], blocked: Sequence[BlockedWait] = ()) -> PendingWork:
    """What the queues hold for the next sync: records waiting for a parent, reads, writes, deletes and merges."""
    waiting: dict[str, int] = defaultdict(int)
    reads: dict[str, int] = defaultdict(int)
    writes: dict[str, int] = defaultdict(int)
    links: dict[str, int] = defaultdict(int)
    other = 0
    for queue in queues:
        live = queue.pending + queue.running
        if not live:
            continue
        if queue.role == AWAIT and queue.object_kind is not None:
            waiting[queue.object_kind] += live
        elif queue.role == REFETCH and queue.connection is not None:
            reads[queue.connection] += live
        elif queue.role == WRITE and queue.connection is not None:
            writes[queue.connection] += live
        elif queue.role == LINK_WAIT and queue.connection is not None:
            links[queue.connection] += live
        else:
            other += live
    order: dict[str, int] = {kind: n for n, kind in enumerate(OBJECT_KINDS)}
    return PendingWork(
        waiting=dict(sorted(waiting.items(), key=lambda item: order.get(item[0], len(order)))),
        reads=dict(sorted(reads.items())),
        writes=dict(sorted(writes.items())),
        other=other,
        links=dict(sorted(links.items())),
        blocked=tuple(blocked),
    )


def pending_lines(pending: PendingWork) -> list[tuple[str, str | None]]:
    """What is still to do, one line per sort of work, each with the CLI command that shows more (or None).

    The CLI's status and the dashboard's overview say the same: neither may call a state all clear while a
    record still waits to be read or written.
    """
    lines: list[tuple[str, str | None]] = []
    if pending.waiting:
        count = sum(pending.waiting.values())
        verb = "waits" if count == 1 else "wait"
        lines.append(
            (
                f"{_plural(count, 'record')} {verb} for a parent crmsync has not synced yet ({_by(pending.waiting)}): "
                f"each sync reads {_them(count)} again until it has",
                "`crmsync sync --dry-run` names the kinds waiting",
            )
        )
    if pending.reads:
        count = sum(pending.reads.values())
        lines.append(
            (
                f"{_plural(count, 'record')} queued to read again ({_by(pending.reads)}): "
                f"the next sync reads {_them(count)}",
                None,
            )
        )
    if pending.writes:
        count = sum(pending.writes.values())
        lines.append(
            (
                f"{_plural(count, 'write')} queued ({_by(pending.writes)}): the next sync delivers {_them(count)}",
                None,
            )
        )
    if pending.links:
        count = sum(pending.links.values())
        verb = "waits" if count == 1 else "wait"
        lines.append(
            (
                f"{_plural(count, 'link')} to a parent not synced there yet {verb} ({_by(pending.links)}): "
                f"the sync that creates the parent writes {_them(count)}",
                "`crmsync errors` names parents whose create failed",
            )
        )
    for wait in pending.blocked[:BLOCKED_LINES]:
        then = "" if wait.retrying else f", then `crmsync errors retry {wait.error}`"
        lines.append((wait.line(), f"`crmsync errors show {wait.error}`{then}"))
    if len(pending.blocked) > BLOCKED_LINES:
        lines.append((f"… and {len(pending.blocked) - BLOCKED_LINES} more links held by a parent's failed write", None))
    if pending.other:
        noun = "delete or merge" if pending.other == 1 else "deletes and merges"
        lines.append((f"{pending.other} {noun} queued: the next sync carries {_them(pending.other)} out", None))
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _by(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _queues(rows: Iterable[Sequence[Any]]) -> tuple[QueueStatus, ...]:
    """Rows of (job kind, status, count, retried count, oldest created_at) → one QueueStatus per job kind."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    oldest: dict[str, datetime | None] = {}
    for job_kind, status, count, retried, first in rows:
        counts[job_kind][status] = int(count)
        if status == "pending":
            counts[job_kind]["retrying"] = int(retried or 0)
            oldest[job_kind] = first
    queues = []
    for job_kind, by_status in sorted(counts.items()):
        role, object_kind, connection = parse_job_kind(job_kind)
        queues.append(
            QueueStatus(
                job_kind=job_kind,
                role=role,
                object_kind=object_kind,
                connection=connection,
                pending=by_status["pending"],
                retrying=by_status["retrying"],
                running=by_status["running"],
                dead=by_status["dead"],
                oldest_pending=oldest.get(job_kind),
            )
        )
    return tuple(queues)


__all__ = [
    "BlockedWait",
    "CursorStatus",
    "KindStatus",
    "PendingWork",
    "QueueStatus",
    "StatusSummary",
    "blocked_waits",
    "job_queues",
    "open_state",
    "pending_lines",
    "pending_work",
    "state_exists",
    "status_summary",
]
