"""Identity decisions for records met by key: the first meeting's plan, and matching one newly seen record (DESIGN §6).

Pure functions over typed values; the identity map is consulted through functions passed in, and the
results are decisions the engine executes (links to write, duplicate groups to report). Canonical
ids are deterministic (uuid5 of the match key, or of the record for a keyless one) so a rerun after
a crash plans the same ids, and external-id upserts stay idempotent (invariant 2).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crmsync.engine.matching_keys import DEFAULT_MATCH_KEYS, KeySpec, MatchKey, MatchKeys, ParentIds, match_key
from crmsync.model.quick import quick_init
from crmsync.model.values import OBJECT_KINDS, Fields, ObjectKind

NAMESPACE = uuid.UUID("5b0c4f8e-3d1a-5c6e-9a7b-2f4e8d1c0a93")
"""The uuid5 namespace of crmsync's deterministic canonical ids."""

IdFactory = Callable[[str], str]
"""A canonical id from a stable seed text (a match key's text, or a keyless record's own identity)."""

ParentResolver = Callable[[str, str, str], str | None]
"""(connection, role, remote id) -> the parent's canonical id from the identity map, None when not linked."""


def uuid5_id(seed: str) -> str:
    return str(uuid.uuid5(NAMESPACE, seed))


def _no_parent(connection: str, role: str, remote_id: str) -> str | None:
    return None


@quick_init
@dataclass(frozen=True, slots=True)
class SeenRecord:
    """A remote record as matching sees it: mapped canonical fields and its parents' remote ids.

    `links` are role -> remote ids in the record's own connection (as the connector read them).
    `created_at` picks a duplicate group's survivor (the oldest); `modified_at` is carried for reconcile.
    """

    connection: str
    kind: ObjectKind
    remote_id: str
    fields: Fields
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None

    @property
    def ref(self) -> tuple[str, ObjectKind, str]:
        return (self.connection, self.kind, self.remote_id)


def _id_order(remote_id: str) -> tuple[int, int, str]:
    # Numeric ids (HubSpot) compare as numbers: "9" is older than "10".
    return (0, int(remote_id), "") if remote_id.isdigit() else (1, 0, remote_id)


def age(record: SeenRecord) -> tuple[bool, datetime | None, tuple[int, int, str]]:
    """Sort key, oldest first: created time (unknown last), then remote id."""
    return (record.created_at is None, record.created_at, _id_order(record.remote_id))


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Records of one connection sharing a key (S03): the survivor is linked, the others reported, nothing created."""

    connection: str
    kind: ObjectKind
    key: MatchKey
    survivor: str
    others: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlannedMember:
    """A remote record linked to a planned entity; `duplicate_of` names its connection's survivor when it is not one."""

    connection: str
    remote_id: str
    duplicate_of: str | None = None

    @property
    def survivor(self) -> bool:
        return self.duplicate_of is None


@dataclass(frozen=True, slots=True)
class PlannedEntity:
    """One canonical record of the plan and the remote records that stand for it (at most one survivor each)."""

    canonical_id: str
    kind: ObjectKind
    key: MatchKey | None
    members: tuple[PlannedMember, ...]

    def survivor(self, connection: str) -> str | None:
        """The remote id written to in `connection` (its duplicates are only linked)."""
        return next((m.remote_id for m in self.members if m.connection == connection and m.survivor), None)

    @property
    def connections(self) -> tuple[str, ...]:
        return tuple(sorted({m.connection for m in self.members}))


