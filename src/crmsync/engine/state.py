"""Conversions between the store's rows and reconcile's values, and the canonical names of relationships.

Relationships travel through reconcile as ordinary canonical fields named `@<role>` (`@company`),
whose value is the parent's canonical id: a contact moved to another company is then a field change
like any other, merged by the same policies and written through the identity map (S15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from crmsync.model.golden import GoldenField
from crmsync.model.golden import GoldenRecord as MergedGolden
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalRecord, CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Provenance, Transaction
from crmsync.store import GoldenRecord as StoredGolden
from crmsync.store.tables import FORMER_ID_FIELD as STORED_FORMER_ID_FIELD

LINK_PREFIX = "@"

LINK_ROLES: Mapping[ObjectKind, tuple[str, ...]] = {
    "company": (),
    "contact": ("company",),
    "deal": ("company", "contact"),
    "activity": ("contact", "deal"),
}
"""The parents each kind links to, by role; a role is named after the parent's kind."""

SINGLE_SLOT_LINKS: frozenset[tuple[str, ObjectKind]] = frozenset({("dynamics", "activity")})
"""(vendor, kind) whose record holds one parent of any role (a Dataverse activity's `regardingobjectid`):
a role it does not show is unknown there, not cleared."""


def link_field(role: str) -> str:
    return f"{LINK_PREFIX}{role}"


def is_link_field(name: str) -> bool:
    return name.startswith(LINK_PREFIX)


def role_of(name: str) -> str:
    return name.removeprefix(LINK_PREFIX)


def parent_kind(role: str) -> ObjectKind:
    """The kind of the parent a link role points at (a role is named after it)."""
    if role == "company":
        return "company"
    if role == "contact":
        return "contact"
    if role == "deal":
        return "deal"
    raise ValueError(f"unknown link role {role!r}")


def link_fields(kind: ObjectKind) -> frozenset[str]:
    return frozenset(link_field(role) for role in LINK_ROLES[kind])


def link_values(
    vendor: str,
    kind: ObjectKind,
    parents: Mapping[str, Sequence[str]],
    resolved: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str | None], tuple[tuple[str, str], ...]]:
    """A record's link fields from its parents' remote ids by role (`RemoteRecord.links`), and what is unresolved.

    `resolved` maps role -> remote id -> canonical id of the parents linked so far. A role with no parent is
    cleared (None), except where the vendor's record holds one parent of any role (`SINGLE_SLOT_LINKS`) and shows
    another; a parent not linked yet is left out (no change) and returned as (role, remote id).
    """
    fields: dict[str, str | None] = {}
    unresolved: list[tuple[str, str]] = []
    roles = LINK_ROLES[kind]
    single_slot = (vendor, kind) in SINGLE_SLOT_LINKS and any(parents.get(role) for role in roles)
    for role in roles:
        parent_ids = parents.get(role, ())
        if not parent_ids:
            if not single_slot:
                fields[link_field(role)] = None
            continue
        canonical = resolved.get(role, {}).get(parent_ids[0])
        if canonical is None:
            unresolved.append((role, parent_ids[0]))
        else:
            fields[link_field(role)] = canonical
    return fields, tuple(unresolved)


def to_merged(stored: StoredGolden | None) -> MergedGolden | None:
    """The stored golden record as reconcile sees it (values with provenance); None when never stored."""
    if stored is None:
        return None
    fields: dict[str, GoldenField] = {}
    for name, value in stored.record.fields.items():
        origin = stored.provenance.get(name)
        fields[name] = GoldenField(value, origin.connection if origin else None, origin.at if origin else None)
    return MergedGolden(fields)


def to_stored(
    canonical_id: str,
    kind: ObjectKind,
    merged: MergedGolden,
    previous: StoredGolden | None,
    reasons: Mapping[str, str] | None = None,
    *,
    deleted: bool = False,
) -> StoredGolden:
    """The golden record to store, carrying the version it was read at (optimistic locking)."""
    reasons = reasons or {}
    old = previous.provenance if previous is not None else {}
    values: dict[str, CanonicalValue] = {}
    provenance: dict[str, Provenance] = {}
    for name, entry in merged.fields.items():
        values[name] = entry.value
        kept = old.get(name)
        reason = reasons.get(name) or (kept.reason if kept is not None else "")
        provenance[name] = Provenance(entry.source, entry.at, reason)
    links = previous.record.links if previous is not None else {}
    record = CanonicalRecord(canonical_id, kind, values, links)
    return StoredGolden(
        record=record,
        provenance=provenance,
        deleted=deleted,
        version=previous.version if previous is not None else 0,
        updated_at=previous.updated_at if previous is not None else None,
    )


