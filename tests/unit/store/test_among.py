"""`among`: batched key lookups are one array parameter on PostgreSQL and an IN list on SQLite."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among
from crmsync.store.tables import records


def _on(dialect: str) -> AsyncConnection:
    return cast(AsyncConnection, SimpleNamespace(dialect=SimpleNamespace(name=dialect)))


def test_postgresql_gets_one_statement_text_whatever_the_number_of_keys() -> None:
    texts = set()
    for keys in (["a"], ["a", "b", "c"], [str(n) for n in range(500)]):
        query = sa.select(records.c.canonical_id).where(among(_on("postgresql"), records.c.canonical_id, keys))
        compiled = query.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        texts.add(str(compiled))
        assert list(compiled.params.values()) == [keys]
    assert len(texts) == 1
    assert "= ANY (" in texts.pop()


def test_sqlite_keeps_an_in_list() -> None:
    query = sa.select(records.c.canonical_id).where(among(_on("sqlite"), records.c.canonical_id, iter(["a", "b"])))
    compiled = query.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True})
    assert "IN ('a', 'b')" in str(compiled)
