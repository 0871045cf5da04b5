"""GroupCommit: concurrent webhook requests share transactions, and each learns the fate of its own commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from crmsync.service.receiver import GroupCommit
from crmsync.store import NewJob, Store, Transaction, open_store


class Unavailable(Exception):
    """What a state database that cannot be reached raises."""


class CountingStore(Store):
    """A real SQLite store that counts its write transactions and can be told to fail them."""

    begun = 0
    failure: Exception | None = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Transaction]:
        self.begun += 1
        if self.failure is not None:
            raise self.failure
        async with super().begin() as tx:
            yield tx


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'state.db'}")
    counting = CountingStore(opened.engine)
    try:
        yield counting
    finally:
        await counting.aclose()


def _requests(count: int) -> list[list[NewJob]]:
    return [
        [NewJob(f"in:hubspot/contacts/{n}", "refetch:contact:hubspot", {"remote_id": str(n)})] for n in range(count)
    ]


async def test_a_burst_shares_a_few_transactions_and_every_hint_is_committed(store: CountingStore) -> None:
    commit = GroupCommit(store)
    await asyncio.gather(*(commit.queue(jobs) for jobs in _requests(50)))
    assert store.begun <= 2  # one for the burst (a second at most, for stragglers), not one per request
    async with store.read() as tx:
        assert (await tx.jobs.counts()).get("pending") == 50


async def test_requests_that_wait_while_the_writer_is_busy_join_the_next_commit(store: CountingStore) -> None:
    commit = GroupCommit(store)
    async with store.begin():  # a sync pass holds the SQLite writer
        waiting = [asyncio.ensure_future(commit.queue(jobs)) for jobs in _requests(5)]
        for _ in range(3):  # the requests queue, the flusher starts and waits for the writer
            await asyncio.sleep(0)
        assert store.begun == 2
        waiting += [asyncio.ensure_future(commit.queue(jobs)) for jobs in _requests(10)[5:]]
        for _ in range(3):
            await asyncio.sleep(0)
    await asyncio.gather(*waiting)
    assert store.begun == 2  # the pass's, then one commit for all ten requests
    async with store.read() as tx:
        assert (await tx.jobs.counts()).get("pending") == 10


async def test_when_no_transaction_can_begin_every_waiting_request_fails_and_nothing_spins(
    store: CountingStore,
) -> None:
    store.failure = Unavailable("the state database is unavailable")
    commit = GroupCommit(store)
    outcomes = await asyncio.gather(*(commit.queue(jobs) for jobs in _requests(20)), return_exceptions=True)
    assert all(outcome is store.failure for outcome in outcomes)
    assert store.begun == 1
    store.failure = None
    await commit.queue(_requests(1)[0])  # the next request commits as usual
    async with store.read() as tx:
        assert (await tx.jobs.counts()).get("pending") == 1
