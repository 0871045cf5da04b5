"""Fixtures for the state store tests: a SQLite file per test and a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crmsync.store import Store, open_store
from tests.unit.store.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    # A file, never ":memory:": in-memory SQLite is one connection's private database.
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(store_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()
