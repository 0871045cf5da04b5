"""Two processes asking for one lease at the same moment on PostgreSQL: exactly one holds it, neither crashes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from crmsync.store import Store, open_store
from crmsync.store.leases import Acquired, Held
from tests.integration.store.pg_locks import someone_waits_for_a_row
from tests.unit.store.helpers import FakeClock

pytestmark = pytest.mark.postgres

TTL = timedelta(seconds=90)


def _alive(_: object) -> bool:
    return False


async def _race(store: Store, store_url: str, clock: FakeClock) -> tuple[Acquired | Held, Acquired | Held]:
    """`first` acquires `serve` and keeps its transaction open while `second` asks; then both finish."""
    other = await open_store(store_url, clock=clock, migrate_schema=False)
    try:
        async with store.begin() as tx:
            first = await tx.leases.acquire("serve", "serve:a", "host-a", 1, TTL, is_dead=_alive)

            async def second_asks() -> Acquired | Held:
                async with other.begin() as tx2:
                    return await tx2.leases.acquire("serve", "serve:b", "host-b", 2, TTL, is_dead=_alive)

            asking = asyncio.create_task(second_asks())
            while not await someone_waits_for_a_row(store):
                assert not asking.done(), f"the second acquire did not wait for the first: {asking.result()}"
        return first, await asking
    finally:
        await other.aclose()


async def test_an_absent_lease_asked_for_at_once_goes_to_one_and_the_other_sees_it_held(
    store: Store, store_url: str, clock: FakeClock
) -> None:
    first, second = await _race(store, store_url, clock)
    assert isinstance(first, Acquired)
    assert isinstance(second, Held) and second.lease.holder == "serve:a"  # not a duplicate-key crash


async def test_an_expired_lease_taken_over_at_once_goes_to_one(store: Store, store_url: str, clock: FakeClock) -> None:
    async with store.begin() as tx:
        await tx.leases.acquire("serve", "serve:gone", "host-c", 3, TTL, is_dead=_alive)
    clock.advance(TTL * 2)
    first, second = await _race(store, store_url, clock)
    assert isinstance(first, Acquired) and first.previous is not None and first.previous.holder == "serve:gone"
    assert isinstance(second, Held) and second.lease.holder == "serve:a"  # it did not take it over a second time
    async with store.read() as tx:
        held = await tx.leases.get("serve")
    assert held is not None and held.holder == "serve:a"
