"""The jobs table's SQL that does not depend on a transaction: claim and folding statements, rows in and out."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmsync.store.tables import PENDING_COALESCING, UtcDateTime, jobs
from crmsync.store.values import Job, JobStatus, NewJob

LIVE: tuple[JobStatus, ...] = ("pending", "running")


def status_is(column: sa.ColumnElement[str], *statuses: JobStatus) -> sa.ColumnElement[bool]:
    """`status = 'pending'` (or `IN (…)`) with the statuses written into the SQL as constants, not bound.

    The partial indexes of `jobs` name their statuses. PostgreSQL plans a prepared statement generically
    after five runs, and a generic plan may use a partial index only when the query's own status is a
    constant: with a bound status, the generic plan of the claim scanned the whole table twice (seen with
    `plan_cache_mode = force_generic_plan`); SQLite likewise uses a partial index only for a matching term.
    """
    constants = [sa.literal_column(f"'{status}'", sa.String) for status in statuses]
    return column == constants[0] if len(constants) == 1 else column.in_(constants)


def job_from_row(row: sa.Row[tuple[object, ...]]) -> Job:
    status: JobStatus = row.status
    return Job(
        id=row.id,
        key=row.key,
        kind=row.kind,
        payload=row.payload,
        status=status,
        priority=row.priority,
        attempts=row.attempts,
        run_after=row.run_after,
        locked_by=row.locked_by,
        locked_until=row.locked_until,
        last_error=row.last_error,
        created_at=row.created_at,
    )


def new_job_row(job: NewJob, now: datetime) -> dict[str, Any]:
    return {
        "key": job.key,
        "kind": job.kind,
        "payload": dict(job.payload),
        "status": "pending",
        "priority": job.priority,
        "attempts": 0,
        "run_after": job.run_after or now,
        "created_at": now,
        "coalesces": job.coalesce,
    }


@functools.cache
def folding_insert(postgres: bool) -> sa.Insert:
    """INSERT that folds into the pending job of the same key and kind: its payload becomes the new one, and
    it runs at the earlier time and the higher priority. One atomic statement on both backends: a job a
    worker claimed meanwhile is no longer pending, so PostgreSQL inserts beside it instead (after waiting
    for the claim to commit), and the running job never takes a change it may not deliver."""
    statement = (postgresql.insert if postgres else sqlite.insert)(jobs)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[jobs.c.key, jobs.c.kind],
        index_where=sa.text(PENDING_COALESCING),
        set_={
            "payload": new.payload,
            "run_after": sa.case((jobs.c.run_after > new.run_after, new.run_after), else_=jobs.c.run_after),
            "priority": sa.case((jobs.c.priority < new.priority, new.priority), else_=jobs.c.priority),
        },
    )


@functools.cache
def claim_statement(postgres: bool, by_kind: bool) -> sa.Update:
    """The claim as one UPDATE with bound parameters, built once per dialect and shape.

    Idle workers claim many times a second: building the aliases and their column collections anew for each
    claim cost more CPU than PostgreSQL spent answering it.

    On PostgreSQL the statement is shaped so that every plan is cheap, whatever the statistics say. A queue
    table swings from empty to tens of thousands of rows between two autovacuum analyses, and a plan made
    for "the table is empty" joined every candidate with every live job (seconds per claim, quadratic in
    the backlog). So the earlier-job check stays a per-candidate lookup (`OFFSET 0` keeps PostgreSQL from
    turning the EXISTS into a join), and the chosen ids reach the UPDATE as one array, looked up by key.
    """
    candidate = jobs.alias("candidate")
    earlier = jobs.alias("earlier")
    running = jobs.alias("running")
    earlier_live = sa.select(earlier.c.id).where(
        earlier.c.key == candidate.c.key, earlier.c.id < candidate.c.id, status_is(earlier.c.status, *LIVE)
    )
    # Any running job of its key blocks it too: a dead job retried while a later job of its key runs is older
    # than that job, and one running job per key is what the unique index insists on. A probe of that index.
    running_now = sa.select(running.c.id).where(
        running.c.key == candidate.c.key, status_is(running.c.status, "running")
    )
    if postgres:
        earlier_live, running_now = (q.offset(sa.literal_column("0")) for q in (earlier_live, running_now))
    query = sa.select(candidate.c.id).where(
        status_is(candidate.c.status, "pending"),
        candidate.c.run_after <= sa.bindparam("claim_now", type_=UtcDateTime),
        ~earlier_live.exists(),
        ~running_now.exists(),
    )
    if by_kind:
        query = query.where(candidate.c.kind.in_(sa.bindparam("claim_kinds", expanding=True)))
    query = query.order_by(candidate.c.priority.desc(), candidate.c.id).limit(
        sa.bindparam("claim_limit", type_=sa.Integer)
    )
    chosen: sa.ColumnElement[bool]
    if postgres:
        # Materialised once: PostgreSQL may otherwise evaluate a LIMIT subquery of an UPDATE several times
        # (with SKIP LOCKED, each time choosing other rows) and claim more than `limit` jobs.
        picked = query.with_for_update(skip_locked=True, of=candidate).cte("picked").prefix_with("MATERIALIZED")
        # The picked rows are locked and were pending when locked: the UPDATE finds them by primary key alone.
        chosen = jobs.c.id == sa.any_(sa.func.array(sa.select(picked.c.id).scalar_subquery()))
    else:
        chosen = sa.and_(jobs.c.id.in_(query.scalar_subquery()), status_is(jobs.c.status, "pending"))
    return (
        sa.update(jobs)
        .where(chosen)
        .values(
            status="running",
            attempts=jobs.c.attempts + 1,
            locked_by=sa.bindparam("claim_worker", type_=sa.String),
            locked_until=sa.bindparam("claim_until", type_=UtcDateTime),
        )
        .returning(*jobs.c)
    )


__all__ = ["LIVE", "claim_statement", "folding_insert", "job_from_row", "new_job_row", "status_is"]
