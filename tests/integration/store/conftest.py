"""PostgreSQL for the store tests: one throwaway database per test run, emptied before each test.

Skipped with a reason when no server answers, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crmsync.store import Store, open_store
from tests.unit.store.helpers import FakeClock

ADMIN_URL = os.environ.get("CRMSYNC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def _admin(statement: str) -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"crmsync_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(asyncio.wait_for(_admin(f'CREATE DATABASE "{name}"'), timeout=10))
    except (OSError, sa.exc.SQLAlchemyError, TimeoutError) as unreachable:
        reason = f"PostgreSQL is unreachable at {ADMIN_URL}: {unreachable}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests are mandatory)")
        pytest.skip(reason)
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def empty_schema(url: str) -> str:
    """Drop every table of the run's database (tests share it), so the next store starts from nothing; the url."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            await connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def store_url(postgres_url: str) -> str:
    # Tests share the run's database: start each from an empty schema at head.
    return await empty_schema(postgres_url)


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(store_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()
