"""Read-side queries over the state store for operators: status, conflicts, sync errors and one record's story."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crmsync.config import SyncConfig
from crmsync.engine.merges import DUPLICATE
from crmsync.engine.state import gone_from, rules_for_record
from crmsync.errors import CrmSyncError
from crmsync.model.rules import SyncRules
from crmsync.model.values import OBJECT_KINDS, CanonicalValue, ObjectKind
from crmsync.store import (
    AuditEntry,
    Conflict,
    ConflictSide,
    GoldenRecord,
    Job,
    Link,
    Store,
    SyncError,
    Transaction,
    open_store,
)
from crmsync.store.tables import audit, conflicts, cursors, jobs, links, records, sync_errors

WRITE_OPERATIONS: frozenset[str] = frozenset({"create", "update", "delete"})

_LABEL_FIELDS: tuple[tuple[str, ...], ...] = (("first_name", "last_name"), ("name",), ("subject",), ("domain",))


class OperatorError(CrmSyncError):
    """A request the operator can fix: an unknown id, an ambiguous record, a value of the wrong type."""


# ---------------------------------------------------------------------------------------------- status


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
        job_rows = list(
            await db.execute(
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
        )
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
    queues = _queues(job_rows)
    outbox: dict[str, int] = defaultdict(int)
    for queue in queues:
        if queue.role == "write" and queue.connection is not None and queue.pending + queue.running:
            outbox[queue.connection] += queue.pending + queue.running
    errors_by_connection: dict[str, int] = defaultdict(int)
    failures = 0
    for connection, operation, code, count in error_rows:
        if not _is_duplicate(operation, code):
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
    )


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


def parse_job_kind(job_kind: str) -> tuple[str, ObjectKind | None, str | None]:
    """`write:contact:hubspot` → ("write", "contact", "hubspot"); other kinds keep only their role."""
    role, _, rest = job_kind.partition(":")
    kind, _, connection = rest.partition(":")
    if kind in OBJECT_KINDS and connection:
        return role, kind, connection
    return role, None, None


def kind_of_object(config: SyncConfig, connection: str, object: str) -> ObjectKind | None:
    """The canonical kind behind a connection's vendor object name (or a canonical kind given as is)."""
    if object in OBJECT_KINDS:
        return object
    found = config.connections.get(connection)
    if found is None:
        return None
    for kind in OBJECT_KINDS:
        if config.mappings.has(found.vendor, kind) and config.mappings.get(found.vendor, kind).object == object:
            return kind
    return None


def object_of_kind(config: SyncConfig, connection: str, kind: ObjectKind) -> str | None:
    """The vendor object name a connection keeps `kind` in."""
    found = config.connections.get(connection)
    if found is None or not config.mappings.has(found.vendor, kind):
        return None
    return config.mappings.get(found.vendor, kind).object


def _is_duplicate(operation: object, code: object) -> bool:
    return operation == "link" and code == DUPLICATE


