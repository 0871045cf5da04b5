"""Schema 6: request counts per rate window slice, so workers in several processes share a vendor's limits."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("slice", sa.BigInteger, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
    )
    op.execute(
        sa.text("UPDATE schema_version SET version = 6, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
    op.execute("UPDATE schema_version SET version = 5 WHERE id = 1")
