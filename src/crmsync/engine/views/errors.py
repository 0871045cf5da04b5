"""What failed, for operators: sync errors, duplicate groups and dead-lettered jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crmsync.config import SyncConfig
from crmsync.engine.views.common import WRITE_OPERATIONS, is_duplicate, kind_of_object, parse_job_kind
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import Job, Store, SyncError


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
        return is_duplicate(self.operation, self.code)

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


__all__ = [
    "DeadJobView",
    "DuplicateGroup",
    "ErrorsReport",
    "SyncErrorView",
    "dead_job_view",
    "duplicate_groups",
    "error_view",
    "list_errors",
]