# ------------------------------------------------------------------------------------------- conflicts


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A parked conflict with what an operator needs to decide it: the sides and the golden value now."""

    id: int
    canonical_id: str
    kind: ObjectKind | None  # None: the record is not (or no longer) stored
    label: str | None  # a human name for the record: its name, email or subject
    field: str
    base: CanonicalValue
    has_base: bool  # False on a first meeting: there was no agreed value yet
    sides: tuple[ConflictSide, ...]
    golden: CanonicalValue
    created_at: datetime
    resolved: bool
    resolution: CanonicalValue
    resolved_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConflictDetail:
    """One conflict and its record for context: links, every golden value, other open conflicts."""

    conflict: ConflictView
    links: tuple[Link, ...]
    fields: Mapping[str, CanonicalValue]
    deleted: bool
    other_conflicts: tuple[str, ...]  # fields of the record with another open conflict


def _label(golden: GoldenRecord | None) -> str | None:
    if golden is None:
        return None
    values = golden.record.fields
    for names in _LABEL_FIELDS:
        parts = [str(values[name]) for name in names if values.get(name) is not None]
        if parts:
            label = " ".join(parts)
            email = values.get("email")
            return f"{label} <{email}>" if email is not None and names[0] == "first_name" else label
    email = values.get("email")
    return None if email is None else str(email)


def _view(conflict: Conflict, golden: GoldenRecord | None) -> ConflictView:
    has_base = golden is not None and conflict.field in golden.record.fields
    return ConflictView(
        id=conflict.id,
        canonical_id=conflict.canonical_id,
        kind=golden.record.kind if golden is not None else None,
        label=_label(golden),
        field=conflict.field,
        base=conflict.base,
        has_base=has_base or conflict.base is not None,
        sides=conflict.sides,
        golden=golden.record.fields.get(conflict.field) if golden is not None else None,
        created_at=conflict.created_at,
        resolved=conflict.resolved,
        resolution=conflict.resolution,
        resolved_by=conflict.resolved_by,
        resolved_at=conflict.resolved_at,
    )


async def list_conflicts(
    store: Store, *, kind: ObjectKind | None = None, include_resolved: bool = False
) -> tuple[ConflictView, ...]:
    """Open conflicts (or all), oldest first, optionally of one object kind."""
    async with store.read() as tx:
        found = await tx.conflicts.list(include_resolved=include_resolved)
        goldens = await tx.records.get_many(sorted({c.canonical_id for c in found}))
    views = (_view(c, goldens.get(c.canonical_id)) for c in found)
    return tuple(v for v in views if kind is None or v.kind == kind)


async def conflict_detail(store: Store, conflict_id: int) -> ConflictDetail:
    """One conflict with its record's links, values and other open conflicts; OperatorError if unknown."""
    async with store.read() as tx:
        conflict = await tx.conflicts.get(conflict_id)
        if conflict is None:
            raise OperatorError(f"no conflict #{conflict_id}; `crmsync conflicts list --all` lists them")
        golden = await tx.records.get(conflict.canonical_id)
        record_links = await tx.links.remote_links(conflict.canonical_id)
        others = await tx.conflicts.list(conflict.canonical_id)
    return ConflictDetail(
        conflict=_view(conflict, golden),
        links=tuple(record_links),
        fields=dict(sorted(golden.record.fields.items())) if golden is not None else {},
        deleted=golden.deleted if golden is not None else False,
        other_conflicts=tuple(sorted(c.field for c in others if c.id != conflict_id)),
    )


# ---------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class SyncErrorView:
    """A stored sync error, flattened, with the canonical kind it concerns."""

    id: int
    connection: str
    object: str
    kind: ObjectKind | None
    operation: str
    message: str  # the vendor's words
    canonical_id: str | None
    remote_id: str | None
    field: str | None
    code: str | None
    count: int
    first_seen: datetime
    last_seen: datetime

    @property
    def duplicate(self) -> bool:
        return _is_duplicate(self.operation, self.code)

    @property
    def retryable(self) -> bool:
        """A write with a known record is re-queued; a read with a known remote id is read again."""
        if self.duplicate:
            return False
        if self.operation in WRITE_OPERATIONS:
            return self.canonical_id is not None
        return self.operation == "read" and self.remote_id is not None


