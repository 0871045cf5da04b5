"""Schema 1: the schema version, the identity map, shadows, golden records and cursors."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    version = op.create_table(
        "schema_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("written_by", sa.String(64), nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 1, "written_by": crmsync.__version__}])
    op.create_table(
        "links",
        sa.Column("connection", sa.String(128), primary_key=True),
        sa.Column("object", sa.String(128), primary_key=True),
        sa.Column("remote_id", sa.String(255), primary_key=True),
        sa.Column("canonical_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_links_canonical", "links", ["canonical_id", "connection"])
    op.create_table(
        "shadows",
        sa.Column("canonical_id", sa.String(64), primary_key=True),
        sa.Column("connection", sa.String(128), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("version_token", sa.String(255)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("canonical_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_records_kind", "records", ["kind"])
    op.create_table(
        "cursors",
        sa.Column("connection", sa.String(128), primary_key=True),
        sa.Column("object", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("cursors", "records", "shadows", "links", "schema_version"):
        op.drop_table(table)
