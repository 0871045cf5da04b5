"""Association types (HUBSPOT_DEFINED ids, labels, v3 names) and the bidirectional association index."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.hubspot.schema import ObjectType


@dataclass(frozen=True, slots=True)
class AssociationType:
    type_id: int
    inverse_id: int
    from_type: str  # singular names
    to_type: str
    label: str | None
    name: str  # the v3 name, e.g. "contact_to_company"

    @property
    def category(self) -> str:
        return "HUBSPOT_DEFINED"


_TYPES: dict[int, AssociationType] = {}
_BY_PAIR: dict[tuple[str, str], list[AssociationType]] = {}
_BY_NAME: dict[str, AssociationType] = {}


def _define(
    from_t: str, to_t: str, type_id: int, inverse_id: int, *, primary: bool = False, plain: bool = False
) -> None:
    """Declare a type and its inverse. A primary label pairs with an unlabeled default of the same objects."""
    for a, b, tid, inv in ((from_t, to_t, type_id, inverse_id), (to_t, from_t, inverse_id, type_id)):
        base = f"{a}_to_{b}"
        name = base if (primary or plain) else f"{base}_unlabeled"
        atype = AssociationType(tid, inv, a, b, "Primary" if primary else None, name)
        _TYPES[tid] = atype
        _BY_PAIR.setdefault((a, b), []).append(atype)
        _BY_NAME[name] = atype


_define("contact", "company", 279, 280)
_define("contact", "company", 1, 2, primary=True)
_define("deal", "contact", 3, 4, plain=True)
_define("deal", "company", 341, 342)
_define("deal", "company", 5, 6, primary=True)
for _engagement, (_contact, _company, _deal) in {
    "note": (202, 190, 214),
    "task": (204, 192, 216),
    "call": (194, 182, 206),
    "meeting": (200, 188, 212),
}.items():
    _define(_engagement, "contact", _contact, _contact - 1, plain=True)
    _define(_engagement, "company", _company, _company - 1, plain=True)
    _define(_engagement, "deal", _deal, _deal - 1, plain=True)


def association_type(type_id: int) -> AssociationType | None:
    return _TYPES.get(type_id)


def types_between(from_ot: ObjectType, to_ot: ObjectType) -> list[AssociationType]:
    return _BY_PAIR.get((from_ot.singular, to_ot.singular), [])


def default_type(from_ot: ObjectType, to_ot: ObjectType) -> AssociationType | None:
    """The unlabeled association HubSpot creates when no label is asked for."""
    for atype in types_between(from_ot, to_ot):
        if atype.label is None:
            return atype
    return None


def type_named(name: str) -> AssociationType | None:
    return _BY_NAME.get(name.lower())


Targets = dict[str, tuple[int, ...]]
# One record's associations. Small: a flat tuple of (to type name, to id, sorted type ids) triples, in the order
# they were made — a seeded portal holds millions of these, and a tuple is a fraction of a dict's size.
# Large (a company with thousands of contacts): to type name → to id → type ids, so writes stay O(1).
_Ids = tuple[int, ...]
_Flat = tuple[Any, ...]  # (to type name, to id, type ids) * n
_Edges = _Flat | dict[str, dict[str, tuple[int, ...]]]
_LARGE = 48  # triples before a record's associations switch to the dict form


class AssociationIndex:
    """Edges in both directions: from type → from id → (to type, to id, sorted type ids)."""

    def __init__(self) -> None:
        self._edges: dict[str, dict[str, _Edges]] = {}
        self._interned: dict[tuple[int, ...], tuple[int, ...]] = {}

    def clear(self) -> None:
        self._edges.clear()

    def _intern(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        # Most edges share a handful of type-id tuples; sharing them keeps a seeded portal small.
        return self._interned.setdefault(ids, ids)

    def targets(self, from_ot: ObjectType, from_id: str, to_ot: ObjectType) -> Targets:
        """to id → type ids, in the order the associations were made (a fresh dict: callers may keep it)."""
        edges = self._edges.get(from_ot.name, {}).get(from_id)
        if edges is None:
            return {}
        if isinstance(edges, dict):
            return dict(edges.get(to_ot.name, {}))
        to_name = to_ot.name
        found: Targets = {}
        for index in range(0, len(edges), 3):
            if edges[index] == to_name:
                found[edges[index + 1]] = edges[index + 2]
        return found

    def _norm(self, ids: Iterable[int]) -> _Ids:
        return self._intern(tuple(sorted(set(ids))))

    def _add_one(self, from_name: str, from_id: str, to_name: str, to_id: str, type_ids: _Ids) -> bool:
        """`type_ids` sorted, unique and interned."""
        by_from = self._edges.get(from_name)
        if by_from is None:
            by_from = self._edges[from_name] = {}
        edges = by_from.get(from_id)
        if edges is None:
            by_from[from_id] = (to_name, to_id, type_ids)
            return bool(type_ids)
        if isinstance(edges, dict):
            targets = edges.setdefault(to_name, {})
            before = targets.get(to_id, ())
            merged = self._norm((*before, *type_ids))
            targets[to_id] = merged
            return merged != before
        # A C-level scan settles the common "not associated yet"; the loop only runs when the id occurs at all.
        for index in range(0, len(edges), 3) if to_id in edges else ():
            if edges[index + 1] == to_id and edges[index] == to_name:
                before = edges[index + 2]
                merged = self._norm((*before, *type_ids))
                if merged == before:
                    return False
                by_from[from_id] = (*edges[: index + 2], merged, *edges[index + 3 :])
                return True
        grown = (*edges, to_name, to_id, type_ids)
        by_from[from_id] = _as_dict(grown) if len(grown) > 3 * _LARGE else grown
        return bool(type_ids)

    def add(
        self, from_ot: ObjectType, from_id: str, to_ot: ObjectType, to_id: str, types: list[AssociationType]
    ) -> bool:
        """Associate both ways; True when anything was new."""
        forward = self._norm(t.type_id for t in types)
        inverse = self._norm(t.inverse_id for t in types)
        changed = self._add_one(from_ot.name, from_id, to_ot.name, to_id, forward)
        self._add_one(to_ot.name, to_id, from_ot.name, from_id, inverse)
        return changed

    def link(self, from_name: str, from_id: str, to_name: str, to_id: str, forward: _Ids, inverse: _Ids) -> None:
        """`add` for bulk loads: types by name and id (sorted, unique), no change report."""
        self._add_one(from_name, from_id, to_name, to_id, forward)
        self._add_one(to_name, to_id, from_name, from_id, inverse)

    def _remove_one(
        self, from_name: str, from_id: str, to_name: str, to_id: str, type_ids: tuple[int, ...] | None
    ) -> bool:
        by_from = self._edges.get(from_name)
        edges = by_from.get(from_id) if by_from else None
        if edges is None or by_from is None:
            return False
        if isinstance(edges, dict):
            targets = edges.get(to_name)
            if not targets or to_id not in targets:
                return False
            kept = () if type_ids is None else tuple(t for t in targets[to_id] if t not in type_ids)
            if type_ids is not None and len(kept) == len(targets[to_id]):
                return False
            if kept:
                targets[to_id] = self._intern(kept)
            else:
                del targets[to_id]
                if not targets:
                    del edges[to_name]
            if not edges:
                del by_from[from_id]
            return True
        for index in range(0, len(edges), 3):
            if edges[index + 1] == to_id and edges[index] == to_name:
                before: tuple[int, ...] = edges[index + 2]
                kept = () if type_ids is None else tuple(t for t in before if t not in type_ids)
                if type_ids is not None and len(kept) == len(before):
                    return False
                if kept:
                    rest: _Flat = (*edges[: index + 2], self._intern(kept), *edges[index + 3 :])
                else:
                    rest = (*edges[:index], *edges[index + 3 :])
                if rest:
                    by_from[from_id] = rest
                else:
                    del by_from[from_id]
                return True
        return False

    def remove(
        self,
        from_ot: ObjectType,
        from_id: str,
        to_ot: ObjectType,
        to_id: str,
        types: list[AssociationType] | None = None,
    ) -> bool:
        forward = None if types is None else tuple(t.type_id for t in types)
        inverse = None if types is None else tuple(t.inverse_id for t in types)
        changed = self._remove_one(from_ot.name, from_id, to_ot.name, to_id, forward)
        self._remove_one(to_ot.name, to_id, from_ot.name, from_id, inverse)
        return changed

    def all_of(self, ot: ObjectType, record_id: str) -> list[tuple[str, str, tuple[int, ...]]]:
        """(to type name, to id, type ids) of every association of one record."""
        edges = self._edges.get(ot.name, {}).get(record_id)
        if edges is None:
            return []
        if isinstance(edges, dict):
            return [(to_name, to_id, ids) for to_name, targets in edges.items() for to_id, ids in targets.items()]
        return [(edges[i], edges[i + 1], edges[i + 2]) for i in range(0, len(edges), 3)]

    def move(self, ot: ObjectType, old_id: str, new_id: str, by_name: dict[str, ObjectType]) -> None:
        """Re-point every association of `old_id` to `new_id` (a merge carries associations over)."""
        for to_name, to_id, type_ids in self.all_of(ot, old_id):
            to_ot = by_name[to_name]
            types = [t for t in (association_type(i) for i in type_ids) if t is not None]
            self.remove(ot, old_id, to_ot, to_id)
            if to_id != new_id:
                self.add(ot, new_id, to_ot, to_id, types)


def _as_dict(edges: _Flat) -> dict[str, dict[str, tuple[int, ...]]]:
    grouped: dict[str, dict[str, tuple[int, ...]]] = {}
    for index in range(0, len(edges), 3):
        to_name, to_id, ids = edges[index], edges[index + 1], edges[index + 2]
        grouped.setdefault(to_name, {})[to_id] = ids
    return grouped