@dataclass(frozen=True, slots=True)
class DeadJobView:
    """A job that ran out of attempts (the dead letter), with its last error."""

    id: int
    job_kind: str
    role: str
    object_kind: ObjectKind | None
    connection: str | None
    key: str
    canonical_id: str | None
    remote_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Records of one connection that share a match key: one survivor syncs, the duplicates wait for a merge."""

    connection: str
    object: str
    kind: ObjectKind | None
    canonical_id: str | None
    duplicates: tuple[str, ...]  # remote ids of the records that are not synced
    error_ids: tuple[int, ...]  # the sync errors reporting them
    message: str  # the latest report, naming the survivor and the key
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ErrorsReport:
    """What failed: sync errors, duplicate groups (reported as link errors) and dead-lettered jobs."""

    errors: tuple[SyncErrorView, ...]
    duplicates: tuple[DuplicateGroup, ...]
    dead_jobs: tuple[DeadJobView, ...]

    @property
    def empty(self) -> bool:
        return not (self.errors or self.duplicates or self.dead_jobs)


def duplicate_groups(views: Iterable[SyncErrorView]) -> tuple[DuplicateGroup, ...]:
    """Duplicate reports gathered per survivor (connection, object, canonical id)."""
    members: dict[tuple[str, str, str | None], list[SyncErrorView]] = defaultdict(list)
    for view in views:
        if view.duplicate:
            members[(view.connection, view.object, view.canonical_id)].append(view)
    groups = []
    for (connection, obj, canonical_id), found in members.items():
        latest = max(found, key=lambda v: (v.last_seen, v.id))
        groups.append(
            DuplicateGroup(
                connection=connection,
                object=obj,
                kind=latest.kind,
                canonical_id=canonical_id,
                duplicates=tuple(sorted(v.remote_id for v in found if v.remote_id is not None)),
                error_ids=tuple(sorted(v.id for v in found)),
                message=latest.message,
                last_seen=latest.last_seen,
            )
        )
    return tuple(sorted(groups, key=lambda g: g.error_ids))


def error_view(error: SyncError, config: SyncConfig) -> SyncErrorView:
    report = error.report
    return SyncErrorView(
        id=error.id,
        connection=report.connection,
        object=report.object,
        kind=kind_of_object(config, report.connection, report.object),
        operation=report.operation,
        message=report.message,
        canonical_id=report.canonical_id,
        remote_id=report.remote_id,
        field=report.field,
        code=report.code,
        count=error.count,
        first_seen=error.first_seen,
        last_seen=error.last_seen,
    )


def dead_job_view(job: Job) -> DeadJobView:
    role, object_kind, connection = parse_job_kind(job.kind)
    # Kinds such as `delete:<kind>` do not name the connection: the payload does.
    payload_kind, payload_connection = job.payload.get("kind"), job.payload.get("connection")
    if object_kind is None and payload_kind in OBJECT_KINDS:
        object_kind = payload_kind
    if connection is None and isinstance(payload_connection, str):
        connection = payload_connection
    canonical_id = job.payload.get("canonical_id")
    remote_id = job.payload.get("remote_id")
    return DeadJobView(
        id=job.id,
        job_kind=job.kind,
        role=role,
        object_kind=object_kind,
        connection=connection,
        key=job.key,
        canonical_id=str(canonical_id) if canonical_id is not None else None,
        remote_id=str(remote_id) if remote_id is not None else None,
        attempts=job.attempts,
        last_error=job.last_error,
        created_at=job.created_at,
    )


async def list_errors(
    store: Store, config: SyncConfig, *, connection: str | None = None, kind: ObjectKind | None = None
) -> ErrorsReport:
    """Sync errors, duplicate groups and dead jobs, optionally of one connection and one object kind."""
    async with store.read() as tx:
        stored = await tx.errors.list(connection)
        dead = await tx.jobs.list("dead")
    views = [error_view(e, config) for e in stored]
    views = [v for v in views if kind is None or v.kind == kind]
    dead_views = [dead_job_view(j) for j in dead]
    dead_views = [
        d
        for d in dead_views
        if (connection is None or d.connection == connection) and (kind is None or d.object_kind == kind)
    ]
    return ErrorsReport(
        errors=tuple(v for v in views if not v.duplicate),
        duplicates=duplicate_groups(views),
        dead_jobs=tuple(dead_views),
    )


# --------------------------------------------------------------------------------------------- explain

ShadowState = Literal["same", "differs", "pending", "withheld", "failed", "not_written", "not_mapped", "absent", "gone"]
"""How a connection's copy of a field stands against the golden value:
`same`; `differs` with nothing queued; `pending` a write is queued or running; `withheld` by an open
conflict; `failed` its write is dead-lettered or errored; `not_written` by the field's direction or
`unless_blank`; `not_mapped` by that connection; `absent` the connection holds no copy of the record;
`gone` the record was deleted there and is kept out of it (delete policy `ignore` or `archive`)."""


@dataclass(frozen=True, slots=True)
class ShadowValue:
    """One connection's last known value of a field, and how it stands against the golden value."""

    connection: str
    value: CanonicalValue
    state: ShadowState


