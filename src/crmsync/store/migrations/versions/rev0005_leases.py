"""Schema 5: named leases, so one sync run at a time holds the outbox and a dead run's work is taken over."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.execute(
        sa.text("UPDATE schema_version SET version = 5, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.execute("UPDATE schema_version SET version = 4 WHERE id = 1")
