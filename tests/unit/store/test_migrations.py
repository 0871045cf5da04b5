"""Migrations: a new database gets the whole schema, an older one is migrated, a newer one is refused."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import crmsync
from crmsync.engine.views.common import NotFoundError
from crmsync.engine.views.explain import find_record, former_id_query
from crmsync.store import AuditEntry, Link, StoreVersionError, SyncErrorReport, open_store
from crmsync.store.engine import create_engine
from crmsync.store.migrate import _config, current_revision, head_revision, migrate
from crmsync.store.tables import SCHEMA_VERSION, UtcDateTime, audit, metadata, sync_errors

EXPRESSION_INDEXES = {"ix_jobs_claim", "ix_audit_former_id"}
"""Alembic cannot compare an index on an expression (`priority DESC`, `CAST(old AS TEXT)`): it always reports it as
changed."""


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"include_object": _include})
    with warnings.catch_warnings():
        # SQLite's reflection skips an index on an expression with a warning (PostgreSQL's reflects it): left out
        # of the comparison either way; `_index_names` checks that it is there.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index 'ix_audit")
        return list(compare_metadata(context, metadata))


def _index_names(connection: Connection, table: str) -> set[str]:
    """The table's index names, those on expressions included (SQLite's reflection skips them)."""
    if connection.dialect.name == "sqlite":
        found = connection.exec_driver_sql(
            f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
        )
        return {str(row[0]) for row in found}
    return {str(ix["name"]) for ix in sa.inspect(connection).get_indexes(table)}


async def test_new_database_matches_the_table_definitions(store_url: str) -> None:
    store = await open_store(store_url)
    async with store.engine.connect() as connection:
        assert await connection.run_sync(_schema_diff) == []
        indexes = await connection.run_sync(lambda c: _index_names(c, "audit"))
        assert {"ix_audit_record", "ix_audit_former_id"} <= indexes
        assert await connection.run_sync(current_revision) == head_revision()
        row = (await connection.execute(sa.text("SELECT version, written_by FROM schema_version"))).one()
    assert tuple(row) == (SCHEMA_VERSION, crmsync.__version__)
    await store.aclose()


async def test_older_database_is_migrated_keeping_its_data(store_url: str) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0001")  # as written by a crmsync with schema 1
    async with engine.begin() as connection:
        assert not await connection.run_sync(lambda c: sa.inspect(c).has_table("jobs"))
        await connection.execute(
            sa.text(
                "INSERT INTO links (connection, object, remote_id, canonical_id, kind, created_at) "
                "VALUES ('sf', 'Contact', '003', 'c1', 'contact', '2026-01-01 00:00:00')"
            )
        )
    await engine.dispose()

    store = await open_store(store_url)
    async with store.read() as tx:
        assert await tx.links.remote_links("c1") == [Link("c1", "contact", "sf", "Contact", "003")]
        assert await tx.jobs.list() == []
        assert await tx.connection.run_sync(current_revision) == head_revision()
    await store.aclose()


async def test_reopening_is_a_no_op(store_url: str) -> None:
    for _ in range(2):
        store = await open_store(store_url)
        await store.aclose()
    store = await open_store(store_url)
    async with store.read() as tx:
        assert await tx.connection.run_sync(current_revision) == head_revision()
    await store.aclose()


async def test_newer_database_is_refused_naming_both_versions(store_url: str, tmp_path: Path) -> None:
    store = await open_store(store_url)
    async with store.begin() as tx:
        await tx.connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
        await tx.connection.execute(sa.text("UPDATE schema_version SET version = 99, written_by = '9.0.0'"))
    await store.aclose()
    with pytest.raises(StoreVersionError) as refused:
        await open_store(store_url)
    message = str(refused.value)
    for expected in ("crmsync 9.0.0", "schema 99", "0099", crmsync.__version__, f"schema {SCHEMA_VERSION}"):
        assert expected in message


async def test_audit_rows_of_schema_6_count_one_change_each_after_the_upgrade(store_url: str) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0006")
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO audit (canonical_id, field, old, new, connection, reason, at) "
                "VALUES ('c1', 'email', 'null', '\"a@x.io\"', 'sf', 'prefer', '2026-01-01 00:00:00.000000')"
            )
        )
    await engine.dispose()

    store = await open_store(store_url)
    async with store.read() as tx:
        assert [(e.field, e.old, e.new) for e in await tx.audit.list("c1")] == [("email", None, "a@x.io")]
        assert (await tx.connection.execute(sa.select(audit.c.changes))).scalars().all() == [1]
    await store.aclose()


async def test_going_back_to_schema_6_gives_each_grouped_change_its_own_row(store_url: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        AuditEntry("c1", name, None, value, "sf", "prefer", at) for name, value in (("email", "a@x.io"), ("n", 2))
    ]
    store = await open_store(store_url)
    async with store.begin() as tx:
        await tx.audit.append([AuditEntry("c1", "title", "a", "b", "hs", "last_writer_wins", at), *entries])
    await store.aclose()

    engine = create_engine(store_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0006"))
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda c: [col["name"] for col in sa.inspect(c).get_columns("audit")])
        schema_6 = sa.table(
            "audit", sa.column("id"), sa.column("field"), sa.column("old", sa.JSON), sa.column("new", sa.JSON),
            sa.column("reason"),
        )  # fmt: skip
        query = sa.select(schema_6.c.field, schema_6.c.old, schema_6.c.new, schema_6.c.reason).order_by(schema_6.c.id)
        rows = (await connection.execute(query)).all()
        version = (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one()
    await engine.dispose()
    assert "changes" not in columns and version == 6
    assert [tuple(row) for row in rows] == [
        ("title", "a", "b", "last_writer_wins"),
        ("email", None, "a@x.io", "prefer"),
        ("n", None, 2, "prefer"),
    ]


async def test_pending_jobs_of_one_key_and_kind_of_schema_7_are_folded_into_the_oldest(store_url: str) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0007")
    insert = sa.text(
        "INSERT INTO jobs (key, kind, payload, status, priority, attempts, run_after, created_at) "
        "VALUES (:key, :kind, :payload, :status, :priority, 1, :run_after, :run_after)"
    ).bindparams(sa.bindparam("payload", type_=sa.JSON), sa.bindparam("run_after", type_=UtcDateTime))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        ("a", "push", {"v": 1}, "pending", 0, at + timedelta(minutes=5)),  # given back after a failure
        ("a", "push", {"v": 2}, "pending", 5, at + timedelta(minutes=1)),  # queued while it ran
        ("a", "push", {"v": 0}, "done", 0, at),
        ("a", "link", {}, "pending", 0, at),
        ("b", "push", {"v": 1}, "pending", 0, at),
    ]
    async with engine.begin() as connection:
        for key, kind, payload, status, priority, run_after in rows:
            values = {"key": key, "kind": kind, "payload": payload, "status": status, "priority": priority}
            await connection.execute(insert, {**values, "run_after": run_after})
    await engine.dispose()

    store = await open_store(store_url)
    async with store.read() as tx:
        pending = await tx.jobs.list(status="pending")
        assert await tx.jobs.counts() == {"pending": 3, "done": 1}
    await store.aclose()
    folded = pending[0]
    assert (folded.id, folded.key, folded.kind, folded.payload, folded.priority) == (1, "a", "push", {"v": 2}, 5)
    assert folded.run_after == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert [(job.key, job.kind) for job in pending[1:]] == [("a", "link"), ("b", "push")]


async def test_a_schema_9_database_gets_an_empty_read_fields_table_and_keeps_its_cursors(store_url: str) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0009")
    async with engine.begin() as connection:
        assert not await connection.run_sync(lambda c: sa.inspect(c).has_table("read_fields"))
        await connection.execute(
            sa.text(
                "INSERT INTO cursors (connection, object, cursor, updated_at) "
                "VALUES ('sf', 'Contact', 't1', '2026-01-01 00:00:00')"
            )
        )
    await engine.dispose()

    store = await open_store(store_url)
    async with store.begin() as tx:
        assert await tx.cursors.get("sf", "Contact") == "t1"
        assert await tx.read_fields.get("sf", "Contact") is None
        await tx.read_fields.put("sf", "Contact", ["Email"])
        version = (await tx.connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one()
    async with store.read() as tx:
        assert await tx.read_fields.get("sf", "Contact") == frozenset({"Email"})
    await store.aclose()
    assert version == SCHEMA_VERSION

    engine = create_engine(store_url)  # and back: schema 9 had no such table
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0009"))
    async with engine.connect() as connection:
        assert not await connection.run_sync(lambda c: sa.inspect(c).has_table("read_fields"))
        assert (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one() == 9
    await engine.dispose()


async def test_sync_errors_of_schema_10_keep_rows_and_indexes_and_their_ids_are_never_reused(store_url: str) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0010")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    row = {"object": "Contact", "operation": "update", "message": "bad", "count": 1, "first_seen": at, "last_seen": at}
    async with engine.begin() as connection:
        for n in (1, 2, 3):
            await connection.execute(sa.insert(sync_errors).values(connection="sf", remote_id=f"00{n}", **row))
    await engine.dispose()

    store = await open_store(store_url)
    async with store.begin() as tx:
        assert [(e.id, e.report.remote_id) for e in await tx.errors.list()] == [(1, "001"), (2, "002"), (3, "003")]
        indexes = await tx.connection.run_sync(lambda c: {i["name"] for i in sa.inspect(c).get_indexes("sync_errors")})
        assert {"ix_sync_errors_subject", "ix_sync_errors_remote"} <= indexes
        assert await tx.errors.clear_id(3)
        again = await tx.errors.record(SyncErrorReport("sf", "Contact", "update", "other", remote_id="004"))
        assert await tx.connection.run_sync(current_revision) == head_revision()
    await store.aclose()
    assert again.id == 4  # not 3: E-3 stays the error that was cleared


async def test_going_back_to_schema_10_keeps_the_sync_errors(store_url: str) -> None:
    store = await open_store(store_url)
    async with store.begin() as tx:
        kept = await tx.errors.record(SyncErrorReport("sf", "Contact", "update", "bad", remote_id="001"))
    await store.aclose()

    engine = create_engine(store_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0010"))
    async with engine.connect() as connection:
        ids = (await connection.execute(sa.select(sync_errors.c.id, sync_errors.c.remote_id))).all()
        indexes = await connection.run_sync(lambda c: {i["name"] for i in sa.inspect(c).get_indexes("sync_errors")})
        version = (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one()
    await engine.dispose()
    assert [tuple(row) for row in ids] == [(kept.id, "001")] and version == 10
    assert {"ix_sync_errors_subject", "ix_sync_errors_remote"} <= indexes


async def test_a_schema_11_database_gets_an_empty_kept_out_table(store_url: str) -> None:
    """Records kept out before the upgrade are unknown until read again: nothing is invented for them."""
    engine = create_engine(store_url)
    await migrate(engine, "0011")
    async with engine.begin() as connection:
        assert not await connection.run_sync(lambda c: sa.inspect(c).has_table("kept_out"))
    await engine.dispose()

    store = await open_store(store_url)
    async with store.begin() as tx:
        assert await tx.kept_out.find("contact", ["k"]) == {}
        await tx.kept_out.keep("contact", "hs", "contacts", {"501": "k"})
        version = (await tx.connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one()
    await store.aclose()
    assert version == SCHEMA_VERSION

    engine = create_engine(store_url)  # and back: schema 11 had no such table
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0011"))
    async with engine.connect() as connection:
        assert not await connection.run_sync(lambda c: sa.inspect(c).has_table("kept_out"))
        assert (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one() == 11
    await engine.dispose()


async def test_conflicts_of_schema_12_are_judged_as_before_and_new_ones_keep_whether_they_had_a_base(
    store_url: str,
) -> None:
    engine = create_engine(store_url)
    await migrate(engine, "0012")
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO conflicts (canonical_id, field, base, sides, status, created_at) "
                "VALUES ('c1', 'title', '\"VP\"', '[]', 'open', '2026-01-01 00:00:00')"
            )
        )
    await engine.dispose()

    store = await open_store(store_url)
    async with store.begin() as tx:
        (older,) = await tx.conflicts.list()
        new = await tx.conflicts.park("c2", "title", None, [], has_base=False)
    await store.aclose()
    assert older.has_base is None and older.had_base(None)  # a base value: it had one, as judged before
    assert new.has_base is False and not new.had_base({"title": "VP"})  # stored: the golden value is no evidence

    engine = create_engine(store_url)  # and back: schema 12 kept no such column, and the conflicts stay
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0012"))
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("conflicts")})
        assert "has_base" not in columns
        assert (await connection.execute(sa.text("SELECT count(*) FROM conflicts"))).scalar_one() == 2
        assert (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one() == 12
    await engine.dispose()


def _plan(connection: Connection, query: sa.Select[Any]) -> str:
    """The backend's plan of `query` (its values inlined), as one text."""
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        return " | ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    # A handful of rows: PostgreSQL would rather read them all; the question is whether it can use the index.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " | ".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))