@dataclass(frozen=True, slots=True)
class FieldExplanation:
    """Why a field has its value: where it came from, when, by which rule, and what each connection holds."""

    field: str
    value: CanonicalValue
    in_golden: bool  # False: only a connection or a conflict knows the field yet
    source: str | None  # the connection the value came from (None: a person, or unknown)
    at: datetime | None
    rule: str  # the provenance reason: change, agreed, last_writer_wins, prefer, unless_blank, manual, withdrawn
    shadows: tuple[ShadowValue, ...]
    conflicts: tuple[ConflictView, ...]
    history: tuple[AuditEntry, ...]  # the latest few changes, oldest first


@dataclass(frozen=True, slots=True)
class RecordExplanation:
    """One canonical record: its links, every field's story, its pending writes and its sync errors."""

    canonical_id: str
    kind: ObjectKind
    label: str | None
    stored: bool  # False: linked but no golden record stored yet
    deleted: bool
    version: int
    updated_at: datetime | None
    links: tuple[Link, ...]
    gone: tuple[str, ...]  # connections the record was deleted in and is no longer written to
    fields: tuple[FieldExplanation, ...]
    writes: Mapping[str, str]  # connection → status of its latest live or dead write job
    errors: tuple[SyncErrorView, ...]


async def find_record(tx: Transaction, kind: ObjectKind, ident: str) -> str:
    """The canonical id behind `ident`: a canonical id itself, or any connection's remote id of that kind."""
    golden = await tx.records.get(ident)
    if golden is not None and golden.record.kind == kind:
        return ident
    result = await tx.connection.execute(
        sa.select(links.c.canonical_id, links.c.connection)
        .where(links.c.remote_id == ident, links.c.kind == kind)
        .order_by(links.c.connection)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for canonical_id, connection in result:
        found[canonical_id].append(connection)
    if len(found) == 1:
        return next(iter(found))
    if found:
        where = "; ".join(f"{cid} (in {', '.join(names)})" for cid, names in sorted(found.items()))
        raise OperatorError(f"{ident!r} is a {kind} id in several connections: {where}; give the canonical id")
    if golden is not None:
        raise OperatorError(f"{ident!r} is a {golden.record.kind}, not a {kind}")
    if await tx.links.remote_links(ident):
        return ident
    raise OperatorError(f"no {kind} with canonical or remote id {ident!r}")


async def explain_record(
    store: Store, config: SyncConfig, kind: ObjectKind, ident: str, *, history: int = 3
) -> RecordExplanation:
    """Everything the store knows about one record, field by field; OperatorError if not found."""
    async with store.read() as tx:
        canonical_id = await find_record(tx, kind, ident)
        golden = await tx.records.get(canonical_id)
        record_links = await tx.links.remote_links(canonical_id)
        shadows = await tx.shadows.get_all(canonical_id)
        open_conflicts = await tx.conflicts.list(canonical_id)
        entries = await tx.audit.list(canonical_id)
        connections = sorted({*shadows, *(link.connection for link in record_links), *_synced(config, kind)})
        remote = {(link.connection, link.remote_id) for link in record_links}
        errors = await tx.errors.about(canonical_id, remote)
        writes: dict[str, str] = {}
        for connection in connections:
            latest = [j for j in await tx.jobs.list(key=f"{connection}/{canonical_id}") if j.status != "done"]
            if latest:
                writes[connection] = latest[-1].status
    record_errors = tuple(error_view(e, config) for e in errors)
    rules = rules_for_record(config.objects[kind].rules, golden) if kind in config.objects else None
    gone = gone_from(golden)
    golden_values = golden.record.fields if golden is not None else {}
    shadow_names = {name for shadow in shadows.values() for name in shadow.fields}
    names = sorted({*golden_values, *(c.field for c in open_conflicts), *shadow_names})
    failed = {e.connection for e in record_errors if e.operation in WRITE_OPERATIONS}
    failed |= {c for c, status in writes.items() if status == "dead"}
    pending = {c for c, status in writes.items() if status in ("pending", "running")}
    conflict_fields = {c.field for c in open_conflicts}
    fields = []
    for name in names:
        origin = golden.provenance.get(name) if golden is not None else None
        value = golden_values.get(name)
        shadow_values = tuple(
            ShadowValue(
                connection,
                shadows[connection].fields.get(name) if connection in shadows else None,
                _shadow_state(
                    name,
                    value,
                    connection,
                    shadows[connection].fields if connection in shadows else None,
                    rules,
                    withheld=name in conflict_fields,
                    gone=connection in gone,
                    pending=connection in pending,
                    failed=connection in failed,
                ),
            )
            for connection in connections
        )
        fields.append(
            FieldExplanation(
                field=name,
                value=value,
                in_golden=name in golden_values,
                source=origin.connection if origin else None,
                at=origin.at if origin else None,
                rule=origin.reason if origin else "",
                shadows=shadow_values,
                conflicts=tuple(_view(c, golden) for c in open_conflicts if c.field == name),
                history=tuple([e for e in entries if e.field == name][-history:] if history > 0 else ()),
            )
        )
    return RecordExplanation(
        canonical_id=canonical_id,
        kind=golden.record.kind if golden is not None else kind,
        label=_label(golden),
        stored=golden is not None,
        deleted=golden.deleted if golden is not None else False,
        version=golden.version if golden is not None else 0,
        updated_at=golden.updated_at if golden is not None else None,
        links=tuple(record_links),
        gone=gone,
        fields=tuple(fields),
        writes=writes,
        errors=record_errors,
    )


def _synced(config: SyncConfig, kind: ObjectKind) -> Sequence[str]:
    return config.objects[kind].connections if kind in config.objects else ()


def _shadow_state(
    name: str,
    golden: CanonicalValue,
    connection: str,
    shadow: Mapping[str, CanonicalValue] | None,
    rules: SyncRules | None,
    *,
    withheld: bool,
    gone: bool,
    pending: bool,
    failed: bool,
) -> ShadowState:
    if gone:
        return "gone"
    if shadow is None:
        return "pending" if pending else "absent"
    if rules is not None and not rules.maps(connection, name, shadow):
        return "not_mapped"
    if shadow.get(name) == golden:
        return "same"
    if withheld:
        return "withheld"
    if rules is not None and not rules.direction_for(name).writes_to(connection):
        return "not_written"
    if rules is not None and golden is None and rules.policy_for(name).unless_blank:
        return "not_written"
    if pending:
        return "pending"
    if failed:
        return "failed"
    return "differs"


__all__ = [
    "WRITE_OPERATIONS",
    "ConflictDetail",
    "ConflictView",
    "CursorStatus",
    "DeadJobView",
    "DuplicateGroup",
    "ErrorsReport",
    "FieldExplanation",
    "KindStatus",
    "OperatorError",
    "QueueStatus",
    "RecordExplanation",
    "ShadowState",
    "ShadowValue",
    "StatusSummary",
    "SyncErrorView",
    "conflict_detail",
    "dead_job_view",
    "duplicate_groups",
    "error_view",
    "explain_record",
    "find_record",
    "kind_of_object",
    "list_conflicts",
    "list_errors",
    "object_of_kind",
    "open_state",
    "parse_job_kind",
    "state_exists",
    "status_summary",
]
