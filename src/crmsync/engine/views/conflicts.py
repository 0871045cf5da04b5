"""Parked conflicts as an operator decides them: the list, and one conflict with its record for context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crmsync.engine.views.common import NotFoundError, label
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Conflict, ConflictSide, GoldenRecord, Link, Store


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A parked conflict with what an operator needs to decide it: the sides and the golden value now."""

    id: int
    canonical_id: str
    kind: ObjectKind | None  # None: the record is not (or no longer) stored
    label: str | None  # a human name for the record: its name, email or subject
    field: str
    base: CanonicalValue
    has_base: bool  # False on a first meeting: there was no agreed value yet
    sides: tuple[ConflictSide, ...]
    golden: CanonicalValue
    created_at: datetime
    resolved: bool
    resolution: CanonicalValue
    resolved_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConflictDetail:
    """One conflict and its record for context: links, every golden value, other open conflicts."""

    conflict: ConflictView
    links: tuple[Link, ...]
    fields: Mapping[str, CanonicalValue]
    deleted: bool
    other_conflicts: tuple[str, ...]  # fields of the record with another open conflict


def conflict_view(conflict: Conflict, golden: GoldenRecord | None) -> ConflictView:
    return ConflictView(
        id=conflict.id,
        canonical_id=conflict.canonical_id,
        kind=golden.record.kind if golden is not None else None,
        label=label(golden),
        field=conflict.field,
        base=conflict.base,
        has_base=conflict.had_base(golden.record.fields if golden is not None else None),
        sides=conflict.sides,
        golden=golden.record.fields.get(conflict.field) if golden is not None else None,
        created_at=conflict.created_at,
        resolved=conflict.resolved,
        resolution=conflict.resolution,
        resolved_by=conflict.resolved_by,
        resolved_at=conflict.resolved_at,
    )


async def list_conflicts(
    store: Store, *, kind: ObjectKind | None = None, include_resolved: bool = False
) -> tuple[ConflictView, ...]:
    """Open conflicts (or all), oldest first, optionally of one object kind."""
    async with store.read() as tx:
        found = await tx.conflicts.list(include_resolved=include_resolved)
        goldens = await tx.records.get_many(sorted({c.canonical_id for c in found}))
    views = (conflict_view(c, goldens.get(c.canonical_id)) for c in found)
    return tuple(v for v in views if kind is None or v.kind == kind)


async def conflict_detail(store: Store, conflict_id: int) -> ConflictDetail:
    """One conflict with its record's links, values and other open conflicts; NotFoundError if unknown."""
    async with store.read() as tx:
        conflict = await tx.conflicts.get(conflict_id)
        if conflict is None:
            raise NotFoundError(f"no conflict #{conflict_id}; `crmsync conflicts list --all` lists them")
        golden = await tx.records.get(conflict.canonical_id)
        record_links = await tx.links.remote_links(conflict.canonical_id)
        others = await tx.conflicts.list(conflict.canonical_id)
    return ConflictDetail(
        conflict=conflict_view(conflict, golden),
        links=tuple(record_links),
        fields=dict(sorted(golden.record.fields.items())) if golden is not None else {},
        deleted=golden.deleted if golden is not None else False,
        other_conflicts=tuple(sorted(c.field for c in others if c.id != conflict_id)),
    )


__all__ = [
    "ConflictDetail",
    "ConflictView",
    "conflict_detail",
    "conflict_view",
    "list_conflicts",
]
