"""Re-queue failed work an operator asks to retry: sync errors become jobs again, dead jobs get new attempts.

It acts in one store transaction and only queues work: the next `crmsync sync` (or a worker) runs it (the outbox
convention, `engine.outbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from crmsync.config import SyncConfig
from crmsync.engine.outbox import WRITE, refetch_job, write_job
from crmsync.engine.parked_ends import PARENT_ENDS
from crmsync.engine.views.common import NotFoundError, object_of_kind
from crmsync.engine.views.errors import SyncErrorView, dead_job_view, error_view
from crmsync.model.values import ObjectKind
from crmsync.store import Store, Transaction

RetryWhat = Literal["sync_error", "dead_job"]


@dataclass(frozen=True, slots=True)
class Requeued:
    """Work put back on the queue: a sync error turned into a job, or dead jobs given new attempts."""

    what: RetryWhat
    id: int  # the sync error's or the dead job's id
    job_kind: str
    key: str
    jobs: int  # jobs now pending because of it


@dataclass(frozen=True, slots=True)
class NotRetried:
    """Something asked to be retried that was not, and why."""

    what: RetryWhat
    id: int
    reason: str
    missing: bool = False  # no such id at all: the operator's mistake, not a state of the work


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    requeued: tuple[Requeued, ...]
    skipped: tuple[NotRetried, ...]
    reads: int = 0  # reads queued of the retried records, one per CRM that holds them


async def retry(
    store: Store,
    config: SyncConfig,
    *,
    error_ids: Sequence[int] = (),
    job_ids: Sequence[int] = (),
    everything: bool = False,
    refuse_unknown: bool = False,
    connection: str | None = None,
    kind: ObjectKind | None = None,
) -> RetryOutcome:
    """Re-queue failed work in one transaction: sync errors become write (or read) jobs, dead jobs go back to pending.

    `everything` takes every retryable sync error and every dead job; otherwise only the given ids. Each record
    whose write is retried is also read again from every CRM that holds it: that is what makes "fix it at the
    source, then retry" work even when no webhook or cursor tells crmsync of the fix. An id that names nothing is
    reported as skipped (`missing`), or, with `refuse_unknown`, refuses the whole request (NotFoundError) before
    anything is queued: an API caller gets one answer for one request. `connection` and `kind` narrow
    `everything` to the errors and dead jobs of one connection and one object kind (as `errors list` shows them).
    A retried sync error stays listed, under its id, until the retried work clears it or fails again (counted).
    """
    requeued: list[Requeued] = []
    skipped: list[NotRetried] = []
    async with store.begin() as tx:
        if everything:
            stored = {e.id: e for e in await tx.errors.list()}
        else:
            stored = await tx.errors.get_many(list(error_ids))
        wanted_errors = sorted(stored) if everything else list(error_ids)
        for error_id in wanted_errors:
            error = stored.get(error_id)
            if error is None:
                skipped.append(NotRetried("sync_error", error_id, "no such sync error", missing=True))
                continue
            view = error_view(error, config)
            if everything and not (
                view.retryable and connection in (None, view.connection) and (kind is None or view.kind == kind)
            ):
                continue
            outcome = await _retry_error(tx, config, view, everything)
            if outcome is None:
                continue  # --all: its work is queued already (retried before, not run yet)
            if isinstance(outcome, Requeued):
                requeued.append(outcome)
            else:
                skipped.append(outcome)
        dead = {j.id: j for j in await tx.jobs.list("dead")}
        if everything and (connection is not None or kind is not None):
            views = {job_id: dead_job_view(job) for job_id, job in dead.items()}
            dead = {
                job_id: job
                for job_id, job in dead.items()
                if connection in (None, views[job_id].connection)
                and (kind is None or views[job_id].object_kind == kind)
            }
        wanted_jobs = sorted(dead) if everything else list(job_ids)
        done_keys: dict[str, int] = {}
        for job_id in wanted_jobs:
            job = dead.get(job_id) or await tx.jobs.get(job_id)
            if job is None:
                skipped.append(NotRetried("dead_job", job_id, "no such job", missing=True))
            elif job.key in done_keys:
                continue  # already back on the queue with an earlier dead job of its key
            elif job.status != "dead":
                skipped.append(NotRetried("dead_job", job_id, f"the job is {job.status}, not dead"))
            else:
                # Dead jobs of one key go back together, so the record's writes keep their order.
                done_keys[job.key] = await tx.jobs.retry_dead(job.key)
                requeued.append(Requeued("dead_job", job_id, job.kind, job.key, done_keys[job.key]))
        unknown = [item for item in skipped if item.missing]
        if refuse_unknown and unknown:  # raised inside the transaction: nothing above is kept
            names = ", ".join(f"{'sync error' if i.what == 'sync_error' else 'dead job'} {i.id}" for i in unknown)
            raise NotFoundError(f"no {names}; nothing was re-queued")
        reads = await _reread(tx, requeued)
    return RetryOutcome(tuple(requeued), tuple(skipped), reads)


async def _reread(tx: Transaction, requeued: Sequence[Requeued]) -> int:
    """Queue a read of each record whose write was re-queued, from every CRM linked to it."""
    written = sorted({r.key.partition("/")[2] for r in requeued if r.job_kind.startswith(f"{WRITE}:")})
    if not written:
        return 0
    linked = await tx.links.links_of(written)
    reads = 0
    for link in (link for found in linked.values() for link in found):
        await tx.jobs.enqueue(refetch_job(link.kind, link.connection, link.object, link.remote_id, reason="retry"))
        reads += 1
    return reads


async def _retry_error(
    tx: Transaction, config: SyncConfig, view: SyncErrorView, everything: bool = False
) -> Requeued | NotRetried | None:
    """Queue the error's work again; None when `everything` finds that work pending already.

    The error stays (see `retry`), so a second `--all` meets it again: it skips an error whose job has not run
    yet instead of listing it as re-queued once more. A named id is always queued (a pending job absorbs it).
    """

    def skip(reason: str) -> NotRetried:
        return NotRetried("sync_error", view.id, reason)

    if view.duplicate:
        return skip(f"a duplicate group: merge the records in {view.connection} (or fix their match key), then sync")
    if view.operation == "link" and view.code in PARENT_ENDS:
        return skip(
            f"its parent will never be in {view.connection}: link the record there by hand, or give it another "
            "parent; the error clears once the record is written there with no link left out"
        )
    if not view.retryable:
        return skip("no single record to retry; the next sync reads it again")
    if view.connection not in config.connections:
        return skip(f"connection {view.connection!r} is no longer configured")
    kind = view.kind
    if view.canonical_id is not None:
        golden = await tx.records.get(view.canonical_id)
        kind = golden.record.kind if golden is not None else kind
    if kind is None:
        return skip(f"cannot tell which object kind {view.object!r} of {view.connection} is")
    if view.operation == "read":
        assert view.remote_id is not None  # retryable reads have one
        obj = object_of_kind(config, view.connection, kind) or view.object
        job = refetch_job(kind, view.connection, obj, view.remote_id, reason="retry")
    else:
        assert view.canonical_id is not None  # retryable writes have one
        job = write_job(kind, view.canonical_id, view.connection)
    if everything and await tx.jobs.list("pending", key=job.key, kind=job.kind):
        return None
    # The error stays until the retried work settles it: gone when it goes through, counted again under the same
    # id (its first-seen time kept) when it fails again. Cleared here, a second failure came back as a new error
    # seen once, and an operator following E12 lost it and could not tell how often it had failed.
    await tx.jobs.enqueue(job)
    return Requeued("sync_error", view.id, job.kind, job.key, 1)


__all__ = ["NotRetried", "Requeued", "RetryOutcome", "RetryWhat", "retry"]
