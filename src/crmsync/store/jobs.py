"""The durable jobs queue: transactional enqueue, per-key ordered claims, leases, retries, dead letters.

Semantics on both backends (ecosystem notes §B, procrastinate's design):
- a key's jobs run one at a time and in id order: a pending job is claimable only when no job of
  its key with a smaller id is pending or running (a dead job no longer blocks its key);
- a pending job with the same key and kind absorbs a new one (its payload becomes the newest), in one
  upsert on a unique index of pending jobs, so enqueuers take no lock per key; a job given back to pending
  (failed, released, reaped or retried) absorbs the newer one queued meanwhile and keeps its place;
- a claim is a lease: heartbeats extend it, `reap` returns expired leases to pending;
- failures back off exponentially and go to `dead` after the policy's attempts.
Claim in a short transaction of its own, do the work outside any transaction, then `complete` in
the transaction that records the work's effects (invariant 1).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among, chunks
from crmsync.store.errors import LeaseLostError
from crmsync.store.job_folding import give_back
from crmsync.store.job_statements import LIVE, claim_statement, folding_insert, job_from_row, new_job_row, status_is
from crmsync.store.tables import UtcDateTime, jobs
from crmsync.store.values import Clock, Job, JobStatus, NewJob, RetryPolicy

PARKED = datetime(9000, 1, 1, tzinfo=UTC)
"""The `run_after` of a job parked until something wakes it (`JobQueue.wake`): no claim comes this far, so it is
never due on its own, and the queue's due work (`due_mark`) and age (`oldest_pending`) leave it out."""


def _at(value: datetime) -> sa.BindParameter[datetime]:
    return sa.literal(value, UtcDateTime())