GONE = "gone"
"""Key in a stored golden record's `links` listing connections it must not be (re)created in.

A record deleted in one connection under the `ignore` or `archive` delete policy stays alive in the
others, but crmsync must not recreate it where a person deleted it.
"""


def gone_from(stored: StoredGolden | None) -> tuple[str, ...]:
    return tuple(stored.record.links.get(GONE, ())) if stored is not None else ()


def with_gone(stored: StoredGolden, connection: str) -> StoredGolden:
    gone = tuple(sorted({*gone_from(stored), connection}))
    record = replace(stored.record, links={**stored.record.links, GONE: gone})
    return replace(stored, record=record)


def without_gone(stored: StoredGolden, connection: str) -> StoredGolden:
    gone = tuple(c for c in gone_from(stored) if c != connection)
    record = replace(stored.record, links={**stored.record.links, GONE: gone})
    return replace(stored, record=record)


def rules_for_record(rules: SyncRules, stored: StoredGolden | None) -> SyncRules:
    """The object's rules minus the connections this record is gone from."""
    gone = gone_from(stored)
    if not gone:
        return rules
    return replace(rules, connections=tuple(c for c in rules.connections if c not in gone))


FORMER_ID_FIELD = STORED_FORMER_ID_FIELD
"""Audit pseudo-field of a remote id unlinked because the record was deleted or merged away there (`old`: the id);
indexed (`ix_audit_former_id`), so a query for it keeps `FORMER_IDS` and `FORMER_ID_TEXT` of the store's tables.

The identity map forgets a deleted copy's id; the audit keeps it, so `crmsync explain` given that id still
finds the record and can say it was deleted (when, where), instead of claiming it never existed.
"""


async def unlink_deleted(
    tx: Transaction, canonical_id: str, connection: str, object: str, remote_id: str, at: datetime, reason: str
) -> None:
    """Unlink a remote record that is gone from its CRM, noting its id in the record's audit."""
    if await tx.links.unlink(connection, object, remote_id):
        await tx.audit.append([AuditEntry(canonical_id, FORMER_ID_FIELD, remote_id, None, connection, reason, at)])


DELETED_THERE = "deleted there"
"""The reason noted with a remote id whose record was deleted in its CRM (a tombstone read there)."""
DELETED_BY_CRMSYNC = "deleted"
"""The reason noted with a remote id crmsync deleted, spreading a delete from another CRM."""
MERGED_INTO_FIELD = "@merged_into"
"""Audit pseudo-field on a record a vendor merge retired (`new`: the canonical id it was folded into)."""
MERGED_FROM_FIELD = "@merged_from"
"""Audit pseudo-field on the record a vendor merge kept (`new`: the canonical id folded into it)."""


async def survivor_of(tx: Transaction, canonical_id: str) -> str | None:
    """The record a vendor merge folded `canonical_id` into, along a chain of merges; None if never merged."""
    seen = {canonical_id}
    current: str | None = None
    while True:
        entries = await tx.audit.list(current or canonical_id, MERGED_INTO_FIELD)
        into = entries[-1].new if entries else None
        if not isinstance(into, str) or into in seen:
            return current
        seen.add(into)
        current = into


MERGED_AWAY = "merged away"
"""The reason noted with a remote id a vendor merge took away (`FORMER_ID_FIELD`): the person lives on elsewhere."""


def latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


__all__ = [
    "DELETED_BY_CRMSYNC",
    "DELETED_THERE",
    "FORMER_ID_FIELD",
    "GONE",
    "LINK_PREFIX",
    "LINK_ROLES",
    "MERGED_AWAY",
    "MERGED_FROM_FIELD",
    "MERGED_INTO_FIELD",
    "SINGLE_SLOT_LINKS",
    "gone_from",
    "is_link_field",
    "latest",
    "link_field",
    "link_fields",
    "link_values",
    "parent_kind",
    "role_of",
    "rules_for_record",
    "survivor_of",
    "to_merged",
    "to_stored",
    "unlink_deleted",
    "with_gone",
    "without_gone",
]
