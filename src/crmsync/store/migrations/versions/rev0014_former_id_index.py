"""Schema 14: a former remote id is found through an index, not by scanning the whole audit.

`crmsync explain KIND ID` (and the dashboard's record page) given an id whose link a delete or a vendor merge
removed finds the record by its `@remote_id` audit entry. The query matched the id as a substring of every
audit row's `old` value: a scan of the largest table in the database, one per id spelling tried. A partial
index on the JSON text of those entries' `old` value makes it an indexed equality lookup, on SQLite and
PostgreSQL alike. The index is spelled here as it was at this revision; `tables.py` holds the current one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0014"
down_revision: str | None = "0013"
branch_labels = None
depends_on = None

_FORMER_IDS = "field = '@remote_id'"


def upgrade() -> None:
    op.create_index(
        "ix_audit_former_id",
        "audit",
        [sa.text("CAST(old AS TEXT)")],
        sqlite_where=sa.text(_FORMER_IDS),
        postgresql_where=sa.text(_FORMER_IDS),
    )
    op.execute(
        sa.text("UPDATE schema_version SET version = 14, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_index("ix_audit_former_id", "audit")
    op.execute("UPDATE schema_version SET version = 13 WHERE id = 1")
