"""The run lease: one sync at a time; a dead run is taken over and its claimed jobs are queued again.

And the reading lease a run holds on a kind while it reads it, which other passes leave alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from crmsync.engine.runlock import (
    READING_LEASE,
    RUN_LEASE,
    RunInProgressError,
    leases_being_read,
    process_gone,
    reading,
    reading_lease,
    run_lease,
)
from crmsync.store import NewJob, Store
from crmsync.store.leases import Lease
from tests.unit.store.helpers import FakeClock

_TTL = timedelta(seconds=90)


async def _being_read(store: Store, worker: str) -> set[str]:
    async with store.read() as tx:
        return await leases_being_read(tx, worker)


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def _claim_as(store: Store, holder: str, host: str, pid: int) -> int:
    async with store.begin() as tx:
        await tx.leases.acquire(RUN_LEASE, holder, host, pid, timedelta(seconds=90), is_dead=lambda _: False)
        job_id = await tx.jobs.enqueue(NewJob("hubspot/c1", "write:contact:hubspot"))
        assert [j.id for j in await tx.jobs.claim(holder)] == [job_id]
    return job_id


async def test_a_dead_runs_claims_are_queued_again(store: Store) -> None:
    job_id = await _claim_as(store, "sync:dead", socket.gethostname(), _exited_pid())
    async with run_lease(store, "sync:next") as taken_over:
        assert taken_over == 1
        async with store.read() as tx:
            job = await tx.jobs.get(job_id)
        assert job is not None and job.status == "pending"
    async with store.read() as tx:
        assert await tx.leases.get(RUN_LEASE) is None  # released at the end


async def test_a_live_run_holds_the_lease(store: Store) -> None:
    await _claim_as(store, "sync:alive", socket.gethostname(), os.getpid())
    with pytest.raises(RunInProgressError, match=f"a pass of `crmsync serve` \\(pid {os.getpid()} on "):
        async with run_lease(store, "sync:next"):
            pass


async def test_an_expired_lease_of_another_host_is_taken_over(store: Store, clock: FakeClock) -> None:
    job_id = await _claim_as(store, "sync:far", "another-host", 1)
    clock.advance(timedelta(seconds=91))
    async with run_lease(store, "sync:next") as taken_over:
        assert taken_over >= 1
    async with store.read() as tx:
        job = await tx.jobs.get(job_id)
    assert job is not None and job.status == "pending"


async def test_a_run_ends_without_claims(store: Store) -> None:
    async with run_lease(store, "sync:me"), store.begin() as tx:
        job_id = await tx.jobs.enqueue(NewJob("k", "write:contact:hubspot"))
        await tx.jobs.claim("sync:me")
    async with store.read() as tx:
        job = await tx.jobs.get(job_id)
    assert job is not None and job.status == "pending"


def test_process_gone_knows_live_dead_and_foreign_processes() -> None:
    at = FakeClock()()
    host = socket.gethostname()
    assert not process_gone(Lease(RUN_LEASE, "h", host, os.getpid(), at, at))
    assert process_gone(Lease(RUN_LEASE, "h", host, _exited_pid(), at, at))
    assert not process_gone(Lease(RUN_LEASE, "h", "another-host", _exited_pid(), at, at))


async def test_a_connection_being_read_is_held_back_from_other_runs_only(store: Store) -> None:
    contact = [reading_lease("contact", c) for c in ("salesforce", "hubspot")]
    async with reading(store, "sync:reader", "contact", ["salesforce", "hubspot"]) as gate:
        assert await _being_read(store, "worker:other") == set(contact)
        assert await _being_read(store, "sync:reader") == set()  # its own leases never hold a run back
        await gate.read("salesforce")
        assert await _being_read(store, "worker:other") == {contact[1]}
    assert await _being_read(store, "worker:other") == set()


def test_a_reading_lease_name_fits_the_lease_table_for_any_connection_name() -> None:
    assert reading_lease("contact", "hubspot") == READING_LEASE + "contact:hubspot"
    long_names = ["eu_" + "x" * 80, "us_" + "x" * 80]
    names = {reading_lease("activity", name) for name in long_names}
    assert len(names) == 2 and all(len(name) <= 64 and name.startswith(READING_LEASE + "activity:") for name in names)


async def test_a_reading_lease_of_a_gone_or_expired_run_holds_nothing_back(store: Store, clock: FakeClock) -> None:
    dead, far = reading_lease("contact", "hubspot"), reading_lease("deal", "hubspot")
    async with store.begin() as tx:
        await tx.leases.hold(dead, "sync:dead", socket.gethostname(), _exited_pid(), _TTL)
        await tx.leases.hold(far, "sync:far", "another-host", 1, _TTL)
    # A run of this machine whose process is gone holds nothing back; another machine's does until it expires.
    assert await _being_read(store, "worker:me") == {far}
    clock.advance(_TTL + timedelta(seconds=1))
    assert await _being_read(store, "worker:me") == set()


async def test_a_run_renews_every_lease_it_holds(store: Store, clock: FakeClock) -> None:
    async with store.begin() as tx:
        await tx.leases.hold(RUN_LEASE, "sync:far", "another-host", 1, _TTL)
        await tx.leases.hold(READING_LEASE + "company", "sync:far", "another-host", 1, _TTL)
        await tx.leases.hold(READING_LEASE + "deal", "sync:other", "another-host", 2, _TTL)
    clock.advance(timedelta(seconds=60))
    async with store.begin() as tx:
        assert await tx.leases.renew_held("sync:far", _TTL) == 2
    clock.advance(timedelta(seconds=60))
    async with store.read() as tx:
        live = await tx.leases.live("", is_dead=lambda _: False)
    assert sorted(lease.name for lease in live) == [READING_LEASE + "company", RUN_LEASE]


async def test_holding_a_lease_takes_it_from_whoever_had_it(store: Store) -> None:
    async with store.begin() as tx:
        await tx.leases.hold(READING_LEASE + "contact", "sync:old", "another-host", 1, _TTL)
        await tx.leases.hold(READING_LEASE + "contact", "sync:new", "another-host", 2, _TTL)
        lease = await tx.leases.get(READING_LEASE + "contact")
    assert lease is not None and (lease.holder, lease.pid) == ("sync:new", 2)
