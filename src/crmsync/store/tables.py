"""SQLAlchemy Core table definitions of the state database (DESIGN §3); migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

SCHEMA_VERSION = 14
"""Bumped with every migration; stored in `schema_version` so a newer database is refused by name."""


class _SqliteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME text (`2026-11-27 19:55:00.000000`), written by `isoformat` instead of a %-format.

    Every state row carries a few timestamps: SQLAlchemy's formatting of them was 3 % of a full sync's time,
    and `isoformat` (C) writes the same text about three times faster.
    """

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(" ", "microseconds")

        return process


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both backends.

    SQLite has no time zone type: values are stored as naive UTC text, which sorts and compares
    correctly only because every value is normalised to UTC first.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteDateTime())  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use aware UTC datetimes")
        if value.tzinfo is not UTC:  # the common case needs no conversion (many values per statement)
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only aliases the rowid (and so auto-increments) for a column typed exactly INTEGER.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("written_by", sa.String(64), nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("object", sa.String(128), primary_key=True),
    sa.Column("remote_id", sa.String(255), primary_key=True),
    sa.Column("canonical_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_links_canonical", "canonical_id", "connection"),
)

shadows = sa.Table(
    "shadows",
    metadata,
    sa.Column("canonical_id", sa.String(64), primary_key=True),
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version_token", sa.String(255)),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("canonical_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("provenance", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_records_kind", "kind"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("object", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The vendor fields last read in full per (connection, object) (schema 10): a field mapped since is read in full
# once. Its own table, not cursor rows: `crmsync status` and the dashboard list the cursors.
read_fields = sa.Table(
    "read_fields",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("object", sa.String(128), primary_key=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

PENDING_COALESCING = "status = 'pending' AND coalesces"
"""The predicate of `ux_jobs_pending_key`, spelled the same wherever an upsert names that index."""

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_after", UtcDateTime, nullable=False),
    sa.Column("locked_by", sa.String(128)),
    sa.Column("locked_until", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    # False for a job queued with `coalesce=False`: it never absorbs, nor is absorbed by, another.
    sa.Column("coalesces", sa.Boolean, nullable=False, server_default=sa.true()),
    # Per-key ordering looks for an earlier live job of the same key.
    sa.Index(
        "ix_jobs_live_key",
        "key",
        "id",
        sqlite_where=sa.text("status IN ('pending', 'running')"),
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    ),
    sa.Index(
        "ix_jobs_pending",
        "run_after",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
    # Claims of one kind walk this in priority order instead of sorting every pending job.
    sa.Index(
        "ix_jobs_claim",
        "kind",
        sa.text("priority DESC"),
        "id",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
    # One pending coalescing job per key and kind: an enqueue folds into it with one atomic upsert (no lock),
    # and a job given back to pending folds a newer one into itself.
    sa.Index(
        "ux_jobs_pending_key",
        "key",
        "kind",
        unique=True,
        sqlite_where=sa.text(PENDING_COALESCING),
        postgresql_where=sa.text(PENDING_COALESCING),
    ),
    # Safety net for invariant 4: one running job per key, whatever the claim query does.
    sa.Index(
        "ux_jobs_running_key",
        "key",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("canonical_id", sa.String(64), nullable=False),
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("base", sa.JSON),
    # False: parked at a first meeting, where no value was agreed (`base` is none); NULL: parked before schema 13.
    sa.Column("has_base", sa.Boolean),
    sa.Column("sides", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolution", sa.JSON),
    sa.Column("resolved_by", sa.String(128)),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_conflicts_record", "canonical_id", "field"),
    sa.Index("ix_conflicts_status", "status"),
)

sync_errors = sa.Table(
    "sync_errors",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("object", sa.String(128), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("canonical_id", sa.String(64)),
    sa.Column("remote_id", sa.String(255)),
    sa.Column("field", sa.String(128)),
    sa.Column("code", sa.String(128)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Index("ix_sync_errors_subject", "connection", "object", "canonical_id", "remote_id"),
    sa.Index("ix_sync_errors_remote", "connection", "object", "remote_id"),  # a remote record's errors, any subject
    # An id (E-12) names one error for good: without AUTOINCREMENT SQLite reuses the largest id once it is
    # deleted (a retry clears errors), and a noted E-12 would name another error (schema 11).
    sqlite_autoincrement=True,
)

FORMER_ID_FIELD = "@remote_id"
"""Audit pseudo-field of a remote id unlinked because its record was deleted or merged away there (`old`: the id)."""
FORMER_IDS = f"field = '{FORMER_ID_FIELD}'"
"""The predicate of `ix_audit_former_id`, spelled the same (a literal, not a parameter) where a query uses it."""
FORMER_ID_TEXT = "CAST(old AS TEXT)"
"""What `ix_audit_former_id` indexes: the id's JSON text (`"003…"`), comparable on both backends (PostgreSQL's
`json` has no equality) and the same expression SQLAlchemy renders for `sa.cast(audit.c.old, sa.Text)`."""

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("canonical_id", sa.String(64), nullable=False),
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("old", sa.JSON),
    sa.Column("new", sa.JSON),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    # Field changes the row holds: 1, or several in `new` when `field` is `audit.GROUPED` (schema 7).
    sa.Column("changes", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Index("ix_audit_record", "canonical_id", "id"),
    # `crmsync explain` (and the dashboard) given a former id finds its record through this (schema 14): a few rows
    # per deleted or merged-away copy, instead of a scan of the whole audit.
    sa.Index(
        "ix_audit_former_id",
        sa.text(FORMER_ID_TEXT),
        sqlite_where=sa.text(FORMER_IDS),
        postgresql_where=sa.text(FORMER_IDS),
    ),
)

match_keys = sa.Table(
    "match_keys",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("canonical_id", sa.String(64), nullable=False),
    sa.Index("ix_match_keys_canonical", "canonical_id"),
)

# Records a filter kept out, by the match key they held when last read, so a twin that passes the filter later is
# linked to them instead of created again beside them (schema 12). A record leaves the table once linked.
kept_out = sa.Table(
    "kept_out",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("object", sa.String(128), primary_key=True),
    sa.Column("remote_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("met_at", UtcDateTime, nullable=False),
    sa.Index("ix_kept_out_key", "kind", "key"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# Requests admitted per (limit key, time slice): several processes' limiters count together (schema 6).
rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("slice", sa.BigInteger, primary_key=True),
    sa.Column("requests", sa.Integer, nullable=False),
)
