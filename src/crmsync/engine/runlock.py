"""One sync run at a time per state database; a run killed mid-way is taken over by the next, its claims returned.

A run holds the `sync` lease and renews it while it works. The next run takes the lease over when
it expired or when its holder's process is gone (same host, no such pid), and gives the jobs the
dead run had claimed back to the queue, so they are replayed rather than stuck (invariant 1, S23).

One `crmsync serve` per state database holds the `serve` lease for its whole life (`serve_lease`), taken
over the same way once its holder is gone: two schedulers on one state duplicated records.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

import structlog

from crmsync.errors import FatalError
from crmsync.store import Store, Transaction
from crmsync.store.leases import Held, Lease

RUN_LEASE = "sync"
SERVE_LEASE = "serve"
"""Held by the one `crmsync serve` of a state database while it runs (`serve_lease`)."""
READING_LEASE = "reading:"
"""Prefix of the lease a run holds on a kind's connection until it has read it (`reading:contact:hubspot`)."""
TTL = timedelta(seconds=90)
HEARTBEAT_S = 20.0

log = structlog.get_logger("crmsync.engine.runlock")


class RunInProgressError(FatalError):
    """Another sync run holds the state database."""


class ServeInProgressError(FatalError):
    """Another `crmsync serve` runs on the state database."""


def new_worker_id() -> str:
    return f"sync:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_gone(lease: Lease) -> bool:
    """True when the holder ran on this host and its process no longer runs (or is a zombie)."""
    return _gone(lease.host, lease.pid)


def worker_gone(worker: str) -> bool:
    """True when a worker id (`new_worker_id`) names a process of this host that no longer runs."""
    _, host, pid, _ = [*worker.split(":"), "", "", ""][:4]
    return pid.isdigit() and _gone(host, int(pid))