class JobQueue:
    """The jobs table, bound to one transaction."""

    def __init__(self, connection: AsyncConnection, clock: Clock, policy: RetryPolicy) -> None:
        self._db = connection
        self._clock = clock
        self.policy = policy

    @property
    def _postgres(self) -> bool:
        return self._db.dialect.name == "postgresql"

    async def enqueue(self, job: NewJob) -> int:
        """Add `job` in the caller's transaction; returns its id, or the id of the pending job that absorbed it."""
        row = new_job_row(job, self._clock())
        statement = folding_insert(self._postgres) if job.coalesce else sa.insert(jobs)
        inserted = await self._db.execute(statement.values(**row).returning(jobs.c.id))
        return int(inserted.scalar_one())

    async def enqueue_many(self, new_jobs: Sequence[NewJob]) -> None:
        """`enqueue` for a batch, in one statement per shape: pending jobs of the same key and kind absorb their
        new one. Within the batch, a later job of the same key and kind absorbs an earlier one as well."""
        if not new_jobs:
            return
        now = self._clock()
        latest: dict[tuple[str, str], NewJob] = {}
        plain: list[NewJob] = []
        for job in new_jobs:
            if job.coalesce:
                latest[(job.key, job.kind)] = job
            else:
                plain.append(job)
        if latest:
            await self._db.execute(folding_insert(self._postgres), [new_job_row(job, now) for job in latest.values()])
        if plain:
            await self._db.execute(sa.insert(jobs), [new_job_row(job, now) for job in plain])

    async def complete_many(self, job_ids: Sequence[int], worker: str) -> None:
        """`complete` for a batch of held jobs; raises LeaseLostError if any is no longer held."""
        if not job_ids:
            return
        now = self._clock()
        done = 0
        for chunk in chunks(sorted(set(job_ids))):
            result = await self._db.execute(
                sa.update(jobs)
                .where(among(self._db, jobs.c.id, chunk), jobs.c.status == "running", jobs.c.locked_by == worker)
                .values(status="done", locked_by=None, locked_until=None, finished_at=now)
            )
            done += result.rowcount
        if done != len(set(job_ids)):
            raise LeaseLostError(
                f"{len(set(job_ids)) - done} of {len(set(job_ids))} jobs are no longer leased to {worker}"
            )

    async def claim(self, worker: str, kinds: Sequence[str] | None = None, limit: int = 1) -> list[Job]:
        """Lease up to `limit` runnable jobs (at most one per key) to `worker`, highest priority first."""
        now = self._clock()
        params: dict[str, Any] = {
            "claim_now": now,
            "claim_limit": limit,
            "claim_worker": worker,
            "claim_until": now + self.policy.lease,
        }
        if kinds is not None:
            params["claim_kinds"] = list(kinds)
        result = await self._db.execute(claim_statement(self._postgres, kinds is not None), params)
        claimed = [job_from_row(row) for row in result]
        return sorted(claimed, key=lambda j: (-j.priority, j.id))

    async def heartbeat(self, job_id: int, worker: str) -> datetime:
        """Extend the lease of a job this worker holds; returns the new expiry."""
        until = self._clock() + self.policy.lease
        result = await self._db.execute(
            sa.update(jobs).where(*self._held(job_id, worker)).values(locked_until=until).returning(jobs.c.id)
        )
        if result.scalar_one_or_none() is None:
            raise LeaseLostError(f"job {job_id} is no longer leased to {worker}")
        return until

    async def complete(self, job_id: int, worker: str) -> None:
        """Mark a held job done; call it in the transaction that records the job's effects."""
        result = await self._db.execute(
            sa.update(jobs)
            .where(*self._held(job_id, worker))
            .values(status="done", locked_by=None, locked_until=None, finished_at=self._clock())
            .returning(jobs.c.id)
        )
        if result.scalar_one_or_none() is None:
            raise LeaseLostError(f"job {job_id} is no longer leased to {worker}")

    async def fail(
        self, job_id: int, worker: str, error: str, *, retry_in: timedelta | None = None, permanent: bool = False
    ) -> Job:
        """Give a held job back: pending after a backoff (or `retry_in`), or dead when out of attempts."""
        held = await self._db.execute(sa.select(jobs.c.attempts).where(*self._held(job_id, worker)).with_for_update())
        attempts = held.scalar_one_or_none()
        if attempts is None:
            raise LeaseLostError(f"job {job_id} is no longer leased to {worker}")
        now = self._clock()
        values: dict[str, Any] = {"locked_by": None, "locked_until": None, "last_error": error}
        if permanent or attempts >= self.policy.max_attempts:
            values.update(status="dead", finished_at=now)
        else:
            delay = retry_in if retry_in is not None else self.policy.delay(attempts)  # 0 means now, not "default"
            values.update(status="pending", run_after=now + delay)
        update = sa.update(jobs).where(*self._held(job_id, worker)).values(**values).returning(jobs.c.id)
        if values["status"] == "pending":
            await give_back(self._db, [job_id], functools.partial(self._db.execute, update))
        else:
            await self._db.execute(update)
        row = (await self._db.execute(sa.select(jobs).where(jobs.c.id == job_id))).one()
        return job_from_row(row)

    async def release_many(
        self,
        job_ids: Sequence[int],
        worker: str,
        error: str | None,
        *,
        until: datetime | None = None,
        retry_in: timedelta = timedelta(0),
    ) -> int:
        """Give held jobs back without spending an attempt: the connection failed, not these records.

        A CRM that is down or out of quota must delay its writes, never dead-letter them; record-level
        failures go through `fail` and count. `error` None keeps the job's last error (a job only put back).
        `until`: when they may run again (`PARKED`: once woken); else `retry_in` from now (a job whose call failed
        while the run goes on writing to its connection, which would otherwise claim it again at once), by
        default at once.
        """
        if not job_ids:
            return 0
        values = {
            "attempts": sa.case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
            "last_error": error if error is not None else jobs.c.last_error,
            "run_after": until or self._clock() + retry_in,
        }
        return await self._give_back_running(worker, values, among(self._db, jobs.c.id, job_ids))

    async def wake(self, kinds: Collection[str]) -> int:
        """Make the parked pending jobs of `kinds` runnable now; how many were parked."""
        return await self._reschedule(kinds, parked=True, to=self._clock())

    async def any_parked(self, kinds: Collection[str]) -> bool:
        """Whether a pending job of `kinds` is parked: asked in a read, so a run with nothing parked takes no write."""
        if not kinds:
            return False
        query = (
            sa.select(jobs.c.id)
            .where(status_is(jobs.c.status, "pending"), jobs.c.kind.in_(sorted(kinds)), jobs.c.run_after >= _at(PARKED))
            .limit(1)
        )
        return (await self._db.execute(query)).first() is not None

    async def park(self, kinds: Collection[str]) -> int:
        """Park again the pending jobs of `kinds` that were woken and not claimed (a read that failed midway)."""
        return await self._reschedule(kinds, parked=False, to=PARKED)

    async def _reschedule(self, kinds: Collection[str], *, parked: bool, to: datetime) -> int:
        if not kinds:
            return 0
        which = jobs.c.run_after >= _at(PARKED) if parked else jobs.c.run_after < _at(PARKED)
        result = await self._db.execute(
            sa.update(jobs)
            .where(status_is(jobs.c.status, "pending"), jobs.c.kind.in_(sorted(kinds)), which)
            .values(run_after=to)
        )
        return result.rowcount

    async def finish_parked(self, kind: str, keys: Collection[str]) -> int:
        """Mark done the parked pending jobs of `kind` under `keys` (what they waited for came, or is moot); how many.

        Looked up by key (the live-key index), so a batch of records that wait for nothing costs one probe each.
        """
        finished = 0
        now = self._clock()
        for chunk in chunks(sorted(set(keys))):
            result = await self._db.execute(
                sa.update(jobs)
                .where(
                    status_is(jobs.c.status, *LIVE),
                    status_is(jobs.c.status, "pending"),
                    jobs.c.key.in_(chunk),
                    jobs.c.kind == kind,
                    jobs.c.run_after >= _at(PARKED),
                )
                .values(status="done", finished_at=now)
            )
            finished += result.rowcount
        return finished

    async def live_of(self, kind: str, keys: Collection[str]) -> list[Job]:
        """The pending and running jobs of `kind` under `keys`, oldest first: one probe of the live-key index each."""
        found: list[Job] = []
        for chunk in chunks(sorted(set(keys))):
            query = sa.select(jobs).where(status_is(jobs.c.status, *LIVE), jobs.c.key.in_(chunk), jobs.c.kind == kind)
            found += [job_from_row(row) for row in await self._db.execute(query)]
        return sorted(found, key=lambda job: job.id)

    async def return_jobs_of(self, holder: str) -> int:
        """Give the jobs a gone holder had claimed back to the queue (its work is replayed, never skipped)."""
        return await self._give_back_running(holder, {})

    async def _give_back_running(
        self, worker: str, values: dict[str, Any], only: sa.ColumnElement[bool] | None = None
    ) -> int:
        """Set `worker`'s running jobs (those `only` admits, if given) back to pending with `values`; how many.

        They are locked first, so the fold and the update see the same jobs.
        """
        running = (status_is(jobs.c.status, "running"), jobs.c.locked_by == worker, *([] if only is None else [only]))
        held = sa.select(jobs.c.id).where(*running).with_for_update()
        held_ids = [int(job_id) for job_id in (await self._db.execute(held)).scalars()]
        if not held_ids:
            return 0
        update = (
            sa.update(jobs)
            .where(among(self._db, jobs.c.id, held_ids), *running)
            .values(status="pending", locked_by=None, locked_until=None, **values)
        )
        result = await give_back(self._db, held_ids, functools.partial(self._db.execute, update))
        return result.rowcount

    async def holders(self) -> list[str]:
        """The workers holding running jobs (to give back those of a worker that died)."""
        query = sa.select(jobs.c.locked_by).where(status_is(jobs.c.status, "running")).distinct()
        return sorted(str(h) for h in (await self._db.execute(query)).scalars() if h is not None)

    async def in_flight(self, kind: str) -> bool:
        """Whether a job of `kind` is claimed now: a worker is running it and has not recorded its outcome yet."""
        query = sa.select(jobs.c.id).where(status_is(jobs.c.status, "running"), jobs.c.kind == kind).limit(1)
        return (await self._db.execute(query)).first() is not None

    async def reads_waiting(self, kind: str, worker: str) -> bool:
        """Whether a job of `kind` waits to run now or is claimed by another holder than `worker` (being run)."""
        now = _at(self._clock())
        due = sa.and_(status_is(jobs.c.status, "pending"), jobs.c.run_after <= now)
        elsewhere = sa.and_(status_is(jobs.c.status, "running"), jobs.c.locked_by != worker)
        query = sa.select(jobs.c.id).where(jobs.c.kind == kind, sa.or_(due, elsewhere)).limit(1)
        return (await self._db.execute(query)).first() is not None

    async def due_mark(self) -> tuple[int, int]:
        """(how many, the newest id) of the pending jobs that may run now: it changes when work is queued (or given
        back, or comes due), and stays put while what waits is work no pass can do (a paused CRM's writes)."""
        query = sa.select(sa.func.count(), sa.func.max(jobs.c.id)).where(
            status_is(jobs.c.status, "pending"), jobs.c.run_after <= _at(self._clock())
        )
        count, newest = (await self._db.execute(query)).one()
        return int(count), int(newest or 0)

    async def runnable(self, kinds: Collection[str]) -> bool:
        """Whether a pending job of one of `kinds` may run now: one look before many claims.

        Exact kinds, not patterns: each is a few steps down the claim index, where a pattern on the
        middle of the kind scanned every pending job whenever none matched.
        """
        if not kinds:
            return False
        query = (
            sa.select(jobs.c.id)
            .where(
                status_is(jobs.c.status, "pending"),
                jobs.c.kind.in_(sorted(kinds)),
                jobs.c.run_after <= _at(self._clock()),
            )
            .limit(1)
        )
        return (await self._db.execute(query)).first() is not None

    async def renew(self, worker: str) -> int:
        """Extend the lease of every job `worker` holds (a worker's heartbeat while it works); returns how many.

        On PostgreSQL the rows another transaction has locked are skipped: that transaction is this worker
        completing or giving back those jobs (a lease outlives several heartbeats), and waiting for it, while
        it waits for rows this update locked in another order, was a deadlock that killed the worker.
        """
        held = sa.select(jobs.c.id).where(status_is(jobs.c.status, "running"), jobs.c.locked_by == worker)
        if self._postgres:
            held = held.order_by(jobs.c.id).with_for_update(skip_locked=True)
        result = await self._db.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(held.scalar_subquery()), jobs.c.status == "running", jobs.c.locked_by == worker)
            .values(locked_until=self._clock() + self.policy.lease)
        )
        return result.rowcount

    async def reap(self) -> list[int]:
        """Return jobs whose lease expired (their worker died) to pending, or dead letters; returns their ids."""
        now = self._clock()
        expired = (status_is(jobs.c.status, "running"), jobs.c.locked_until < _at(now))
        released: dict[str, Any] = {"locked_by": None, "locked_until": None}
        dead = await self._db.execute(
            sa.update(jobs)
            .where(*expired, jobs.c.attempts >= self.policy.max_attempts)
            .values(status="dead", finished_at=now, last_error="lease expired on the last attempt", **released)
            .returning(jobs.c.id)
        )
        # Locked (on PostgreSQL) until this transaction ends: a late heartbeat cannot take back a job whose newer
        # sibling was already folded into it. Every give-back locks the rows it gives back the same way.
        expiring = sa.select(jobs.c.id).where(*expired).with_for_update()
        expired_ids = [int(i) for i in (await self._db.execute(expiring)).scalars()]
        retried: list[int] = []
        if expired_ids:
            # The same rows as `expired_ids`: they are locked, and a lease that expired at `now` stays expired.
            update = (
                sa.update(jobs)
                .where(*expired)
                .values(status="pending", run_after=now, last_error="lease expired", **released)
                .returning(jobs.c.id)
            )

            async def give() -> list[int]:
                return [int(i) for i in (await self._db.execute(update)).scalars()]

            retried = await give_back(self._db, expired_ids, give)
        return sorted([int(i) for i in dead.scalars()] + retried)

    async def get(self, job_id: int) -> Job | None:
        row = (await self._db.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
        return job_from_row(row) if row else None

    async def list(self, status: JobStatus | None = None, key: str | None = None, kind: str | None = None) -> list[Job]:
        """Jobs by status, key and kind, oldest first; filter in the query: a full sync's outbox is large."""
        query = sa.select(jobs).order_by(jobs.c.id)
        if status is not None:
            query = query.where(jobs.c.status == status)
        if key is not None:
            query = query.where(jobs.c.key == key)
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        return [job_from_row(row) for row in await self._db.execute(query)]

    async def counts(self) -> dict[JobStatus, int]:
        result = await self._db.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status))
        return {row[0]: int(row[1]) for row in result}

    async def oldest_pending(self) -> datetime | None:
        """When the oldest pending job was queued (None: nothing waits), for queue-age metrics and alerts.

        A parked job is left out: it waits for something else to happen (a parent to sync), not for the queue.
        """
        query = sa.select(sa.func.min(jobs.c.created_at)).where(
            status_is(jobs.c.status, "pending"), jobs.c.run_after < _at(PARKED)
        )
        oldest: datetime | None = (await self._db.execute(query)).scalar_one_or_none()
        return oldest

    async def retry_dead(self, key: str | None = None) -> int:
        """Give dead jobs a fresh set of attempts (`crmsync errors retry`); returns how many went back.

        Of several dead coalescing jobs of one key and kind, the oldest goes back, with the newest payload.
        """
        dead = sa.select(jobs.c.id, jobs.c.key, jobs.c.kind, jobs.c.coalesces).where(jobs.c.status == "dead")
        if key is not None:
            dead = dead.where(jobs.c.key == key)
        back: list[int] = []
        newest: dict[tuple[str, str], int] = {}
        first: dict[tuple[str, str], int] = {}
        for row in (await self._db.execute(dead.order_by(jobs.c.id).with_for_update())).all():
            pair = (row.key, row.kind)
            if not row.coalesces:
                back.append(int(row.id))
            elif pair not in first:
                first[pair] = int(row.id)
                back.append(int(row.id))
            else:
                newest[pair] = int(row.id)
        if not back:
            return 0
        later = sorted(newest.values())
        if later:  # their payloads go to the oldest of their key and kind; they go
            newer = jobs.alias("newer")
            for pair, job_id in newest.items():
                payload = sa.select(newer.c.payload).where(newer.c.id == job_id).scalar_subquery()
                await self._db.execute(sa.update(jobs).where(jobs.c.id == first[pair]).values(payload=payload))
            await self._db.execute(sa.delete(jobs).where(among(self._db, jobs.c.id, later)))
        values = {"status": "pending", "attempts": 0, "run_after": self._clock(), "finished_at": None}
        update = sa.update(jobs).where(among(self._db, jobs.c.id, back), jobs.c.status == "dead").values(**values)
        result = await give_back(self._db, back, functools.partial(self._db.execute, update))
        return result.rowcount

    async def purge_done(self, finished_before: datetime, limit: int | None = None) -> int:
        """Delete jobs that finished before `finished_before` (at most `limit`, oldest first); how many went.

        Dead jobs stay: they are the dead letters an operator retries.
        """
        finished = (status_is(jobs.c.status, "done"), jobs.c.finished_at < _at(finished_before))
        if limit is None:
            return (await self._db.execute(sa.delete(jobs).where(*finished))).rowcount
        oldest = sa.select(jobs.c.id).where(*finished).order_by(jobs.c.id).limit(limit).scalar_subquery()
        return (await self._db.execute(sa.delete(jobs).where(jobs.c.id.in_(oldest)))).rowcount

    @staticmethod
    def _held(job_id: int, worker: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (jobs.c.id == job_id, jobs.c.status == "running", jobs.c.locked_by == worker)
