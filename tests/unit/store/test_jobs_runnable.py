"""`JobQueue.runnable`: the one look a pass of hints takes per object kind before claiming from its queues."""

from __future__ import annotations

import inspect
from datetime import timedelta

from crmsync.engine import merges, outbox, tombstones
from crmsync.engine.runner import job_kinds
from crmsync.store import NewJob, Store
from tests.unit.store.helpers import FakeClock

CONTACT_KINDS = ["refetch:contact:hubspot", "write:contact:hubspot", "delete:contact"]


async def test_a_pending_job_of_the_kind_is_runnable(store: Store) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue(NewJob("hubspot/1", "write:contact:hubspot", {}))
    async with store.read() as tx:
        assert await tx.jobs.runnable(["refetch:contact:hubspot", "write:contact:hubspot"])
        assert not await tx.jobs.runnable(["write:company:hubspot"])
        assert not await tx.jobs.runnable([])


async def test_jobs_that_cannot_run_now_do_not_count(store: Store, clock: FakeClock) -> None:
    async with store.begin() as tx:
        await tx.jobs.enqueue(NewJob("in:hubspot/contacts/1", "refetch:contact:hubspot", {}))
        later = clock() + timedelta(minutes=5)
        await tx.jobs.enqueue(NewJob("hubspot/2", "write:contact:hubspot", {}, run_after=later))
        await tx.jobs.enqueue(NewJob("contact:3", "delete:company", {}))  # another object kind
        await tx.jobs.claim("worker-a", ["refetch:contact:hubspot"])
    async with store.read() as tx:
        assert not await tx.jobs.runnable(CONTACT_KINDS)  # running, backing off, or not asked for
    clock.advance(timedelta(minutes=5))
    async with store.read() as tx:
        assert await tx.jobs.runnable(CONTACT_KINDS)


def test_a_pass_asks_for_every_job_kind_the_engine_queues_for_an_object_kind() -> None:
    """Every `*_kind` maker of the engine: a kind missing from `job_kinds` would never run in a pass of hints."""
    makers = [
        function
        for module in (outbox, merges, tombstones)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.endswith("_kind") and function.__module__ == module.__name__
    ]
    assert len(makers) == 9
    asked = set(job_kinds("deal", ["hubspot", "salesforce"]))
    for make in makers:
        takes_connection = len(inspect.signature(make).parameters) == 2
        for connection in ["hubspot", "salesforce"] if takes_connection else [None]:
            made = make("deal", connection) if connection else make("deal")
            assert made in asked, make.__name__
