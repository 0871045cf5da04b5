"""The outbox convention: a write job says "bring this record up to date in that connection", nothing more.

The job carries no field values. Delivery recomputes what to write from the golden record and the
connection's shadow at the moment it runs, so a later reconcile of the same record supersedes an
earlier one for free (invariant 4), and a replay after a crash writes the same thing again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from crmsync.model.quick import quick_init
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import NewJob
from crmsync.store.jobs import PARKED

WRITE = "write"
REFETCH = "refetch"
AWAIT = "await"
AWAITING_PARENT = "awaiting parent"
LINK_WAIT = "linkwait"
FENCED = "fenced"


def write_kind(kind: ObjectKind, connection: str) -> str:
    """The job kind of writes of one object kind to one connection (claimed together, batched together)."""
    return f"{WRITE}:{kind}:{connection}"


def write_key(connection: str, canonical_id: str) -> str:
    """The key of a record's writes to one connection (and of its fenced reads there: `fenced_read_job`)."""
    return f"{connection}/{canonical_id}"


def write_job(kind: ObjectKind, canonical_id: str, connection: str, *, priority: int = 0) -> NewJob:
    """An outbox row; a pending one for the same record and connection absorbs it."""
    return NewJob(
        key=write_key(connection, canonical_id),
        kind=write_kind(kind, connection),
        payload={"kind": kind, "canonical_id": canonical_id, "connection": connection},
        priority=priority,
    )


def refetch_kind(kind: ObjectKind, connection: str) -> str:
    return f"{REFETCH}:{kind}:{connection}"


def refetch_job(kind: ObjectKind, connection: str, object: str, remote_id: str, *, reason: str) -> NewJob:
    """An inbox hint: read this remote record again and reconcile it (a webhook, a merge survivor, a retry)."""
    return NewJob(
        key=f"in:{connection}/{object}/{remote_id}",
        kind=refetch_kind(kind, connection),
        payload={"kind": kind, "connection": connection, "object": object, "remote_id": remote_id, "reason": reason},
    )


def fenced_read_job(
    kind: ObjectKind, connection: str, object: str, remote_id: str, canonical_id: str, stale: Mapping[str, Any]
) -> NewJob:
    """Read a record again after a write to it landed late (its lease lost): `stale` (canonical values, encoded) is
    what that write left there, which a read must not take for the CRM's own edit (`fences.fence_shadows`).

    A hint keyed as the record's writes there: the queue runs it only once the write that took over the lost job,
    and any write queued before this, has settled, so it reads what the CRM holds after them. Never absorbed by
    another: two late writes leave two sets of stale values.
    """
    hint = refetch_job(kind, connection, object, remote_id, reason=FENCED)
    payload = {**hint.payload, "canonical_id": canonical_id, FENCED: dict(stale)}
    return NewJob(write_key(connection, canonical_id), hint.kind, payload, priority=10, coalesce=False)


def await_kind(kind: ObjectKind, connection: str) -> str:
    return f"{AWAIT}:{kind}:{connection}"


def await_job(kind: ObjectKind, connection: str, object: str, remote_id: str) -> NewJob:
    """A record read but not synced: a parent it needs is not linked in its CRM yet (S17). Read again once a run.

    Parked: no pass of hints claims it, so a child whose parent never comes is not read over and over (a worker
    found it runnable after every pass and read it again at once). A run that reads its connection wakes it,
    once, as does a pass in which a parent was linked there (`SyncRunner._read_waiting`). Its own key: a webhook
    hint about the record is not held up behind it.
    """
    return NewJob(
        key=f"{AWAIT}:{connection}/{object}/{remote_id}",
        kind=await_kind(kind, connection),
        payload={
            "kind": kind,
            "connection": connection,
            "object": object,
            "remote_id": remote_id,
            "reason": AWAITING_PARENT,
        },
        run_after=PARKED,
    )


def link_wait_kind(kind: ObjectKind, connection: str) -> str:
    return f"{LINK_WAIT}:{kind}:{connection}"


def link_wait_key(connection: str, canonical_id: str) -> str:
    return f"{LINK_WAIT}:{connection}/{canonical_id}"


def link_wait_job(kind: ObjectKind, canonical_id: str, connection: str, parents: Iterable[str]) -> NewJob:
    """A record written to `connection` without a link: the `parents` (canonical ids) are not there yet (S17).

    Parked: nothing claims it. When one of those parents lands in the connection (its create settles, or a read
    links it), `link_waits.wake_link_waits` turns it into the record's write job, which writes the link. Its own
    key: a parked job would hold up every later job of its key, the record's ordinary writes among them.
    """
    return NewJob(
        key=link_wait_key(connection, canonical_id),
        kind=link_wait_kind(kind, connection),
        payload={"kind": kind, "canonical_id": canonical_id, "connection": connection, "parents": sorted(parents)},
        run_after=PARKED,
    )


@quick_init
@dataclass(frozen=True, slots=True)
class WriteTarget:
    kind: ObjectKind
    canonical_id: str
    connection: str

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> WriteTarget:
        kind = payload["kind"]
        if kind not in OBJECT_KINDS:
            raise ValueError(f"outbox job names unknown object kind {kind!r}")
        return cls(cast(ObjectKind, kind), str(payload["canonical_id"]), str(payload["connection"]))


__all__ = [
    "AWAIT",
    "AWAITING_PARENT",
    "FENCED",
    "LINK_WAIT",
    "REFETCH",
    "WRITE",
    "WriteTarget",
    "await_job",
    "await_kind",
    "fenced_read_job",
    "link_wait_job",
    "link_wait_key",
    "link_wait_kind",
    "refetch_job",
    "refetch_kind",
    "write_job",
    "write_key",
    "write_kind",
]
