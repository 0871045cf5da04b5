"""Redis for the shared-rate-limit tests: a reachable server, and a key prefix per test removed afterwards.

Skipped with a reason when no server answers, except under CI=true, where that is a failure.
Import the fixtures into a test module (`from tests.integration.store.redis_server import redis_url, redis_prefix`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _ping(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        asyncio.run(asyncio.wait_for(_ping(REDIS_URL), timeout=10))
    except (OSError, RedisError, TimeoutError) as unreachable:
        reason = f"Redis is unreachable at {REDIS_URL}: {unreachable}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: Redis tests are mandatory)")
        pytest.skip(reason)
    return REDIS_URL


async def delete_keys(url: str, pattern: str) -> int:
    """Remove the keys a test left (slices expire anyway; this keeps the server clean at once)."""
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=500)]
        return int(await client.delete(*keys)) if keys else 0
    finally:
        await client.aclose()


async def counts_under(url: str, prefix: str) -> dict[str, int]:
    """Every key under `prefix` (the slices of rate windows) with its count."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        return {str(key): int(await client.get(key) or 0) async for key in client.scan_iter(match=f"{prefix}*")}
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix no other test (or test run) uses."""
    prefix = f"crmsync-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    await delete_keys(redis_url, f"{prefix}*")