@dataclass(frozen=True, slots=True)
class MatchPlan:
    """The first meeting's outcome: canonical entities with their links, and duplicate groups to report."""

    entities: tuple[PlannedEntity, ...]
    duplicates: tuple[DuplicateGroup, ...]
    _by_ref: dict[tuple[str, str, str], str] = field(init=False, repr=False, compare=False)
    _by_id: dict[str, PlannedEntity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_ref = {(m.connection, e.kind, m.remote_id): e.canonical_id for e in self.entities for m in e.members}
        object.__setattr__(self, "_by_ref", by_ref)
        object.__setattr__(self, "_by_id", {e.canonical_id: e for e in self.entities})

    def canonical_id(self, connection: str, kind: ObjectKind, remote_id: str) -> str | None:
        """The canonical id planned for a remote record (a duplicate's is its survivor's entity)."""
        return self._by_ref.get((connection, kind, remote_id))

    def entity(self, canonical_id: str) -> PlannedEntity | None:
        return self._by_id.get(canonical_id)


def plan_first_meeting(
    records: Iterable[SeenRecord],
    keys: MatchKeys = DEFAULT_MATCH_KEYS,
    *,
    resolve_parent: ParentResolver = _no_parent,
    new_id: IdFactory = uuid5_id,
) -> MatchPlan:
    """Group records of all connections into canonical entities by match key (S02, S03, S16, S17).

    Kinds are planned parent first (company, contact, deal, activity), so a deal's parents resolve to
    the entities planned for them in the same call, else through `resolve_parent`. Records with
    equal keys are one entity; inside one connection they form a duplicate group whose oldest record
    survives. A record with no usable key (blank email, parent not found) is an entity of its own.
    The plan does not depend on the order of `records`.
    """
    by_kind: dict[ObjectKind, list[SeenRecord]] = {kind: [] for kind in OBJECT_KINDS}
    seen: set[tuple[str, ObjectKind, str]] = set()
    for record in records:
        if record.ref in seen:
            raise ValueError(f"record {record.ref} appears twice in one first meeting")
        seen.add(record.ref)
        by_kind[record.kind].append(record)

    # Roles are named after the parent's kind, so a planned parent is found under (connection, role, remote id).
    index: dict[tuple[str, str, str], str] = {}

    def resolve(connection: str, role: str, remote_id: str) -> str | None:
        planned = index.get((connection, role, remote_id))
        return planned if planned is not None else resolve_parent(connection, role, remote_id)

    entities: list[PlannedEntity] = []
    duplicates: list[DuplicateGroup] = []
    for kind in OBJECT_KINDS:
        specs = keys.get(kind, ())
        groups: dict[MatchKey, list[SeenRecord]] = {}
        singles: list[SeenRecord] = []
        for record in by_kind[kind]:
            key = match_key(kind, specs, record.fields, parent_ids(record, specs, resolve))
            if key is None:
                singles.append(record)
            else:
                groups.setdefault(key, []).append(record)
        planned = [_entity(kind, key, members, new_id, duplicates) for key, members in groups.items()]
        planned += [_entity(kind, None, [record], new_id, duplicates) for record in singles]
        index.update({(m.connection, kind, m.remote_id): e.canonical_id for e in planned for m in e.members})
        entities += planned

    ids = [e.canonical_id for e in entities]
    if len(set(ids)) != len(ids):
        raise ValueError("the id factory gave two entities the same canonical id")
    order = {kind: n for n, kind in enumerate(OBJECT_KINDS)}
    return MatchPlan(
        entities=tuple(sorted(entities, key=lambda e: (order[e.kind], e.canonical_id))),
        duplicates=tuple(sorted(duplicates, key=lambda d: (order[d.kind], d.key, d.connection))),
    )


def _entity(
    kind: ObjectKind,
    key: MatchKey | None,
    records: Sequence[SeenRecord],
    new_id: IdFactory,
    duplicates: list[DuplicateGroup],
) -> PlannedEntity:
    if key is None:
        (record,) = records
        return PlannedEntity(
            new_id(_keyless_seed(record)), kind, None, (PlannedMember(record.connection, record.remote_id),)
        )
    per_connection: dict[str, list[SeenRecord]] = {}
    for record in records:
        per_connection.setdefault(record.connection, []).append(record)
    members: list[PlannedMember] = []
    for connection in sorted(per_connection):
        survivor, *others = sorted(per_connection[connection], key=age)
        members.append(PlannedMember(connection, survivor.remote_id))
        members += [PlannedMember(connection, o.remote_id, survivor.remote_id) for o in others]
        if others:
            duplicates.append(
                DuplicateGroup(connection, kind, key, survivor.remote_id, tuple(o.remote_id for o in others))
            )
    return PlannedEntity(new_id(key.text), kind, key, tuple(members))


def keyless_seed(kind: ObjectKind, connection: str, remote_id: str) -> str:
    """What the id of a record with no match key derives from: its own identity in its connection."""
    # '~' keeps these seeds apart from key texts ("kind/spec/..."), whatever a spec is called.
    return f"~{kind}/{connection}/{remote_id}"


def _keyless_seed(record: SeenRecord) -> str:
    return keyless_seed(record.kind, record.connection, record.remote_id)


def key_roles(specs: Sequence[KeySpec]) -> tuple[str, ...]:
    """The parent roles a kind's keys use (the only links matching needs resolved)."""
    return tuple(dict.fromkeys(role for spec in specs for role in spec.roles))


def parent_ids(record: SeenRecord, specs: Sequence[KeySpec], resolve: ParentResolver) -> ParentIds:
    """Role -> the parents' canonical ids, None for a role where some parent is not linked yet."""
    resolved: dict[str, tuple[str, ...] | None] = {}
    for role in key_roles(specs):
        ids = [resolve(record.connection, role, remote_id) for remote_id in record.links.get(role, ())]
        resolved[role] = None if any(i is None for i in ids) else tuple(i for i in ids if i is not None)
    return resolved


# --- a record newly seen in one connection -------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class KnownEntity:
    """A canonical record found by key in the identity map: connection -> its survivor's remote id there."""

    canonical_id: str
    members: Mapping[str, str] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class LinkExisting:
    """Link the record to an existing canonical record (its twin in another connection, S02)."""

    canonical_id: str
    key: MatchKey


@quick_init
@dataclass(frozen=True, slots=True)
class LinkDuplicate:
    """The connection already holds a record with this key: link as a duplicate and report the group (S03).

    The already linked record stays the survivor (a survivor never flips, so writes never move).
    """

    canonical_id: str
    key: MatchKey
    connection: str
    kind: ObjectKind
    survivor: str
    remote_id: str

    @property
    def group(self) -> DuplicateGroup:
        return DuplicateGroup(self.connection, self.kind, self.key, self.survivor, (self.remote_id,))


@quick_init
@dataclass(frozen=True, slots=True)
class CreateEntity:
    """No canonical record has this key (or the record has none): start a new one with this id."""

    canonical_id: str
    key: MatchKey | None


@quick_init
@dataclass(frozen=True, slots=True)
class AwaitParents:
    """A parent the key needs is not linked yet: match again once it is synced (S17), instead of guessing."""

    missing: tuple[tuple[str, str], ...]  # (role, remote id), sorted


IncomingMatch = LinkExisting | LinkDuplicate | CreateEntity | AwaitParents


def _never_taken(canonical_id: str) -> bool:
    return False


def match_incoming(
    record: SeenRecord,
    find: Callable[[MatchKey], KnownEntity | None],
    keys: MatchKeys = DEFAULT_MATCH_KEYS,
    *,
    resolve_parent: ParentResolver = _no_parent,
    new_id: IdFactory = uuid5_id,
    id_taken: Callable[[str], bool] = _never_taken,
    wait_for_parents: bool = True,
) -> IncomingMatch:
    """Decide the identity of a record seen for the first time in its connection (not linked yet).

    An existing canonical record with the same key is found through `find` before anything new is
    made. With `wait_for_parents`, a record whose key-relevant parents are not all linked waits
    (`AwaitParents`); without it, those links just make their keys unusable. A new canonical id is
    the deterministic one unless `id_taken` says another record already holds it (its key changed
    since), in which case it is derived from the record's own identity as well.
    """
    specs = keys.get(record.kind, ())
    parents = parent_ids(record, specs, resolve_parent)
    if wait_for_parents:
        missing = sorted(
            (role, remote_id)
            for role, ids in parents.items()
            if ids is None
            for remote_id in record.links.get(role, ())
            if resolve_parent(record.connection, role, remote_id) is None
        )
        if missing:
            return AwaitParents(tuple(missing))
    key = match_key(record.kind, specs, record.fields, parents)
    if key is None:
        return CreateEntity(_fresh_id(new_id, _keyless_seed(record), record, id_taken), None)
    known = find(key)
    if known is None:
        return CreateEntity(_fresh_id(new_id, key.text, record, id_taken), key)
    survivor = known.members.get(record.connection)
    if survivor is None or survivor == record.remote_id:
        return LinkExisting(known.canonical_id, key)
    return LinkDuplicate(known.canonical_id, key, record.connection, record.kind, survivor, record.remote_id)


def _fresh_id(new_id: IdFactory, seed: str, record: SeenRecord, id_taken: Callable[[str], bool]) -> str:
    candidate = new_id(seed)
    if id_taken(candidate):
        candidate = new_id(f"{seed}\x1d{_keyless_seed(record)}")
    return candidate


__all__ = [
    "NAMESPACE",
    "AwaitParents",
    "CreateEntity",
    "DuplicateGroup",
    "IdFactory",
    "IncomingMatch",
    "KnownEntity",
    "LinkDuplicate",
    "LinkExisting",
    "MatchPlan",
    "ParentResolver",
    "PlannedEntity",
    "PlannedMember",
    "SeenRecord",
    "age",
    "key_roles",
    "keyless_seed",
    "match_incoming",
    "parent_ids",
    "plan_first_meeting",
    "uuid5_id",
]
