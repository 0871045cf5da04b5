"""`column IN (values)` for a batch of keys, written the way each backend answers it best."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


__all__ = ["among"]
