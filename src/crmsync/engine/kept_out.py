"""Records a filter kept out, remembered by match key, and linked to a twin that passes the filter later.

A filter decides when crmsync first meets a record; a kept-out record whose twin in another CRM passed is
the same person there, so it is met like any other (`identify._synced_twin`, the twin met first). Met the
other way round, the kept-out record was read and left before the twin existed: its key is kept here so
the twin's first meeting links it instead of creating the person again beside it (a duplicate in Dataverse
or Salesforce, a refused create in HubSpot). The key is the one the record held when last read, so a
record that gave an address up is never linked to the next person who takes it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from crmsync.engine.context import SyncContext
from crmsync.engine.merges import report_duplicate
from crmsync.engine.outbox import refetch_job
from crmsync.model.values import ObjectKind
from crmsync.store import Link, NewJob, Transaction
from crmsync.store.kept_out import KeptOutRecord

TWIN_REASON = "its twin passed the filter"
"""Why a kept-out record linked to its twin is read again: its values meet the person's like any record's."""


async def remember(
    tx: Transaction, kind: ObjectKind, connection: str, object_name: str, met: Collection[str], kept: Mapping[str, str]
) -> None:
    """Of a page's records met unlinked (`met`), those kept out with a key (`kept`: remote id → key) are kept
    under their key now; the others (passing now, keyless, linked) are no longer anyone's kept-out twin."""
    await tx.kept_out.forget(connection, object_name, sorted(set(met) - set(kept)))
    await tx.kept_out.keep(kind, connection, object_name, kept)


async def link_twins(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, claims: Mapping[str, str]
) -> None:
    """Link the kept-out records holding keys just claimed (key → canonical id) by a record of `connection`.

    The first met in each other connection becomes the one crmsync syncs there, read again so its values
    meet the person's (until then nothing is written there: it has no shadow); any other one there with
    the key is linked behind it and reported as a duplicate, as it would be had both been met together.
    """
    found = await tx.kept_out.find(kind, sorted(claims))
    candidates: dict[tuple[str, str], list[KeptOutRecord]] = {}
    for records in found.values():
        for kept in records:
            # One CRM holding the person twice stays the filter's to decide, as before; a connection or object
            # no longer synced has nothing to link.
            if (
                kept.connection != connection
                and kept.connection in ctx.connections(kind)
                and kept.object == ctx.object_name(kept.connection, kind)
            ):
                candidates.setdefault((kept.connection, kept.object), []).append(kept)
    links: list[Link] = []
    duplicates: list[tuple[Link, str]] = []
    jobs: list[NewJob] = []
    for (kept_connection, kept_object), records in sorted(candidates.items()):
        ids = [kept.remote_id for kept in records]
        linked = await tx.links.canonical_ids(kept_connection, kept_object, ids)  # linked meanwhile: left alone
        survivors: dict[str, str] = {}
        for kept in records:
            if kept.remote_id in linked:
                continue
            link = Link(claims[kept.key], kind, kept_connection, kept_object, kept.remote_id)
            survivor = survivors.setdefault(kept.key, kept.remote_id)
            if survivor == kept.remote_id:
                links.append(link)
                jobs.append(refetch_job(kind, kept_connection, kept_object, kept.remote_id, reason=TWIN_REASON))
            else:
                duplicates.append((link, survivor))
        await tx.kept_out.forget(kept_connection, kept_object, ids)
    await tx.links.link_many(links + [link for link, _ in duplicates])  # survivors first: the older links
    for link, survivor in duplicates:
        await report_duplicate(
            tx,
            link.connection,
            link.object,
            link.canonical_id,
            link.remote_id,
            f"duplicate {kind} in {link.connection}: {link.remote_id} has the same match key as {survivor}, "
            f"which stays the one crmsync syncs; merge them in {link.connection}",
        )
    await tx.jobs.enqueue_many(jobs)


__all__ = ["TWIN_REASON", "link_twins", "remember"]
