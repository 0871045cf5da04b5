"""Where a process counts its rate windows with the others: Redis when configured, else PostgreSQL, else nowhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from crmsync.connectors.base import Connector
from crmsync.connectors.limits import Rate, RateLimiter
from crmsync.engine.redis_windows import RedisWindows
from crmsync.engine.runner import SyncRunner
from crmsync.engine.shared_limits import share_rate_limits, shared_windows
from crmsync.store import Store, open_store
from tests.unit.config.helpers import ENV, HUBSPOT_ONLY, parse

REDIS = "redis://:not-shown-anywhere@127.0.0.1:6379/0"


@dataclass
class Limited:
    """A connector's limiters, all the sharing looks at."""

    limiters: tuple[RateLimiter, ...]


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield store
    finally:
        await store.aclose()


async def test_on_sqlite_without_redis_nothing_is_shared(sqlite_store: Store) -> None:
    assert shared_windows(parse(HUBSPOT_ONLY), sqlite_store) is None


async def test_redis_when_configured_even_on_sqlite_without_showing_its_password(sqlite_store: Store) -> None:
    config = parse("state: {redis_url: {env: REDIS_URL}}\n" + HUBSPOT_ONLY, {**ENV, "REDIS_URL": REDIS})
    windows = shared_windows(config, sqlite_store)
    try:
        assert isinstance(windows, RedisWindows)
        assert windows.url_safe == "redis://:***@127.0.0.1:6379/0"
        assert "not-shown-anywhere" not in repr(windows)
        assert windows.window_key("hubspot (search)", 1.0) == "crmsync:rate:{hubspot (search)}@1s"
    finally:
        if windows is not None:
            await cast(RedisWindows, windows).aclose()


async def test_every_limiter_of_every_connector_shares_and_the_runner_closes_redis(sqlite_store: Store) -> None:
    config = parse("state: {redis_url: 'redis://127.0.0.1:6379/0'}\n" + HUBSPOT_ONLY)
    limiters = (RateLimiter("hs", [Rate(190, 10.0)]), RateLimiter("hs (search)", [Rate(5, 1.0)]))
    connectors = cast(dict[str, Connector], {"hs": Limited(limiters), "other": object()})
    async with SyncRunner(config, sqlite_store, connectors) as runner:
        windows: Any = runner._windows
        assert isinstance(windows, RedisWindows)
        assert all(limiter._shared is windows for limiter in limiters)
    await runner.aclose()  # closing twice is harmless (the service and a caller may both close)
    assert share_rate_limits(connectors, windows) == 2  # a connector without limiters is left alone
