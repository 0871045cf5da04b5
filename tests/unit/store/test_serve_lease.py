"""The serve lease: one `crmsync serve` per state database; a gone one (SIGKILL, a restarted container) is
taken over, and a serve whose lease another took stops scheduling."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

import pytest

from crmsync.engine.runlock import SERVE_LEASE, ServeInProgressError, acquire_serve_lease, serve_lease
from crmsync.store import Store
from tests.unit.store.helpers import FakeClock
from tests.unit.store.test_runlock import _exited_pid

_TTL = timedelta(seconds=90)


async def _held_by(store: Store, holder: str, host: str, pid: int) -> None:
    async with store.begin() as tx:
        await tx.leases.hold(SERVE_LEASE, holder, host, pid, _TTL)


async def _holder(store: Store) -> str | None:
    async with store.read() as tx:
        lease = await tx.leases.get(SERVE_LEASE)
    return lease.holder if lease is not None else None


async def test_a_running_serve_is_named_in_the_refusal(store: Store) -> None:
    await _held_by(store, "serve:first", socket.gethostname(), os.getppid())  # a live process of this host
    with pytest.raises(ServeInProgressError) as refused:
        await acquire_serve_lease(store, "serve:second")
    message = str(refused.value)
    assert f"(pid {os.getppid()} on {socket.gethostname()}, since 2026-01-01 12:00:00Z)" in message
    assert "\n" not in message and "stop it first" in message
    assert await _holder(store) == "serve:first"


async def test_a_serve_of_another_host_holds_until_its_lease_expires(store: Store, clock: FakeClock) -> None:
    await _held_by(store, "serve:far", "another-host", 1)
    with pytest.raises(ServeInProgressError, match="pid 1 on another-host"):
        await acquire_serve_lease(store, "serve:next")
    clock.advance(_TTL + timedelta(seconds=1))
    previous = await acquire_serve_lease(store, "serve:next")
    assert previous is not None and previous.holder == "serve:far"
    assert await _holder(store) == "serve:next"


async def test_a_killed_serve_of_this_host_is_taken_over_at_once(store: Store) -> None:
    await _held_by(store, "serve:killed", socket.gethostname(), _exited_pid())
    previous = await acquire_serve_lease(store, "serve:next")
    assert previous is not None and previous.holder == "serve:killed"


async def test_an_earlier_life_of_this_very_process_is_taken_over(store: Store) -> None:
    """A container restarted after SIGKILL: same host name, same pid (1), another serve id."""
    await _held_by(store, "serve:before-restart", socket.gethostname(), os.getpid())
    previous = await acquire_serve_lease(store, "serve:after-restart")
    assert previous is not None and previous.holder == "serve:before-restart"


async def test_the_holder_takes_its_lease_again_and_gives_it_back_at_the_end(store: Store) -> None:
    assert await acquire_serve_lease(store, "serve:me") is None  # what `crmsync serve` does before listening
    async with serve_lease(store, "serve:me", lost=pytest.fail) as previous:
        assert previous is None  # the app's startup, under the same id
        assert await _holder(store) == "serve:me"
    assert await _holder(store) is None


async def test_a_serve_whose_lease_another_took_is_told_once(store: Store, clock: FakeClock) -> None:
    beats: asyncio.Queue[None] = asyncio.Queue()
    reasons: list[str] = []
    told = asyncio.Event()

    async def beat(_: float) -> None:
        await beats.get()

    def lost(reason: str) -> None:
        reasons.append(reason)
        told.set()

    async with serve_lease(store, "serve:stalled", lost=lost, sleep=beat):
        beats.put_nowait(None)  # renewed: still ours
        clock.advance(_TTL * 2)  # stalled past its TTL: another serve took over
        await _held_by(store, "serve:other", "another-host", 7)
        beats.put_nowait(None)
        await asyncio.wait_for(told.wait(), 5)
        assert reasons == ["another crmsync serve took over the state database by pid 7 on another-host"]
    assert await _holder(store) == "serve:other"  # leaving does not release another's lease
