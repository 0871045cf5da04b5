"""Schema 10: the vendor fields each connection's object was read with, so a field mapped later is read in full.

A database from before starts with no row: its connections keep the fields they are read with at their next
sync (what was read before is not known), and from then on a field added to the mapping is read in full once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_fields",
        sa.Column("connection", sa.String(128), primary_key=True),
        sa.Column("object", sa.String(128), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        sa.text("UPDATE schema_version SET version = 10, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_table("read_fields")
    op.execute("UPDATE schema_version SET version = 9 WHERE id = 1")
