"""Schema 3: the match-key index, so a record seen for the first time finds its twin without a scan."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_keys",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("canonical_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_match_keys_canonical", "match_keys", ["canonical_id"])
    op.execute(
        sa.text("UPDATE schema_version SET version = 3, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_table("match_keys")
    op.execute("UPDATE schema_version SET version = 2 WHERE id = 1")
