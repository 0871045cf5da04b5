"""`column IN (values)` for a batch of keys, written the way each backend answers it best, and the batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection


def among(db: AsyncConnection, column: sa.ColumnElement[Any], values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`.

    An IN list is rendered anew at every execution, one placeholder and cast per value (500 keys a
    batch), and each length is another statement text, which asyncpg prepares and PostgreSQL plans
    again. One array parameter keeps one text per query and skips the rendering.
    """
    if db.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


T = TypeVar("T")

BATCH = 500
"""Keys per statement: short enough for any backend's parameter limit, long enough to keep statements few."""


def chunks(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    """`items` in consecutive slices of `size`, for one statement each."""
    return [items[start : start + size] for start in range(0, len(items), size)]


__all__ = ["BATCH", "among", "chunks"]
