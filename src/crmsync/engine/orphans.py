"""Parents named by records read from a CRM that will never be linked there: followed to a survivor, or left out.

A record whose match key needs a parent not linked yet in its CRM waits for it (`outbox.await_job`, S17). A parent
that a filter keeps out (`kept_out`), or that was deleted there since crmsync linked it, will not be linked: the
record then syncs without that link, as a record with no such parent would, and a read error on it names the parent
and why (a problem of its read: settled by the read that finds the parent linked, or gone from the record). A parent
merged away there (its id unlinked as `MERGED_AWAY`) stands for the record it was merged into: the link follows that.
Once a kept-out parent passes the filter and is linked, its children are read again (`relink_reads`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import sqlalchemy as sa

from crmsync.engine.context import SyncContext
from crmsync.engine.matching import key_roles
from crmsync.engine.outbox import await_job, await_kind
from crmsync.engine.state import LINK_ROLES, MERGED_AWAY, link_field, parent_kind, role_of, survivor_of
from crmsync.mapping import MappingProblem
from crmsync.mapping.problems import ProblemCode
from crmsync.model.values import ObjectKind
from crmsync.store import NewJob, Transaction
from crmsync.store.among import chunks
from crmsync.store.codec import decode_value
from crmsync.store.tables import FORMER_IDS, audit, sync_errors

PARENT_KEPT_OUT: ProblemCode = "parent_kept_out"
"""Code of the read error of a record synced without its parent, which the filter keeps out of crmsync."""
PARENT_DELETED_THERE: ProblemCode = "parent_deleted"
"""Code of the read error of a record synced without its parent, which was deleted in the record's CRM."""