async def test_a_schema_13_database_finds_a_former_id_through_an_index(store_url: str) -> None:
    """`explain` by a former id looked it up with a substring match over the whole audit; schema 14 indexes it."""
    engine = create_engine(store_url)
    await migrate(engine, "0013")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        assert "ix_audit_former_id" not in await connection.run_sync(lambda c: _index_names(c, "audit"))
        noise = [AuditEntry(f"c{i}", "title", None, f"003OLD{i}", "sf", "change", at) for i in range(20)]
        await connection.execute(
            sa.insert(audit),
            [
                {"canonical_id": e.canonical_id, "field": e.field, "old": e.old, "new": e.new}
                | {"connection": e.connection, "reason": e.reason, "at": e.at}
                for e in noise
            ]
            + [
                {"canonical_id": "c1", "field": "@remote_id", "old": "003OLD", "new": None}
                | {"connection": "sf", "reason": "propagate", "at": at},
                {"canonical_id": "c2", "field": "@remote_id", "old": "003OLDER", "new": None}
                | {"connection": "sf", "reason": "merged away", "at": at},
            ],
        )
    await engine.dispose()

    store = await open_store(store_url)  # upgraded to head
    async with store.read() as tx:
        assert await find_record(tx, "contact", "003OLD") == "c1"
        assert await find_record(tx, "contact", "003OLDER") == "c2"
        for missing in ("003OL", "OLD", "003OLD1"):  # inside a former id, or another field's value: no record
            with pytest.raises(NotFoundError):
                await find_record(tx, "contact", missing)
        plan = await tx.connection.run_sync(lambda c: _plan(c, former_id_query("003OLD")))
        version = (await tx.connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one()
    await store.aclose()
    # Searched by the id's text (SQLite: SEARCH … USING INDEX; PostgreSQL: an Index Cond on it), not a scan of
    # the audit, nor of every former id.
    assert "ix_audit_former_id" in plan and "SCAN" not in plan, plan
    assert "SEARCH" in plan or "Index Cond: ((old)::text" in plan, plan
    assert version == SCHEMA_VERSION

    engine = create_engine(store_url)  # and back: schema 13 had no such index
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(_config(c), "0013"))
    async with engine.connect() as connection:
        assert "ix_audit_former_id" not in await connection.run_sync(lambda c: _index_names(c, "audit"))
        assert (await connection.execute(sa.text("SELECT version FROM schema_version"))).scalar_one() == 13
    await engine.dispose()
