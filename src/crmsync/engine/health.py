"""Sync health per connection and object kind, and sync volume over time, for the dashboard's overview.

Volume is derived from durable tables, so it survives restarts and covers `crmsync sync` runs as well as
the service's passes: field changes and records changed per time bucket from `audit`, and sync errors per
bucket from `sync_errors` (by when each was last seen).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from crmsync.config import SyncConfig
from crmsync.engine.merges import DUPLICATE
from crmsync.engine.state import FORMER_ID_FIELD
from crmsync.engine.views.common import kind_of_object, parse_job_kind
from crmsync.store import Store
from crmsync.store.tables import audit, jobs, links, records, shadows, sync_errors


@dataclass(frozen=True, slots=True)
class KindHealth:
    """One connection's copy of one object kind.

    `in_sync`: linked records with nothing pending or failing; `pending`: records with a write queued or
    running; `failing`: records with a sync error or a dead-lettered write; `excluded`: records held out on
    purpose (duplicates waiting for a merge in that CRM, records kept out by a filter or a field direction).
    """

    connection: str
    kind: str
    linked: int
    in_sync: int
    pending: int
    failing: int
    excluded: int
    last_change: datetime | None  # the latest read from or write to this CRM of this kind
    oldest_pending: datetime | None  # when the oldest queued write was queued
    lag_s: float  # how long that write has waited: the current lag (0 when nothing waits)


@dataclass(frozen=True, slots=True)
class VolumeBucket:
    """Sync activity in one time bucket: field changes, records changed, sync errors seen."""

    start: datetime
    changes: int
    records: int
    errors: int


async def kind_health(store: Store, config: SyncConfig, *, now: datetime | None = None) -> tuple[KindHealth, ...]:
    """Counts per (connection, kind) for every configured object, in one read snapshot."""
    now = now or datetime.now(UTC)
    async with store.read() as tx:
        db = tx.connection
        alive: dict[str, int] = {}
        for kind, count in await db.execute(
            sa.select(records.c.kind, sa.func.count()).where(records.c.deleted == sa.false()).group_by(records.c.kind)
        ):
            alive[kind] = int(count)
        linked: dict[tuple[str, str], int] = {}
        for connection, kind, count in await db.execute(
            sa.select(links.c.connection, links.c.kind, sa.func.count(sa.distinct(links.c.canonical_id))).group_by(
                links.c.connection, links.c.kind
            )
        ):
            linked[(connection, kind)] = int(count)
        changed: dict[tuple[str, str], datetime] = {}
        for connection, kind, latest in await db.execute(
            sa.select(shadows.c.connection, records.c.kind, sa.func.max(shadows.c.updated_at))
            .select_from(shadows.join(records, records.c.canonical_id == shadows.c.canonical_id))
            .group_by(shadows.c.connection, records.c.kind)
        ):
            changed[(connection, kind)] = latest
        queued: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # pending+running, dead
        oldest: dict[tuple[str, str], datetime] = {}
        for job_kind, status, count, first in await db.execute(
            sa.select(
                jobs.c.kind, jobs.c.status, sa.func.count(sa.distinct(jobs.c.key)), sa.func.min(jobs.c.created_at)
            )
            .where(jobs.c.status.in_(("pending", "running", "dead")), jobs.c.kind.like("write:%"))
            .group_by(jobs.c.kind, jobs.c.status)
        ):
            role, kind, connection = parse_job_kind(job_kind)
            if role != "write" or kind is None or connection is None:
                continue
            key = (connection, kind)
            queued[key][1 if status == "dead" else 0] += int(count)
            if status == "pending" and first is not None:
                oldest[key] = min(first, oldest.get(key, first))
        pending_linked: dict[tuple[str, str], int] = {}  # writes queued for records already in that CRM
        for connection, kind, count in await db.execute(
            sa.select(links.c.connection, links.c.kind, sa.func.count(sa.distinct(links.c.canonical_id)))
            .select_from(links.join(jobs, jobs.c.key == links.c.connection + "/" + links.c.canonical_id))
            .where(jobs.c.status.in_(("pending", "running")), jobs.c.kind.like("write:%"))
            .group_by(links.c.connection, links.c.kind)
        ):
            pending_linked[(connection, kind)] = int(count)
        errors: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # of linked, creates, duplicates
        for connection, obj, operation, code, count in await db.execute(
            sa.select(
                sync_errors.c.connection,
                sync_errors.c.object,
                sync_errors.c.operation,
                sync_errors.c.code,
                sa.func.count(),
            ).group_by(sync_errors.c.connection, sync_errors.c.object, sync_errors.c.operation, sync_errors.c.code)
        ):
            kind = kind_of_object(config, connection, obj)
            if kind is None:
                continue
            duplicate = operation == "link" and code == DUPLICATE
            errors[(connection, kind)][2 if duplicate else 1 if operation == "create" else 0] += int(count)
    found = []
    for kind in config.kinds:
        for connection in config.objects[kind].connections:
            key = (connection, kind)
            pending, dead = queued.get(key, [0, 0])
            failing_linked, failing_creates, duplicates = errors.get(key, [0, 0, 0])
            failing_linked += dead
            failing = failing_linked + failing_creates
            count = linked.get(key, 0)
            held_out = max(alive.get(kind, 0) - count - pending - failing, 0)
            found.append(
                KindHealth(
                    connection=connection,
                    kind=kind,
                    linked=count,
                    in_sync=max(count - pending_linked.get(key, 0) - failing_linked, 0),
                    pending=pending,
                    failing=failing,
                    excluded=duplicates + held_out,
                    last_change=changed.get(key),
                    oldest_pending=oldest.get(key),
                    lag_s=max((now - oldest[key]).total_seconds(), 0.0) if key in oldest else 0.0,
                )
            )
    return tuple(found)


def _epoch(column: ColumnElement[datetime], dialect: str) -> ColumnElement[float]:
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.Float)
    return sa.cast(sa.extract("epoch", column), sa.Float)


async def sync_volume(
    store: Store, *, hours: int = 24, buckets: int = 48, now: datetime | None = None
) -> tuple[VolumeBucket, ...]:
    """`buckets` equal slices of the last `hours` hours, oldest first, each with its changes and errors."""
    end = now or datetime.now(UTC)
    start = end - timedelta(hours=hours)
    width = hours * 3600 / buckets
    origin = start.timestamp()
    changes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    error_counts: dict[int, int] = defaultdict(int)
    async with store.read() as tx:
        db = tx.connection
        slot = sa.func.floor((_epoch(audit.c.at, store.dialect) - origin) / width)
        for index, count, distinct in await db.execute(
            sa.select(
                slot.label("slot"), sa.func.sum(audit.c.changes), sa.func.count(sa.distinct(audit.c.canonical_id))
            )
            .where(audit.c.at >= start, audit.c.at <= end, audit.c.field != FORMER_ID_FIELD)  # a note, not a change
            .group_by(sa.literal_column("slot"))
        ):
            bucket = changes[min(int(index), buckets - 1)]  # a change at `end` exactly belongs to the last bucket
            bucket[0] += int(count)
            bucket[1] += int(distinct)
        error_slot = sa.func.floor((_epoch(sync_errors.c.last_seen, store.dialect) - origin) / width)
        for index, count in await db.execute(
            sa.select(error_slot.label("slot"), sa.func.count())
            .where(sync_errors.c.last_seen >= start, sync_errors.c.last_seen <= end)
            .where(sa.not_(sa.and_(sync_errors.c.operation == "link", sync_errors.c.code == DUPLICATE)))
            .group_by(sa.literal_column("slot"))
        ):
            error_counts[min(int(index), buckets - 1)] += int(count)
    return tuple(
        VolumeBucket(
            start=start + timedelta(seconds=i * width),
            changes=changes[i][0] if i in changes else 0,
            records=changes[i][1] if i in changes else 0,
            errors=error_counts.get(i, 0),
        )
        for i in range(buckets)
    )


def totals(health: tuple[KindHealth, ...]) -> Mapping[str, int]:
    """The overview's headline figures summed over every connection and kind."""
    return {
        "in_sync": sum(h.in_sync for h in health),
        "pending": sum(h.pending for h in health),
        "failing": sum(h.failing for h in health),
        "excluded": sum(h.excluded for h in health),
    }


__all__ = ["KindHealth", "VolumeBucket", "kind_health", "sync_volume", "totals"]
