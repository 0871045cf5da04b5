"""Schema 4: an index that serves claims of one job kind in priority order without sorting every pending job."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["kind", sa.text("priority DESC"), "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_jobs_key", "jobs", ["key"])
    op.execute(
        sa.text("UPDATE schema_version SET version = 4, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_key", "jobs")
    op.drop_index("ix_jobs_claim", "jobs")
    op.execute("UPDATE schema_version SET version = 3 WHERE id = 1")
