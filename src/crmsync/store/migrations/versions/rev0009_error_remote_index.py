"""Schema 9: sync errors are found by the remote record they are about, whatever canonical record they name.

A record deleted in its CRM or merged away takes its errors along (`SyncErrors.clear_remote`), by remote
id; the subject index leads with the canonical id after the connection, so each such record scanned its
connection's errors.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sync_errors_remote", "sync_errors", ["connection", "object", "remote_id"])
    op.execute(
        sa.text("UPDATE schema_version SET version = 9, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    op.drop_index("ix_sync_errors_remote", "sync_errors")
    op.execute("UPDATE schema_version SET version = 8 WHERE id = 1")
