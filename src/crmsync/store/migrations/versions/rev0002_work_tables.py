"""Schema 2: the jobs queue, parked conflicts, sync errors and the audit trail."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("status IN ('pending', 'running')")
PENDING = sa.text("status = 'pending'")
RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_after", TS, nullable=False),
        sa.Column("locked_by", sa.String(128)),
        sa.Column("locked_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_jobs_live_key", "jobs", ["key", "id"], sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index("ix_jobs_pending", "jobs", ["run_after"], sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index("ux_jobs_running_key", "jobs", ["key"], unique=True, sqlite_where=RUNNING, postgresql_where=RUNNING)
    op.create_table(
        "conflicts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("canonical_id", sa.String(64), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("base", sa.JSON),
        sa.Column("sides", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.JSON),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("resolved_at", TS),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_conflicts_record", "conflicts", ["canonical_id", "field"])
    op.create_index("ix_conflicts_status", "conflicts", ["status"])
    op.create_table(
        "sync_errors",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(128), nullable=False),
        sa.Column("object", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("canonical_id", sa.String(64)),
        sa.Column("remote_id", sa.String(255)),
        sa.Column("field", sa.String(128)),
        sa.Column("code", sa.String(128)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
    )
    op.create_index("ix_sync_errors_subject", "sync_errors", ["connection", "object", "canonical_id", "remote_id"])
    op.create_table(
        "audit",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("canonical_id", sa.String(64), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("old", sa.JSON),
        sa.Column("new", sa.JSON),
        sa.Column("connection", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_audit_record", "audit", ["canonical_id", "id"])
    op.execute(
        sa.text("UPDATE schema_version SET version = 2, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    for table in ("audit", "sync_errors", "conflicts", "jobs"):
        op.drop_table(table)
    op.execute("UPDATE schema_version SET version = 1 WHERE id = 1")