def _gone(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return False  # another machine's process: only its lease expiry tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


@contextlib.asynccontextmanager
async def run_lease(store: Store, worker: str) -> AsyncIterator[int]:
    """Hold the run lease for the block; yields how many jobs were taken over from a dead run."""
    async with store.begin() as tx:
        outcome = await tx.leases.acquire(
            RUN_LEASE, worker, socket.gethostname(), os.getpid(), TTL, is_dead=process_gone
        )
        if isinstance(outcome, Held):
            held = outcome.lease
            raise RunInProgressError(
                "another crmsync run holds the state database, a `crmsync sync` or a pass of `crmsync serve` "
                f"({_holder(held)}); wait for it to finish"
            )
        taken_over = 0
        if outcome.previous is not None:
            taken_over = await tx.jobs.return_jobs_of(outcome.previous.holder)
        taken_over += len(await tx.jobs.reap())  # any other worker whose job lease expired
    try:
        async with _heartbeat(store, worker, run_lease=True):
            yield taken_over
    finally:
        async with store.begin() as tx:
            # A run never ends holding claims: batches cancelled mid-flight go back to the queue.
            await tx.jobs.return_jobs_of(worker)
            await tx.leases.release(RUN_LEASE, worker)


def _holder(lease: Lease) -> str:
    """Who holds a lease, as a refusal names it: `pid 4711 on web-1, since 2026-11-29 09:58:02Z`."""
    return f"pid {lease.pid} on {lease.host}, since {lease.acquired_at:%Y-%m-%d %H:%M:%SZ}"


def new_serve_id() -> str:
    return f"serve:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def serve_holder_gone(lease: Lease) -> bool:
    """`process_gone`, or a holder that names this very process under another id: an earlier life of it.

    A container restarted after SIGKILL comes back on the same host name with the same pid (often 1), so its
    predecessor's pid looks alive. Two serves never run in one process (tests hand a state over, stopped first).
    """
    return process_gone(lease) or (lease.host == socket.gethostname() and lease.pid == os.getpid())


async def acquire_serve_lease(store: Store, holder: str) -> Lease | None:
    """Take the `serve` lease for `holder` (again, for its holder); the gone serve taken over from, if any.

    Raises ServeInProgressError, naming the holder, while another serve runs (same host: its pid lives;
    another host: it renewed the lease within TTL).
    """
    async with store.begin() as tx:
        outcome = await tx.leases.acquire(
            SERVE_LEASE, holder, socket.gethostname(), os.getpid(), TTL, is_dead=serve_holder_gone
        )
    if isinstance(outcome, Held):
        held = outcome.lease
        raise ServeInProgressError(
            f"another crmsync serve is running on this state database ({_holder(held)}); stop it first "
            "(one serve per state database; scale out with crmsync worker)"
        )
    gone = outcome.previous
    if gone is not None:
        log.warning(
            "took the state database over from a crmsync serve that is gone",
            pid=gone.pid,
            host=gone.host,
            since=gone.acquired_at.isoformat(),
        )
    return gone


@contextlib.asynccontextmanager
async def serve_lease(
    store: Store,
    holder: str,
    *,
    lost: Callable[[str], None],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> AsyncIterator[Lease | None]:
    """Hold the `serve` lease for the block, renewed every HEARTBEAT_S; yields the gone serve taken over, if any.

    A renewal that finds the lease no longer ours (this process stalled past TTL, and another serve took over)
    calls `lost` with the reason once and renews no more: the caller stops scheduling.
    """
    previous = await acquire_serve_lease(store, holder)

    async def renew() -> None:
        while True:
            await sleep(HEARTBEAT_S)
            try:
                async with store.begin() as tx:
                    renewed = await tx.leases.renew_held(holder, TTL)
                    current = await tx.leases.get(SERVE_LEASE) if not renewed else None
            except Exception as exc:  # the database is down: try again at the next beat, before TTL runs out
                log.warning("could not renew the serve lease", error=f"{type(exc).__name__}: {exc}")
                continue
            if not renewed:
                by = f" by pid {current.pid} on {current.host}" if current is not None else ""
                lost(f"another crmsync serve took over the state database{by}")
                return

    task = asyncio.create_task(renew(), name="crmsync-serve-lease")
    try:
        yield previous
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async with store.begin() as tx:
            await tx.leases.release(SERVE_LEASE, holder)


class Reading:
    """The reading leases a run holds on one kind's connections: see `reading`."""

    def __init__(self, store: Store, worker: str, kind: str) -> None:
        self._store = store
        self._worker = worker
        self._kind = kind

    async def hold(self, connections: Sequence[str]) -> None:
        async with self._store.begin() as tx:
            for connection in connections:
                name = reading_lease(self._kind, connection)
                await tx.leases.hold(name, self._worker, socket.gethostname(), os.getpid(), TTL)

    async def read(self, *connections: str) -> None:
        """The run has read these connections: writes to them may go out beside it."""
        async with self._store.begin() as tx:
            for connection in connections:
                await tx.leases.release(reading_lease(self._kind, connection), self._worker)


def reading_lease(kind: str, connection: str) -> str:
    """The lease name of (kind, connection), within the 64 characters of a lease name."""
    name = f"{READING_LEASE}{kind}:{connection}"
    if len(name) <= 64:
        return name
    return f"{READING_LEASE}{kind}:#{hashlib.sha256(connection.encode()).hexdigest()[:40]}"


@contextlib.asynccontextmanager
async def reading(store: Store, worker: str, kind: str, connections: Sequence[str]) -> AsyncIterator[Reading]:
    """Hold a reading lease on each of `kind`'s connections until the run has read it (`Reading.read`).

    A run reads every connection of a kind before it writes any, so that a record met in two CRMs is
    matched, not created again, and an edit made in a CRM not read yet is not overwritten unseen. A worker
    (`crmsync worker`, or `serve`'s hints beside its poll) delivering the writes queued from the first CRMs
    read, into a CRM the run has not read yet, would break both: it would create there people that CRM holds
    (duplicates), and overwrite edits made there that the run has yet to see. Passes of hints deliver no write
    to a connection whose lease another live run holds (`leases_being_read`). Held by the run holding the run lease,
    renewed by its heartbeat, and ignored once expired or once its process is gone.
    """
    gate = Reading(store, worker, kind)
    await gate.hold(connections)
    try:
        yield gate
    finally:
        await gate.read(*connections)


async def leases_being_read(tx: Transaction, worker: str) -> set[str]:
    """The reading leases (`reading_lease`) other live runs hold now: writes to those connections wait.

    A delivery beside reads asks again after each claim, in the claim's transaction: the run takes its leases
    before it reads, so a claim that saw jobs its reads queued sees its lease too (PostgreSQL's statements see
    what committed before them).
    """
    held = await tx.leases.live(READING_LEASE, is_dead=process_gone)
    return {lease.name for lease in held if lease.holder != worker}


@contextlib.asynccontextmanager
async def worker_claims(store: Store, worker: str, *, reap: bool = True) -> AsyncIterator[int]:
    """For a pass that shares the queue with other workers (no run lease): keep this worker's job leases alive.

    On entry (with `reap`), jobs whose worker died (lease expired, or a process of this machine that is
    gone) go back to the queue (yields how many); during the block the leases of this worker's claims
    are renewed; on exit whatever it still holds is given back.
    """
    reaped = 0
    if reap:
        async with store.begin() as tx:
            reaped = len(await tx.jobs.reap())
            # A worker of this machine that died (SIGKILL, OOM) gives its claims back now, not at lease expiry.
            for holder in await tx.jobs.holders():
                if holder != worker and worker_gone(holder):
                    reaped += await tx.jobs.return_jobs_of(holder)
    try:
        async with _heartbeat(store, worker, run_lease=False):
            yield reaped
    finally:
        async with store.begin() as tx:
            await tx.jobs.return_jobs_of(worker)


@contextlib.asynccontextmanager
async def _heartbeat(store: Store, worker: str, *, run_lease: bool) -> AsyncIterator[None]:
    """Renew the worker's job claims (and the run lease it holds) every HEARTBEAT_S while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            async with store.begin() as tx:
                if run_lease:
                    await tx.leases.renew_held(worker, TTL)  # the run lease and its reading leases
                await tx.jobs.renew(worker)  # workers (`crmsync worker`) reap expired claims: keep these alive

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = [
    "READING_LEASE",
    "RUN_LEASE",
    "SERVE_LEASE",
    "Reading",
    "RunInProgressError",
    "ServeInProgressError",
    "acquire_serve_lease",
    "leases_being_read",
    "new_serve_id",
    "new_worker_id",
    "process_gone",
    "reading",
    "reading_lease",
    "run_lease",
    "serve_holder_gone",
    "serve_lease",
    "worker_claims",
]
