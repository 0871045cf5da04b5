"""One sync run: read every connection of each kind in dependency order, decide deletes, then deliver.

Kinds go parent first (company, contact, deal, activity) so a child's parents are linked, and
created where they were missing, before the child is written (S17). Within a kind, every
connection is read before anything is written, so concurrent edits in several CRMs meet in one
reconcile instead of overwriting each other, and a record met in two CRMs is matched instead of created
again; workers beside the run write to no connection it has yet to read (`runlock.reading`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import ChangePage, Connector, Cursor, RemoteRecord, Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.counterparts import apply_counterparts
from crmsync.engine.deliver import deliver
from crmsync.engine.ingest import CHUNK, ingest_page
from crmsync.engine.link_scan import scan_links
from crmsync.engine.link_waits import READ_LINKED, parents_landed
from crmsync.engine.look_first import read_starts
from crmsync.engine.merges import rarchive_kind, rdelete_kind, rmerge_kind
from crmsync.engine.newly_mapped import newly_mapped, read_in_full_note
from crmsync.engine.outbox import await_kind, link_wait_kind, refetch_kind, write_kind
from crmsync.engine.premap import PageInMapping, PreMapper, handed_over
from crmsync.engine.readahead import read_ahead
from crmsync.engine.redis_windows import RedisWindows
from crmsync.engine.report import RunReport
from crmsync.engine.runlock import (
    Reading,
    leases_being_read,
    new_worker_id,
    reading,
    reading_lease,
    run_lease,
    worker_claims,
)
from crmsync.engine.shared_limits import share_rate_limits, shared_windows
from crmsync.engine.tombstones import delete_kind, merge_kind, process_deletes
from crmsync.engine.waiting_reads import count_outcome, read_waiting
from crmsync.errors import CrmSyncError
from crmsync.model.values import ObjectKind
from crmsync.store import Store

READ_AHEAD = 1
"""Pages a connection reads ahead while the engine reconciles the current one (bounded: invariant 7), and more
while they hold fewer than two chunks of records (HubSpot's pages of 100). A CRM serves a page in a fraction of
the time the engine takes to store it, so one large page ahead (Dataverse's 5,000) is enough: two, with the
page being read, held 20,000 records at once and set the engine's peak memory."""
STATISTICS_AFTER = 5_000
"""Records read, or written, in one kind's pass after which the state tables' statistics are refreshed: a
first sync grows them from nothing, and plans made for the empty tables scan them whole."""
REFETCH_CLAIM = 1000
"""Hints a run claims at a time for one (kind, connection)."""
REAP_EVERY = timedelta(seconds=2)
"""How often a worker's passes look for the claims of dead workers: each look scans every running job, and
a busy worker starts several passes a second (four statements a pass were 8 % of the database's time)."""
FINISHED_JOBS_KEPT = timedelta(days=1)
"""How long a done job stays in the queue table: a day of them tells what was written lately (the queue gauge
of /metrics), and the table does not grow with every write crmsync ever made."""
PURGE_EVERY = timedelta(minutes=10)
"""How often a runner deletes the done jobs past FINISHED_JOBS_KEPT: each look scans the jobs table."""
PURGE_BATCH = 10_000
"""Done jobs deleted per transaction: a first sync leaves a hundred thousand, which one transaction would
hold the writer for while the service waits."""
PURGE_BATCHES_PER_RUN = 5
"""Batches one run deletes at most; the next run goes on at once (a state from before schema 8 may hold
millions of done jobs, and a pass of the service must not wait for all of them)."""
SHARED_REFETCH_CLAIM = 500
"""Hints a worker beside others claims at a time: twenty claims per 10,000 hints keep four workers busy to the
end where ten left two of them idle, and 500 is still whole batches of every vendor's read (100, 200, 500)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event: `stage` is read/delete/write, `done` counts records (or writes) so far."""

    kind: ObjectKind
    connection: str
    stage: str
    done: int
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


def _quiet(event: Progress) -> None:
    del event


@dataclass(frozen=True, slots=True)
class RunOptions:
    full: bool = False
    dry_run: bool = False
    kinds: tuple[ObjectKind, ...] | None = None
    allow_mass_delete: bool = False
    read: bool = True  # False: only the queued hints and writes (the service between its polls)
    shared: bool = False  # a worker's pass beside others: no run lease, no reads, deletes left to the lease holder
    paused: frozenset[str] = frozenset()  # connections left alone this run (down): their jobs wait in the queue
    scan_links: bool = True  # after an incremental read, look for links moved unseen (`link_scan`; HubSpot)


class SyncRunner:
    """Runs syncs of one configuration against one store through the given connectors."""

    def __init__(
        self,
        config: SyncConfig,
        store: Store,
        connectors: Mapping[str, Connector],
        *,
        clock: Callable[[], datetime] = utc_now,
        progress: ProgressCallback = _quiet,
    ) -> None:
        self.config = config
        self.store = store
        self.connectors = connectors
        self.clock = clock
        self.progress = progress
        self._reaped_at: datetime | None = None
        self._purged_at: datetime | None = None
        # Several processes (`crmsync serve`, workers, a `crmsync sync`) may work on this state at once:
        # they count their API calls in one window per connection, so together they keep the vendor's limits.
        self._windows = shared_windows(config, store)
        if self._windows is not None:
            share_rate_limits(connectors, self._windows)

    async def __aenter__(self) -> SyncRunner:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close what the runner opened itself (the Redis client of shared rate limits); idempotent.

        The store and the connectors are the caller's to close.
        """
        if isinstance(self._windows, RedisWindows):
            await self._windows.aclose()

    async def run(self, options: RunOptions | None = None) -> RunReport:
        options = options or RunOptions()
        worker = new_worker_id()
        ctx = SyncContext(self.config, self.store, self.connectors, self.clock, dry_run=options.dry_run, worker=worker)
        if not options.dry_run:
            await self._purge_finished_jobs()
        if options.shared:
            if options.read or options.full:
                raise ValueError("a shared pass reads no cursors: use read=False and no full sync")
            now = self.clock()
            reap = self._reaped_at is None or not now - REAP_EVERY < self._reaped_at <= now
            if reap:
                self._reaped_at = now
            async with worker_claims(self.store, worker, reap=reap) as reaped:
                if reaped:
                    ctx.report.note(f"{reaped} jobs of a worker that stopped were queued again")
                await self._run_kinds(ctx, options)
            return ctx.report
        async with run_lease(self.store, worker) as taken_over:
            if taken_over:
                ctx.report.note(f"an interrupted run left {taken_over} jobs claimed: they were queued again")
            await self._run_kinds(ctx, options)
        return ctx.report

    async def _purge_finished_jobs(self) -> int:
        """Delete the done jobs older than FINISHED_JOBS_KEPT, at most every PURGE_EVERY; how many went."""
        now = self.clock()
        if self._purged_at is not None and now - PURGE_EVERY < self._purged_at <= now:
            return 0
        purged = 0
        for _ in range(PURGE_BATCHES_PER_RUN):
            async with self.store.begin() as tx:
                deleted = await tx.jobs.purge_done(now - FINISHED_JOBS_KEPT, limit=PURGE_BATCH)
            purged += deleted
            if deleted < PURGE_BATCH:
                self._purged_at = now  # all gone: look again in PURGE_EVERY
                break
        return purged

    async def _run_kinds(self, ctx: SyncContext, options: RunOptions) -> None:
        kinds = [k for k in self.config.kinds if options.kinds is None or k in options.kinds]
        being_read: set[str] = set()
        if not options.read:
            async with self.store.read() as tx:
                being_read = await leases_being_read(tx, ctx.worker)
        for kind in kinds:
            if not options.read and not await self._queued(kind) and not parents_landed(ctx, kind):
                # A pass of hints (a worker's, or `serve`'s after a webhook) looks once per kind instead of
                # claiming from each of its queues: most passes concern one or two kinds. One that linked or
                # created a parent goes on: children may wait for it (a read, or a link: `link_waits`).
                continue
            if options.read:
                connections = _active(ctx, kind, options)
                async with reading(self.store, ctx.worker, kind, connections) as gate:
                    await self._read_kind(ctx, kind, connections, gate, options)
                    await self._decide_kind(ctx, kind, options)
                _note_keyless(ctx, kind)
            else:
                limit = SHARED_REFETCH_CLAIM if options.shared else REFETCH_CLAIM
                await self._refetch_kind(ctx, kind, _active(ctx, kind, options), limit)
                await self._decide_kind(ctx, kind, options)
            # Each connection's outbox is its own (shadows and links of that connection only): deliver them at once.
            # Not to a connection another run has yet to read: its writes wait for that read (`runlock.reading`).
            # Nor to one never read for this kind: it may hold the people those writes would create (duplicates).
            never_read = await self._never_read(ctx, kind, _active(ctx, kind, options))
            written_before = _written(ctx.report)
            try:
                async with asyncio.TaskGroup() as group:
                    for connection in _active(ctx, kind, options):
                        if reading_lease(kind, connection) not in being_read and connection not in never_read:
                            group.create_task(self._deliver(ctx, kind, connection, beside_reads=not options.read))
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            if _written(ctx.report) - written_before >= STATISTICS_AFTER:
                await self.store.refresh_statistics()

    async def _never_read(self, ctx: SyncContext, kind: ObjectKind, connections: Sequence[str]) -> set[str]:
        """The connections no read of `kind` has completed a page of yet (no cursor): their writes wait.

        A first read that failed (the CRM down, a column `check --fix` has yet to create) left the CRM's
        records unmatched; creating there the records queued from the other CRMs would duplicate its own.
        """
        async with self.store.read() as tx:
            return {c for c in connections if await tx.cursors.get(c, ctx.object_name(c, kind)) is None}

    async def _decide_kind(self, ctx: SyncContext, kind: ObjectKind, options: RunOptions) -> None:
        """Deletes of the kind (not in a shared pass), then the records they handed over, read again."""
        if not options.shared:  # the mass-delete breaker judges a kind's deletes together, in one process
            deletes = await process_deletes(ctx, kind, allow_mass_delete=options.allow_mass_delete)
            for what in ("propagated", "ignored", "archived", "parked", "recreated", "merged"):
                ctx.report.add(kind, "*", f"delete_{what}", getattr(deletes, what))
            if deletes.held:
                ctx.report.add(kind, "*", "delete_held", deletes.pending)
        # Deletes and merges may hand a record over (a duplicate taking over, a merge survivor): read those now.
        # A shared pass decided no deletes, so nothing was handed over: its writes go out first.
        for connection in [] if options.shared else _active(ctx, kind, options):
            try:
                await self._refetch(ctx, kind, connection)
            except CrmSyncError as exc:
                ctx.report.fail(kind, connection, "read", exc)

    async def _queued(self, kind: ObjectKind) -> bool:
        """Whether a job of `kind` may run now: hints, writes and counterparts (`…:kind:…`), deletes and merges.

        Asked when the pass reaches the kind, so jobs that earlier kinds of this pass queued for it count.
        """
        async with self.store.read() as tx:
            return await tx.jobs.runnable(job_kinds(kind, self.config.object(kind).connections))

    async def _deliver(self, ctx: SyncContext, kind: ObjectKind, connection: str, *, beside_reads: bool) -> None:
        try:
            delivered = await deliver(ctx, kind, connection, beside_reads=beside_reads)
        except CrmSyncError as exc:
            # One CRM down (or out of quota) must not stop the others: its writes stay queued for the next run.
            ctx.report.fail(kind, connection, "write", exc)
            return
        for what in ("created", "updated", "deleted", "failed", "retrying"):
            ctx.report.add(kind, connection, what, getattr(delivered, what))
        await self._remote_deletes(ctx, kind, connection)
        self.progress(Progress(kind, connection, "write", delivered.created + delivered.updated, True))

    async def _read_kind(
        self, ctx: SyncContext, kind: ObjectKind, connections: Sequence[str], gate: Reading, options: RunOptions
    ) -> None:
        for connection in connections:
            read_before = ctx.report.total("read")
            try:
                await self._read_connection(ctx, kind, connection, full=options.full, scan=options.scan_links)
            except CrmSyncError as exc:
                # Its cursor stays where the last stored page left it; the other CRMs go on.
                ctx.report.fail(kind, connection, "read", exc)
            await gate.read(connection)
            if ctx.report.total("read") - read_before >= STATISTICS_AFTER:
                await self.store.refresh_statistics()  # the next connection's lookups meet what this one stored

    async def _refetch_kind(
        self, ctx: SyncContext, kind: ObjectKind, connections: Sequence[str], limit: int = REFETCH_CLAIM
    ) -> None:
        for connection in connections:
            try:
                seen = await self._refetch(ctx, kind, connection, limit)
                if parents_landed(ctx, kind, connection, how=READ_LINKED):
                    seen += await read_waiting(ctx, kind, connection)
            except CrmSyncError as exc:
                ctx.report.fail(kind, connection, "read", exc)
                continue
            if seen:
                self.progress(Progress(kind, connection, "read", seen, True))

    async def _read_connection(
        self, ctx: SyncContext, kind: ObjectKind, connection: str, *, full: bool, scan: bool
    ) -> None:
        object_name = ctx.object_name(connection, kind)
        fields = frozenset(ctx.read_fields(connection, kind))
        async with self.store.read() as tx:
            cursor = await tx.cursors.get(connection, object_name)
            known = await tx.read_fields.get(connection, object_name)
        # Records changed since the cursor would hold the only values of a field mapped since: read them all.
        added = newly_mapped(known, fields, cursor=cursor)
        if added and not full:
            ctx.report.note(read_in_full_note(connection, kind, added))
            full = True
        starts = read_starts(ctx, kind, connection, cursor, full)  # noting a read of everything (`look_first`)
        done = 0
        for start in starts:
            done = await self._read_pages(ctx, kind, connection, start, done)
        if known != fields and not ctx.dry_run:
            # Only now that every page is stored: a run stopped during the read in full does it again.
            async with self.store.begin() as tx:
                await tx.read_fields.put(connection, object_name, fields)
        if scan and starts[-1] is not None:  # a read of everything listed every record with its links
            moved = await scan_links(ctx, kind, connection)
            count_outcome(ctx.report, kind, connection, moved)
            done += moved.seen
        done += await self._refetch(ctx, kind, connection)
        done += await read_waiting(ctx, kind, connection)
        self.progress(Progress(kind, connection, "read", done, True))

    async def _read_pages(
        self, ctx: SyncContext, kind: ObjectKind, connection: str, cursor: str | None, done: int
    ) -> int:
        """Ingest every page from `cursor` (None: everything); returns the records seen so far."""
        object_map = ctx.object_map(connection, kind)
        connector = self.connectors[connection]
        pages = connector.changes(
            object_map.object, Cursor(cursor) if cursor else None, fields=ctx.read_fields(connection, kind)
        )
        mapper = PreMapper(object_map, ctx.report)
        async with (
            aclosing(mapper),
            read_ahead(handed_over(pages, mapper), READ_AHEAD, weight=_records_in, budget=2 * CHUNK) as ahead,
        ):
            while True:
                with ctx.report.timed("read"):  # only the time spent waiting for a page counts
                    first = await ahead.next()
                if first is None:
                    return done
                batch = [first]
                # Pages already read join one transaction: a transaction (its lookups and its commit) per
                # 100-record page made HubSpot's records cost more than Salesforce's and Dataverse's. A page
                # that does not join stays queued, so no more than the read-ahead's pages are held at once.
                while (page := ahead.peek()) is not None and _joins([taken.page for taken in batch], page.page):
                    batch.append(page)
                    await ahead.next()
                upserts = [record for taken in batch for record in taken.page.upserts]
                last = batch[-1].page
                outcome = await ingest_page(
                    ctx,
                    kind,
                    connection,
                    upserts,
                    last.tombstones,
                    last.cursor,
                    mapped=[mapping for taken in batch for mapping in mapper.take(taken)],
                )
                done += outcome.seen
                count_outcome(ctx.report, kind, connection, outcome)
                self.progress(Progress(kind, connection, "read", done))

    async def _refetch(self, ctx: SyncContext, kind: ObjectKind, connection: str, limit: int = REFETCH_CLAIM) -> int:
        """Records queued for another read (children that awaited a parent, merge survivors, webhook hints)."""
        connector = self.connectors[connection]
        object_name = ctx.object_name(connection, kind)
        seen = 0
        async with self.store.begin() as tx:
            jobs = await tx.jobs.claim(ctx.worker, [refetch_kind(kind, connection)], limit=limit)
        if not jobs:
            return 0
        ids = sorted({str(job.payload["remote_id"]) for job in jobs})
        fields = list(ctx.read_fields(connection, kind))
        with ctx.report.timed("read"):
            found = await connector.fetch(object_name, ids, fields=fields)
        upserts = [r for r in found if isinstance(r, RemoteRecord)]
        tombstones = [t for t in found if isinstance(t, Tombstone)]
        outcome = await ingest_page(ctx, kind, connection, upserts, tombstones, None, complete=[j.id for j in jobs])
        count_outcome(ctx.report, kind, connection, outcome)
        seen += outcome.seen
        return seen

    async def _remote_deletes(self, ctx: SyncContext, kind: ObjectKind, connection: str) -> None:
        """Counterparts of a vendor merge in this connection: merged by its vendor's merge, else deleted or marked."""
        try:
            await apply_counterparts(ctx, kind, connection)
        except CrmSyncError as exc:
            ctx.report.fail(kind, connection, "write", exc)  # the jobs were given back for the next run


def job_kinds(kind: ObjectKind, connections: Sequence[str]) -> list[str]:
    """Every job kind a pass runs for `kind`: hints, writes and the remote side of merges per
    connection, then deletes and merges. A kind missing here would never run in a pass of hints.
    (Records waiting for a parent are parked, so never runnable on their own: a pass reads them when a
    parent lands in it, `parents_landed`; links waiting for a parent are written when it lands, `link_waits`.)"""
    per_connection = (refetch_kind, await_kind, link_wait_kind, write_kind, rmerge_kind, rdelete_kind, rarchive_kind)
    return [make(kind, connection) for connection in connections for make in per_connection] + [
        delete_kind(kind),
        merge_kind(kind),
    ]


def _active(ctx: SyncContext, kind: ObjectKind, options: RunOptions) -> list[str]:
    """The kind's connections this run reads and writes: not a paused one, nor one the run found unavailable
    (`RunReport.given_up`); their changes and writes wait for the next run."""
    return [c for c in ctx.connections(kind) if c not in options.paused and c not in ctx.report.given_up]


def _written(report: RunReport) -> int:
    return report.total("created") + report.total("updated") + report.total("deleted")


def _records_in(item: PageInMapping) -> int:
    return len(item.page.upserts) + len(item.page.tombstones)


def _joins(batch: Sequence[ChangePage], page: ChangePage) -> bool:
    """Whether `page` may be ingested in one transaction with the pages of `batch` before it.

    Within a transaction the upserts go first and the tombstones last, so only the last page may hold
    tombstones (a record deleted and then restored would come out deleted). A record met again in a later
    page is left to its own transaction, as is anything past one chunk.
    """
    if batch[-1].tombstones or sum(len(p.upserts) for p in batch) + len(page.upserts) > CHUNK:
        return False
    seen = {record.id for p in batch for record in p.upserts}
    return not any(record.id in seen for record in page.upserts)


def _note_keyless(ctx: SyncContext, kind: ObjectKind) -> None:
    """Say how many records met for the first time had no match key: they are created in every other CRM."""
    keyless = {c: n for (k, c, what), n in ctx.report.counts.items() if k == kind and what == "keyless"}
    if not keyless:
        return
    total = sum(keyless.values())
    keys = " or ".join(spec.name for spec in ctx.match_specs(kind))
    where = ", ".join(f"{connection} {n:,}" for connection, n in sorted(keyless.items()))
    named = kind if total == 1 else _PLURALS[kind]
    example = " (`crmsync init`'s example shows both)" if kind == "contact" else ""
    each, they = ("it is", "it is") if total == 1 else ("each is", "they are")
    ctx.report.note(
        f"{total:,} {named} met for the first time had no {keys} to match by ({where}): {each} new, and "
        f"created in the other CRMs. If {they} there already, add a second key to objects.{kind}.match, "
        f"or a filter{example}",
        alert=True,  # records that may be there already were created again: a person must look
    )


_PLURALS: Mapping[ObjectKind, str] = {
    "company": "companies",
    "contact": "contacts",
    "deal": "deals",
    "activity": "activities",
}


async def run_sync(
    config: SyncConfig,
    store: Store,
    connectors: Mapping[str, Connector],
    options: RunOptions | None = None,
    *,
    progress: ProgressCallback = _quiet,
    clock: Callable[[], datetime] = utc_now,
) -> RunReport:
    """Convenience: one run with a fresh runner."""
    async with SyncRunner(config, store, connectors, clock=clock, progress=progress) as runner:
        return await runner.run(options)


__all__ = ["Progress", "ProgressCallback", "RunOptions", "SyncRunner", "job_kinds", "run_sync"]
