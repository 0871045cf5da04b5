"""Schema 13: whether a parked conflict had a base, stored with it.

Records met for the first time in different reads (one CRM's page, then another's) disagreed with a golden value
that only the first of them held. Judged from the golden record, such a conflict looked as if it had a base: the
first CRM's own value, shown as the agreed one, and a side that went back to it gave up, so the other side won
with no person choosing under `manual`. Conflicts parked before the upgrade keep NULL and are judged as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmsync

revision = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conflicts", sa.Column("has_base", sa.Boolean))
    op.execute(
        sa.text("UPDATE schema_version SET version = 13, written_by = :by WHERE id = 1").bindparams(
            by=crmsync.__version__
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("conflicts") as batch:
        batch.drop_column("has_base")
    op.execute("UPDATE schema_version SET version = 12 WHERE id = 1")
