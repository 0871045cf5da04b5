"""Schema 7: an audit row may hold several field changes of one record made at once (`changes` counts them).

A first sync wrote one row per field of every record: ten rows, and ten entries in the record index, per
contact. Changes of one record from one connection, by one rule, at one time now share a row. Rows written
before stay as they are: one change each.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit", sa.Column("changes", sa.Integer, nullable=False, server_default=sa.text("1")))
    op.execute(
        sa.text("UPDATE schema_version SET version = 7, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


GROUPED = "*"  # `crmsync.store.audit.GROUPED`, spelled out: a migration must not change with the code


def downgrade() -> None:
    """Each grouped row becomes one row per change again (after the rows already there), then `changes` goes."""
    audit = sa.table(
        "audit",
        sa.column("id", sa.Integer),
        sa.column("canonical_id", sa.String),
        sa.column("field", sa.String),
        sa.column("old", sa.JSON),
        sa.column("new", sa.JSON),
        sa.column("connection", sa.String),
        sa.column("reason", sa.String),
        sa.column("at"),
    )
    bind = op.get_bind()
    grouped = bind.execute(sa.select(audit).where(audit.c.field == GROUPED).order_by(audit.c.id)).all()
    rows = [
        {
            "canonical_id": row.canonical_id,
            "field": name,
            "old": old,
            "new": new,
            "connection": row.connection,
            "reason": row.reason,
            "at": row.at,
        }
        for row in grouped
        for name, old, new in row.new
    ]
    if rows:
        bind.execute(sa.insert(audit), rows)
    bind.execute(sa.delete(audit).where(audit.c.field == GROUPED))
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("changes")
    op.execute("UPDATE schema_version SET version = 6 WHERE id = 1")
