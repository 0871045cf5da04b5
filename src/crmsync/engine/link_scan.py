"""Find the records whose links moved where the vendor's modification stamp does not show it (S15 by polling).

HubSpot leaves a contact's `lastmodifieddate` alone when only its associations change, so an incremental
read never sees a contact moved to another company. After such a read, the engine reads the links of every
record it holds in that connection (one request per 1,000 records and role), compares them with the
connection's shadows, and reads again (and reconciles) only the records whose links differ. A full read
lists every record with its links, so it needs no scan. The run report times the scan as its `scan` stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from crmsync.connectors.base import RemoteRecord, Tombstone, UnstampedLinks
from crmsync.engine.context import SyncContext
from crmsync.engine.ingest import CHUNK, ingest_page
from crmsync.engine.ingest_types import PageOutcome
from crmsync.engine.state import LINK_ROLES, link_field, link_values, parent_kind
from crmsync.model.values import ObjectKind
from crmsync.store import Transaction

Held = tuple[str, str, dict[str, str | None]]
"""(remote id, canonical id, the link fields of the connection's shadow)."""


SCAN_IN_FLIGHT = 4
"""Pages of links read at once: each is one request per role, and the vendor's latency dominates a scan."""


async def scan_links(ctx: SyncContext, kind: ObjectKind, connection: str) -> PageOutcome:
    """Read again the `kind` records of `connection` whose links changed unseen; what their ingest did."""
    connector = ctx.connectors[connection]
    object_name = ctx.object_name(connection, kind)
    roles = LINK_ROLES[kind]
    total = PageOutcome()
    if not roles or not isinstance(connector, UnstampedLinks) or not connector.unstamped_links(object_name):
        return total
    names = [link_field(role) for role in roles]
    size = connector.link_scan_size(object_name)
    moved: list[str] = []  # read again together: moves are few and far between
    after, last = "", False
    while not last:
        with ctx.report.timed("scan"):
            pages: list[list[Held]] = []
            async with ctx.store.read() as tx:
                while not last and len(pages) < SCAN_IN_FLIGHT:
                    held = await tx.shadows.linked_values(connection, object_name, names, after=after, limit=size)
                    last = len(held) < size
                    if held:
                        pages.append(held)
                        after = held[-1][0]
            current = await asyncio.gather(
                *(connector.read_links(object_name, [remote_id for remote_id, _, _ in held], roles) for held in pages)
            )
            async with ctx.store.read() as tx:
                for held, links in zip(pages, current, strict=True):
                    moved += await _moved(ctx, tx, kind, connection, held, links)
        if moved and (last or len(moved) >= CHUNK):
            outcome = await _read_again(ctx, kind, connection, moved)
            total.add(outcome)
            total.seen += outcome.seen
            moved = []
    return total


async def _moved(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    held: Sequence[Held],
    current: Mapping[str, Mapping[str, Sequence[str]]],
) -> list[str]:
    """The remote ids whose links now give other link fields than the shadow holds (their duplicates aside)."""
    vendor = ctx.vendor(connection)
    wanted: dict[str, set[str]] = {}
    for remote_id, _, _ in held:
        for role, parent_ids in current.get(remote_id, {}).items():
            if parent_ids:
                wanted.setdefault(role, set()).add(parent_ids[0])
    resolved = {
        role: await tx.links.canonical_ids(
            connection, ctx.object_name(connection, parent_kind(role)), sorted(remote_ids)
        )
        for role, remote_ids in wanted.items()
    }
    moved: dict[str, str] = {}
    for remote_id, canonical_id, shadow in held:
        # A parent not linked yet is left out, as an ingest would leave it: reading the record again changes nothing.
        fields, _ = link_values(vendor, kind, current.get(remote_id, {}), resolved)
        if any(shadow.get(name) != value for name, value in fields.items()):
            moved[remote_id] = canonical_id
    if not moved:
        return []
    # Only a survivor's values count (a duplicate's links are its own business): read again only survivors.
    survivors = await tx.links.links_of(sorted(set(moved.values())), connection)
    return sorted(
        remote_id
        for remote_id, canonical_id in moved.items()
        if (found := survivors.get(canonical_id)) and found[0].remote_id == remote_id
    )


async def _read_again(ctx: SyncContext, kind: ObjectKind, connection: str, remote_ids: Sequence[str]) -> PageOutcome:
    connector = ctx.connectors[connection]
    object_map = ctx.object_map(connection, kind)
    with ctx.report.timed("read"):
        found = await connector.fetch(object_map.object, remote_ids, fields=list(ctx.read_fields(connection, kind)))
    upserts = [record for record in found if isinstance(record, RemoteRecord)]
    tombstones = [record for record in found if isinstance(record, Tombstone)]
    return await ingest_page(ctx, kind, connection, upserts, tombstones, None)


__all__ = ["scan_links"]