@dataclass
class Orphans:
    """A page's parents that will never be linked: those followed to a survivor, and those left out (and why)."""

    vendor: str
    followed: dict[str, dict[str, str]] = field(default_factory=dict)
    """role -> remote id -> the canonical record it was merged into."""
    left_out: dict[tuple[str, str], tuple[ProblemCode, str]] = field(default_factory=dict)
    """(role, remote id) -> (problem code, why), for the roles the kind's match key needs."""

    met: set[str] = field(default_factory=set)
    """Remote ids of the records met with a parent left out (`problems`)."""

    def problems(self, record: str, kind: ObjectKind, parents: Mapping[str, Sequence[str]]) -> list[MappingProblem]:
        """The read problems of a record whose `parents` (role -> remote ids) include one left out."""
        found = []
        for role, ids in parents.items():
            ended = self.left_out.get((role, ids[0])) if ids else None
            if ended is not None:
                code, why = ended
                found.append(
                    MappingProblem(
                        code,
                        self.vendor,
                        kind,
                        parent_field(role, ids[0]),
                        role,
                        ids[0],
                        f"synced without its {role} {ids[0]}: {why}",
                        "in",
                    )
                )
        if found:
            self.met.add(record)
        return found

    async def stop_waiting(self, tx: Transaction, kind: ObjectKind, connection: str, object_name: str) -> None:
        """Finish the parked reads of the records met with a parent left out: they wait for it no more."""
        if self.met:
            keys = [await_job(kind, connection, object_name, remote_id).key for remote_id in sorted(self.met)]
            await tx.jobs.finish_parked(await_kind(kind, connection), keys)

    def parents(self, parents: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
        """`parents` without those left out: the record's key is then made without them, and it does not wait."""
        return {role: tuple(i for i in ids if (role, i) not in self.left_out) for role, ids in parents.items()}


async def orphans(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, unresolved: Mapping[str, set[str]]
) -> Orphans:
    """Of the parents not linked in `connection` (role -> remote ids), those that never will be, and what instead."""
    vendor = ctx.vendor(connection)
    found = Orphans(vendor)
    keyed = set(key_roles(ctx.match_specs(kind)))
    for role, remote_ids in sorted(unresolved.items()):
        if not remote_ids:
            continue
        parent_object = ctx.config.mappings.get(vendor, parent_kind(role)).object
        for remote_id, (canonical_id, reason) in (await _former(tx, connection, sorted(remote_ids))).items():
            if reason == MERGED_AWAY:
                survivor = await survivor_of(tx, canonical_id) or canonical_id
                live = await tx.records.live(parent_kind(role), [survivor])
                if live:
                    found.followed.setdefault(role, {})[remote_id] = survivor
                    continue
            if role in keyed:
                found.left_out[(role, remote_id)] = (
                    PARENT_DELETED_THERE,
                    f"the {role} was deleted in {connection}",
                )
        if role not in keyed:
            continue
        pending = sorted(remote_ids - set(found.followed.get(role, {})) - {r for (_, r) in found.left_out})
        for remote_id in await tx.kept_out.kept(connection, parent_object, pending):
            found.left_out[(role, remote_id)] = (
                PARENT_KEPT_OUT,
                f"the filter on {parent_kind(role)} (objects.{parent_kind(role)}.filter) keeps it out of crmsync; "
                f"once it passes, the {kind} is read again and linked to it",
            )
    return found


async def _former(tx: Transaction, connection: str, remote_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """remote id -> (canonical id, reason) of its latest unlink in `connection` (deleted or merged away there), found
    through `ix_audit_former_id`; ids never unlinked are left out."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunks(remote_ids):
        wanted = set(chunk)
        texts = sorted({text for rid in chunk for text in (orjson.dumps(rid).decode(), json.dumps(rid))})
        rows = await tx.connection.execute(
            sa.select(audit.c.canonical_id, audit.c.old, audit.c.reason)
            .where(sa.text(FORMER_IDS), sa.cast(audit.c.old, sa.Text).in_(texts), audit.c.connection == connection)
            .order_by(audit.c.id.desc())
        )
        for canonical_id, old, reason in rows:
            remote_id = decode_value(old)
            if isinstance(remote_id, str) and remote_id in wanted:
                found.setdefault(remote_id, (str(canonical_id), str(reason)))
    return found


def parent_field(role: str, remote_id: str) -> str:
    """The `field` of a read error about a parent left out: its link field and the parent's id (`@company=123`), so
    the parent's linking later finds the records to read again without reading them all (`relink_reads`)."""
    return f"{link_field(role)}={remote_id}"


async def relink_reads(ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str) -> list[NewJob]:
    """Parked reads of the records synced without a kept-out parent in `connection` that is linked there now (a
    parent was just linked there), woken with the records that wait (`waiting_reads.read_waiting`)."""
    object_name = ctx.object_name(connection, kind)
    rows = await tx.connection.execute(
        sa.select(sync_errors.c.remote_id, sync_errors.c.field).where(
            sync_errors.c.connection == connection,
            sync_errors.c.object == object_name,
            sync_errors.c.operation == "read",
            sync_errors.c.code == PARENT_KEPT_OUT,
            sync_errors.c.remote_id.is_not(None),
        )
    )
    children: dict[str, set[str]] = {}  # role -> parent remote id -> the children that left it out
    waiting: dict[tuple[str, str], set[str]] = {}
    for remote_id, name in rows:
        field_name, _, parent = str(name).partition("=")
        role = role_of(field_name)
        if role in LINK_ROLES[kind] and parent:
            children.setdefault(role, set()).add(parent)
            waiting.setdefault((role, parent), set()).add(str(remote_id))
    vendor = ctx.vendor(connection)
    found: set[str] = set()
    for role, parents in children.items():
        parent_object = ctx.config.mappings.get(vendor, parent_kind(role)).object
        linked = await tx.links.canonical_ids(connection, parent_object, sorted(parents))
        found.update(child for parent in linked for child in waiting[(role, parent)])
    return [
        await_job(kind, connection, object_name, remote_id)
        for remote_id in sorted(found)
        if (connection, object_name, remote_id) not in ctx.left_out  # read by this run: as linked as it gets
    ]


__all__ = ["PARENT_DELETED_THERE", "PARENT_KEPT_OUT", "Orphans", "orphans", "parent_field", "relink_reads"]
