"""Everything about one sync error (E12) or job (J34), for `crmsync errors show`: where, what, since when, what next.

An operator following an error id from `errors list`, status or an alert needs the whole of it in one place: the
record it concerns and where it lives, the vendor's full words, how often and since when, the job that carries (or
carried) its work and whether that runs again on its own and when, and the command that settles it. The vendor's
words and a job's last error are scrubbed of the connections' secrets, which a vendor may echo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from crmsync.config import SyncConfig
from crmsync.engine.merges import DUPLICATE
from crmsync.engine.orphans import PARENT_KEPT_OUT
from crmsync.engine.outbox import AWAIT, LINK_WAIT, await_kind, link_wait_kind, refetch_kind, write_kind
from crmsync.engine.parked_ends import PARENT_ENDS
from crmsync.engine.schema_report import redact, secret_values
from crmsync.engine.views.common import NotFoundError, label
from crmsync.engine.views.errors import SyncErrorView, error_view
from crmsync.store import Job, Link, Store, Transaction
from crmsync.store.jobs import PARKED


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as an operator follows it: what it does, its state, its attempts and when it runs next."""

    id: int
    job_kind: str
    key: str
    status: str
    attempts: int
    max_attempts: int
    runs_at: datetime | None  # when a pending job may run (None: parked until something wakes it, or not pending)
    parked: bool
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One sync error (or job) with its record, the job that carries its work, and what to do about it."""

    ref: str  # E12 or J34
    error: SyncErrorView | None  # None: a job was asked for
    canonical_id: str | None
    remote_id: str | None
    label: str | None  # the record as a person knows it ("Ada Lovelace <ada@x.io>")
    record_deleted: bool
    links: tuple[Link, ...]  # where the record lives
    job: JobView | None  # the job of its work, live if there is one, else the latest done
    retries_itself: bool
    when: str  # whether and when it is tried again without a person
    action: str  # what to do
    retry_command: str | None  # `crmsync errors retry E12`, when a retry can settle it


async def error_detail(store: Store, config: SyncConfig, ref: str, item_id: int, *, job: bool = False) -> ErrorDetail:
    """Sync error `item_id` (or job, with `job`) in full; NotFoundError naming it when there is none."""
    secrets = [s for connection in config.connections.values() for s in secret_values(connection)]
    async with store.read() as tx:
        if job:
            found = await tx.jobs.get(item_id)
            if found is None:
                raise NotFoundError(f"no job {ref}; `crmsync errors list` lists the dead ones")
            return await _job_detail(tx, ref, found, secrets)
        errors = await tx.errors.get_many([item_id])
        if item_id not in errors:
            raise NotFoundError(f"no sync error {ref}; `crmsync errors list` lists them")
        view = error_view(errors[item_id], config)
        view = _scrubbed(view, secrets)
        golden = await tx.records.get(view.canonical_id) if view.canonical_id else None
        links = await tx.links.remote_links(view.canonical_id) if view.canonical_id else []
        carrier = await _carrier(tx, view)
        jobs = _job_view(carrier, tx.jobs.policy.max_attempts, secrets) if carrier is not None else None
    retries, when, action = _next(view, jobs)
    return ErrorDetail(
        ref=ref,
        error=view,
        canonical_id=view.canonical_id,
        remote_id=view.remote_id,
        label=label(golden),
        record_deleted=golden.deleted if golden is not None else False,
        links=tuple(links),
        job=jobs,
        retries_itself=retries,
        when=when,
        action=action,
        retry_command=f"crmsync errors retry {ref}" if view.retryable else None,
    )


async def _carrier(tx: Transaction, view: SyncErrorView) -> Job | None:
    """The job that carries the error's work: its record's write, read or link wait there (live before done)."""
    if view.kind is None or view.duplicate:
        return None
    if view.operation == "read" and view.remote_id is not None:
        reads = [
            (f"in:{view.connection}/{view.object}/{view.remote_id}", refetch_kind(view.kind, view.connection)),
            (f"{AWAIT}:{view.connection}/{view.object}/{view.remote_id}", await_kind(view.kind, view.connection)),
        ]
        candidates = [j for key, kind in reads for j in await tx.jobs.list(key=key, kind=kind)]
    elif view.operation == "link" and view.canonical_id is not None:
        key = f"{LINK_WAIT}:{view.connection}/{view.canonical_id}"
        candidates = await tx.jobs.list(key=key, kind=link_wait_kind(view.kind, view.connection))
    elif view.canonical_id is not None:
        key = f"{view.connection}/{view.canonical_id}"
        candidates = await tx.jobs.list(key=key, kind=write_kind(view.kind, view.connection))
    else:
        return None
    live = [j for j in candidates if j.status != "done"]
    return max(live or candidates, key=lambda j: j.id, default=None)


def _job_view(job: Job, max_attempts: int, secrets: list[str]) -> JobView:
    parked = job.status == "pending" and job.run_after >= PARKED
    return JobView(
        id=job.id,
        job_kind=job.kind,
        key=job.key,
        status=job.status,
        attempts=job.attempts,
        max_attempts=max_attempts,
        runs_at=job.run_after if job.status == "pending" and not parked else None,
        parked=parked,
        last_error=redact(job.last_error, secrets) if job.last_error else None,
        created_at=job.created_at,
    )


def _scrubbed(view: SyncErrorView, secrets: list[str]) -> SyncErrorView:
    return replace(view, message=redact(view.message, secrets))


def _next(view: SyncErrorView, job: JobView | None) -> tuple[bool, str, str]:
    """(retried without a person, when, what to do) for a sync error."""
    retry = f"`crmsync errors retry E{view.id}`"
    if view.duplicate or view.code == DUPLICATE:
        return False, "never: two records of one CRM share a match key", f"merge them in {view.connection}, then sync"
    if view.operation == "link" and view.code in PARENT_ENDS:
        return (
            False,
            "never: the parent will not be there; settled once the record is written there with no link left out",
            f"link the record by hand in {view.connection}, or give it another parent in any CRM",
        )
    if job is not None and job.status == "running":
        return True, "now: a sync is running its job", "wait for the sync to finish, then look again"
    if job is not None and job.status == "pending" and job.runs_at is not None:
        how = f"after {job.attempts} failed attempt(s)" if job.attempts else "queued"
        return True, f"{how}: the next sync after {job.runs_at:%Y-%m-%d %H:%M:%S} UTC runs it", "nothing: it runs"
    if job is not None and job.status == "dead":
        return False, f"never: its job J{job.id} is out of attempts", f"fix the cause, then {retry}"
    if view.operation == "read":
        if view.code == PARENT_KEPT_OUT:
            when = f"when a parent of it is linked in {view.connection} (one passing the filter)"
            return True, when, f"change the filter, or the parent in {view.connection}, so it passes"
        return True, f"when the record next changes in {view.connection}", f"fix it there, then {retry} reads it now"
    return (
        False,
        "not on its own: the record's next change (or a retry) queues its write again",
        f"fix the value (in any CRM), then {retry}",
    )


async def _job_detail(tx: Transaction, ref: str, job: Job, secrets: list[str]) -> ErrorDetail:
    """A job asked for by J-id: its record, its state and what to do."""
    canonical = job.payload.get("canonical_id")
    remote = job.payload.get("remote_id")
    canonical_id = str(canonical) if canonical is not None else None
    golden = await tx.records.get(canonical_id) if canonical_id else None
    links = await tx.links.remote_links(canonical_id) if canonical_id else []
    view = _job_view(job, tx.jobs.policy.max_attempts, secrets)
    if job.status == "dead":
        retries, when = False, "never: it is out of attempts"
        action = f"fix the cause, then `crmsync errors retry {ref}`"
    elif view.parked:
        retries, when, action = True, "when what it waits for lands (a parent, a read)", "nothing: it is woken"
    elif job.status == "pending":
        retries, when = True, f"the next sync after {job.run_after:%Y-%m-%d %H:%M:%S} UTC runs it"
        action = "nothing: it runs"
    else:
        retries, when, action = job.status == "running", f"it is {job.status}", "nothing"
    return ErrorDetail(
        ref=ref,
        error=None,
        canonical_id=canonical_id,
        remote_id=str(remote) if remote is not None else None,
        label=label(golden),
        record_deleted=golden.deleted if golden is not None else False,
        links=tuple(links),
        job=view,
        retries_itself=retries,
        when=when,
        action=action,
        retry_command=f"crmsync errors retry {ref}" if job.status == "dead" else None,
    )


__all__ = ["ErrorDetail", "JobView", "error_detail"]
