"""Schema 8: at most one pending coalescing job per key and kind, enforced by a unique partial index.

An enqueue folds into the pending job with one upsert, so PostgreSQL enqueuers no longer serialise on an
advisory lock per key (a batch of a thousand keys took a thousand of the server's shared lock slots).
`coalesces` marks the jobs queued with `coalesce=False`, which the index leaves out. The index of every job's
key goes: the queue's lookups by key use this index or the live-jobs one, and `explain`, which reads one
record's jobs, scans a table that keeps a day of done jobs.

Schema 7 could hold several pending jobs of one key and kind (a job given back to pending beside a newer
one). The upgrade folds each such group into its oldest job, which takes the newest payload, the earliest
`run_after` and the highest priority, as the queue now does when a job is given back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

PENDING_COALESCING = "status = 'pending' AND coalesces"  # spelled out: a migration must not change with the code


def upgrade() -> None:
    op.add_column("jobs", sa.Column("coalesces", sa.Boolean, nullable=False, server_default=sa.true()))
    _fold_pending_groups()
    # An index of every job's key, done ones too, cost an insertion into a randomly ordered tree per job.
    op.drop_index("ix_jobs_key", "jobs")
    op.create_index(
        "ux_jobs_pending_key",
        "jobs",
        ["key", "kind"],
        unique=True,
        sqlite_where=sa.text(PENDING_COALESCING),
        postgresql_where=sa.text(PENDING_COALESCING),
    )
    op.execute(
        sa.text("UPDATE schema_version SET version = 8, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def _fold_pending_groups() -> None:
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.BigInteger),
        sa.column("key", sa.String),
        sa.column("kind", sa.String),
        sa.column("payload"),
        sa.column("status", sa.String),
        sa.column("priority", sa.Integer),
        sa.column("run_after"),
    )
    group = jobs.alias("group_member")
    bind = op.get_bind()
    pending = jobs.c.status == "pending"
    groups = (
        sa.select(jobs.c.key, jobs.c.kind, sa.func.min(jobs.c.id), sa.func.max(jobs.c.id))
        .where(pending)
        .group_by(jobs.c.key, jobs.c.kind)
        .having(sa.func.count() > 1)
    )
    for key, kind, oldest, newest in bind.execute(groups).all():
        members = (group.c.key == key, group.c.kind == kind, group.c.status == "pending")
        # Values are copied inside the database: no type of this file's has to read them back the same.
        bind.execute(
            sa.update(jobs)
            .where(jobs.c.id == oldest)
            .values(
                payload=sa.select(group.c.payload).where(group.c.id == newest).scalar_subquery(),
                run_after=sa.select(sa.func.min(group.c.run_after)).where(*members).scalar_subquery(),
                priority=sa.select(sa.func.max(group.c.priority)).where(*members).scalar_subquery(),
            )
        )
        bind.execute(sa.delete(jobs).where(pending, jobs.c.key == key, jobs.c.kind == kind, jobs.c.id != oldest))


def downgrade() -> None:
    op.drop_index("ux_jobs_pending_key", "jobs")
    op.create_index("ix_jobs_key", "jobs", ["key"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("coalesces")
    op.execute("UPDATE schema_version SET version = 7 WHERE id = 1")
