"""Schema 12: the match keys of records a filter kept out, so a twin that passes later is linked to them.

A database from before starts with no row: records kept out before the upgrade are known again once read again
(an edit, or `crmsync sync --full`), and until then a twin made later is created beside them as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_out",
        sa.Column("connection", sa.String(128), primary_key=True),
        sa.Column("object", sa.String(128), primary_key=True),
        sa.Column("remote_id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kept_out_key", "kept_out", ["kind", "key"])
    op.execute(
        sa.text("UPDATE schema_version SET version = 12, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_table("kept_out")
    op.execute("UPDATE schema_version SET version = 11 WHERE id = 1")
