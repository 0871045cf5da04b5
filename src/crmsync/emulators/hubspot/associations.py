"""Association types (HUBSPOT_DEFINED ids, labels, v3 names) and the bidirectional association index."""

from __future__ import annotations

from dataclasses import dataclass

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


class AssociationIndex:
    """Edges in both directions: (from type, to type) → from id → to id → sorted type ids."""

    def __init__(self) -> None:
        self._edges: dict[tuple[str, str], dict[str, Targets]] = {}
        self._interned: dict[tuple[int, ...], tuple[int, ...]] = {}

    def clear(self) -> None:
        self._edges.clear()

    def _intern(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        # Most edges share a handful of type-id tuples; sharing them keeps a seeded portal small.
        return self._interned.setdefault(ids, ids)

    def targets(self, from_ot: ObjectType, from_id: str, to_ot: ObjectType) -> Targets:
        return self._edges.get((from_ot.name, to_ot.name), {}).get(from_id, {})

    def _add_one(self, pair: tuple[str, str], from_id: str, to_id: str, type_ids: tuple[int, ...]) -> bool:
        targets = self._edges.setdefault(pair, {}).setdefault(from_id, {})
        before = targets.get(to_id, ())
        merged = self._intern(tuple(sorted(set(before) | set(type_ids))))
        targets[to_id] = merged
        return merged != before

    def add(
        self, from_ot: ObjectType, from_id: str, to_ot: ObjectType, to_id: str, types: list[AssociationType]
    ) -> bool:
        """Associate both ways; True when anything was new."""
        forward = tuple(t.type_id for t in types)
        inverse = tuple(t.inverse_id for t in types)
        changed = self._add_one((from_ot.name, to_ot.name), from_id, to_id, forward)
        self._add_one((to_ot.name, from_ot.name), to_id, from_id, inverse)
        return changed

    def _remove_one(self, pair: tuple[str, str], from_id: str, to_id: str, type_ids: tuple[int, ...] | None) -> bool:
        by_from = self._edges.get(pair)
        targets = by_from.get(from_id) if by_from else None
        if not targets or to_id not in targets:
            return False
        if type_ids is None:
            del targets[to_id]
        else:
            kept = tuple(t for t in targets[to_id] if t not in type_ids)
            if len(kept) == len(targets[to_id]):
                return False
            if kept:
                targets[to_id] = self._intern(kept)
            else:
                del targets[to_id]
        if not targets and by_from is not None:
            del by_from[from_id]
        return True

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
        changed = self._remove_one((from_ot.name, to_ot.name), from_id, to_id, forward)
        self._remove_one((to_ot.name, from_ot.name), to_id, from_id, inverse)
        return changed

    def all_of(self, ot: ObjectType, record_id: str) -> list[tuple[str, str, tuple[int, ...]]]:
        """(to type name, to id, type ids) of every association of one record."""
        found = []
        for (from_name, to_name), by_from in self._edges.items():
            if from_name == ot.name:
                for to_id, type_ids in by_from.get(record_id, {}).items():
                    found.append((to_name, to_id, type_ids))
        return found

    def move(self, ot: ObjectType, old_id: str, new_id: str, by_name: dict[str, ObjectType]) -> None:
        """Re-point every association of `old_id` to `new_id` (a merge carries associations over)."""
        for to_name, to_id, type_ids in self.all_of(ot, old_id):
            to_ot = by_name[to_name]
            types = [t for t in (association_type(i) for i in type_ids) if t is not None]
            self.remove(ot, old_id, to_ot, to_id)
            if to_id != new_id:
                self.add(ot, new_id, to_ot, to_id, types)
