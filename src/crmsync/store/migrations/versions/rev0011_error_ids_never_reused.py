"""Schema 11: a sync error's id (E-12) is never given to another error, on SQLite as on PostgreSQL.

SQLite hands a rowid table's next row the largest id plus one, so once a retry cleared the newest errors
their ids went to the next ones: an operator who noted E-12 later found a different error under E-12.
AUTOINCREMENT keeps the largest id ever used instead; SQLite sets it only when a table is created, so the
table is recreated (batch mode copies its rows and recreates its indexes). PostgreSQL's sequence never
hands an id out twice already: nothing changes there but the version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("sync_errors", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass  # the copy keeps every row, column and index: only the table's own option changes


def upgrade() -> None:
    _recreate(True)
    op.execute(
        sa.text("UPDATE schema_version SET version = 11, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    _recreate(False)
    op.execute("UPDATE schema_version SET version = 10 WHERE id = 1")
