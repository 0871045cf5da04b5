"""Look before creating: the people a round of creates would make in a CRM are looked up there by email first.

A person typed into HubSpot and, seconds later, into Salesforce (or whose Salesforce notification comes after the
create was planned) would otherwise be created in Salesforce beside their own record, and reported as a duplicate
for a person to merge. The native HubSpot-Salesforce connector looks the person up by email before creating; so
does crmsync, with one look-up call per round of creates (`FindsByValue`). A record found there that crmsync has not
linked is read as if that CRM had sent it (`ingest_page`): identify links it to the canonical record by email, the
first meeting's policy merges the two, and the create's job is planned again, as an update or as nothing.

The look-up only reads: a crash before the found record is stored looks again; one after it is stored finds the
record linked when the job, its lease run out, is planned again. A record typed after the look-up still lands beside
the create, and is reported as a duplicate when its settle or its read meets it (`Settled.look_before_creates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from crmsync.connectors.base import FindsByValue, RemoteRecord, can_find_by
from crmsync.engine.context import SyncContext
from crmsync.engine.delivery_types import Planned
from crmsync.engine.ingest import ingest_page
from crmsync.errors import SkippableError
from crmsync.model.values import ObjectKind
from crmsync.store import Job, SyncErrorReport

EMAIL = "email"
"""The canonical field looked up by: the match key of the kinds that look before creating (contacts)."""

SYNCED_AS_ANOTHER = "SYNCED_AS_ANOTHER"
"""The code of a create not made: the person found there is synced as another canonical record (merge them)."""

WHOLE_RUN = datetime.max.replace(tzinfo=UTC)
"""`SyncContext.read_in_full` of a read asked for in full (`--full`): it covers every create of the run."""


def read_starts(
    ctx: SyncContext, kind: ObjectKind, connection: str, cursor: str | None, full: bool
) -> list[str | None]:
    """Where a read of the connection starts (None: everything), noting a read of everything in the context.

    A full read lists live records only: deletes since the last sync would be lost with the old cursor, so a full
    sync first catches up from it (Dataverse's delta token is the only place its deletes show). A read of everything
    met every person there: creates planned before it need no look-up (and a first sync makes the fewest calls).
    """
    starts: list[str | None] = [cursor, None] if full and cursor is not None else [None if full else cursor]
    if starts[-1] is None:
        ctx.read_in_full[(kind, connection)] = WHOLE_RUN if full else ctx.clock()
    return starts


def email_field(ctx: SyncContext, kind: ObjectKind, connection: str) -> str | None:
    """The connection's field to look `kind` records up by before creating them, or None when it does not look."""
    if ctx.dry_run or not ctx.config.object(kind).look_before_create:
        return None
    object_map = ctx.object_map(connection, kind)
    field = next(
        (rule.vendor[0] for rule in object_map.rules if rule.canonical == (EMAIL,) and len(rule.vendor) == 1), None
    )
    if field is None or not can_find_by(ctx.connectors[connection], object_map.object, field):
        return None
    return field


async def look_first(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    planned: list[Planned],
    jobs: list[Job],
    *,
    wait: timedelta,
    hold: timedelta,
) -> tuple[list[Planned], list[Job]]:
    """The round without the creates whose person was found in the connection: their jobs are given back to be
    planned again (or, found synced as another record, finished with a create error saying so).

    `hold`: how long after it was queued a create whose found record could not be linked yet (waiting for its
    parent) waits, `wait` at a time, before it goes."""
    field = email_field(ctx, kind, connection)
    if field is None:
        return planned, jobs
    covered = ctx.read_in_full.get((kind, connection))
    wanted: dict[int, str] = {}
    for item in planned:
        if item.op is None or item.op.kind not in ("create", "upsert"):
            continue
        if covered is not None and item.job.created_at <= covered:
            continue  # planned before a read of everything there: that read met the person, had they been there
        value = item.op.fields.get(field)
        if isinstance(value, str) and value.strip():
            wanted[item.job.id] = value.strip().lower()
    if not wanted:
        return planned, jobs
    connector = ctx.connectors[connection]
    assert isinstance(connector, FindsByValue)
    object_name = ctx.object_name(connection, kind)
    try:
        with ctx.report.timed("write"):
            found = await connector.find_by(
                object_name, field, sorted(set(wanted.values())), fields=ctx.read_fields(connection, kind)
            )
        met = await _meet(ctx, kind, connection, field, found, set(wanted.values()))
    except SkippableError as exc:
        # The CRM refused the question, not the people: they are created as without a look-up (a duplicate made
        # meanwhile is reported when met), rather than held until someone mends the query.
        ctx.report.note(f"{connection} {kind}: the look-up before creating was refused ({exc}); created without it")
        return planned, jobs
    except Exception:
        # Claimed but never sent: given back as a failed write call's are, with no attempt spent.
        async with ctx.store.begin() as tx:
            await tx.jobs.release_many([job.id for job in jobs], ctx.worker, None)
        raise
    if not met:
        return planned, jobs
    return await _settle_met(ctx, kind, connection, planned, jobs, wanted, met, wait, hold)


async def _meet(
    ctx: SyncContext, kind: ObjectKind, connection: str, field: str, found: Sequence[RemoteRecord], emails: set[str]
) -> dict[str, list[RemoteRecord]]:
    """Email → the records found with it; those crmsync has not linked are read in (linked to their person)."""
    met: dict[str, list[RemoteRecord]] = {}
    for record in found:
        value = record.fields.get(field)
        email = value.strip().lower() if isinstance(value, str) else None
        if email in emails:
            met.setdefault(email, []).append(record)
    records = [record for held in met.values() for record in held]
    if not records:
        return met
    async with ctx.store.read() as view:
        linked = await view.links.canonical_ids(connection, ctx.object_name(connection, kind), [r.id for r in records])
    unlinked = [record for record in records if record.id not in linked]
    if unlinked:
        await ingest_page(ctx, kind, connection, unlinked, (), None)
    return met


async def _settle_met(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    planned: list[Planned],
    jobs: list[Job],
    wanted: dict[int, str],
    met: dict[str, list[RemoteRecord]],
    wait: timedelta,
    hold: timedelta,
) -> tuple[list[Planned], list[Job]]:
    object_name = ctx.object_name(connection, kind)
    items = [item for item in planned if (email := wanted.get(item.job.id)) is not None and email in met]
    ids = sorted({item.target.canonical_id for item in items})
    now = ctx.clock()
    again: list[int] = []
    waiting: list[int] = []
    finished: list[Planned] = []
    refused: dict[str, list[SyncErrorReport]] = {}
    async with ctx.store.begin() as tx:
        here = await tx.links.links_of(ids, connection)
        owners = await tx.links.canonical_ids(
            connection, object_name, sorted({r.id for item in items for r in met[wanted[item.job.id]]})
        )
        for item in items:
            canonical_id = item.target.canonical_id
            records = met[wanted[item.job.id]]
            others = [(r.id, owners[r.id]) for r in records if owners.get(r.id) not in (None, canonical_id)]
            if here.get(canonical_id):
                again.append(item.job.id)  # linked now: planned again, as an update or as nothing
            elif others:
                # Another canonical record holds the person there (one of two records that came to share an
                # email): a create would put them there twice. Not created, and said so until they are merged.
                remote_id, owner = others[0]
                refused[canonical_id] = [
                    SyncErrorReport(
                        connection=connection,
                        object=object_name,
                        operation="create",
                        message=f"not created in {connection}: {remote_id} there has the same email and is synced as "
                        f"another {kind} ({owner}); merge the two, or give one another email",
                        canonical_id=canonical_id,  # the record met there is named in the message: it is owner's
                        code=SYNCED_AS_ANOTHER,
                    )
                ]
                finished.append(item)
            elif item.job.created_at > now - hold:
                waiting.append(item.job.id)  # found but not linkable yet (its parent is read first): wait for it
        if again:
            await tx.jobs.release_many(again, ctx.worker, None)
        if waiting:
            await tx.jobs.release_many(waiting, ctx.worker, None, retry_in=wait)
        await tx.errors.replace(connection, object_name, ("create", "update"), refused)
        await tx.jobs.complete_many([item.job.id for item in finished], ctx.worker)
    ctx.report.add(kind, connection, "create_met", len(again) + len(finished))
    gone = set(again) | set(waiting) | {item.job.id for item in finished}
    return [item for item in planned if item.job.id not in gone], [job for job in jobs if job.id not in gone]


__all__ = ["SYNCED_AS_ANOTHER", "WHOLE_RUN", "email_field", "look_first", "read_starts"]
