"""What a conflict may be settled with: the field's canonical values, and no blank where a target requires it.

Checked before anything is stored: a value no value map knows fails on every later sync ("canonical value
... has no mapping"), and a blank in a field a CRM requires (typed in, or a side that cleared it) is refused by
that CRM (REQUIRED_FIELD_MISSING). The CLI and the dashboard make the same checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crmsync.config import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.engine.reentry import DELETED_FIELD
from crmsync.engine.views.common import OperatorError
from crmsync.engine.views.conflicts import ConflictView, conflict_detail
from crmsync.mapping.rules import FieldRule, ObjectMap
from crmsync.mapping.transform import blank
from crmsync.mapping.valuemap import Scalar
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Store

GOLDEN_SIDE = "golden"
"""How the store names a conflict side that is the golden record's own value (not a connection's)."""


def _written_rules(config: SyncConfig, kind: ObjectKind, field: str) -> list[tuple[str, ObjectMap, FieldRule]]:
    """(connection, its object map, rule) for every connection the field is written to."""
    settings = config.object(kind)
    direction = settings.rules.direction_for(field)
    found = []
    for connection in settings.connections:
        if not direction.writes_to(connection):
            continue
        object_map = config.mappings.get(config.connection(connection).vendor, kind)
        for rule in object_map.rules:
            if field in rule.canonical and rule.writes:
                found.append((connection, object_map, rule))
    return found


def canonical_vocabulary(config: SyncConfig, kind: ObjectKind, field: str) -> dict[str, tuple[Scalar, ...]]:
    """Per connection the field is written to through a closed value map: the canonical values it can write."""
    vocabulary: dict[str, tuple[Scalar, ...]] = {}
    for connection, _, rule in _written_rules(config, kind, field):
        values = rule.values
        if values is None or values.passthrough or len(rule.canonical) != 1:
            continue
        known = tuple(dict.fromkeys([*values.canonical_values, *values.blank_for]))
        vocabulary[connection] = tuple(v for v in vocabulary.get(connection, known) if v in known)
    return vocabulary


def check_typed_value(config: SyncConfig, kind: ObjectKind, field: str, value: CanonicalValue) -> None:
    """OperatorError when a value maps to nothing in a connection it would be written to, listing what is allowed."""
    if value is None:
        return
    vocabulary = canonical_vocabulary(config, kind, field)
    if not vocabulary:
        return
    items = value if isinstance(value, tuple) else (value,)
    missing = {c: [i for i in items if i not in allowed] for c, allowed in vocabulary.items()}
    missing = {c: unknown for c, unknown in missing.items() if unknown}
    if not missing:
        return
    first = next(iter(vocabulary.values()))
    everywhere = [v for v in first if all(v in allowed for allowed in vocabulary.values())]
    unknown = sorted({repr(i) for found in missing.values() for i in found})
    raise OperatorError(
        f"{field}: {', '.join(unknown)} is not a value of {kind}.{field} (no mapping to {', '.join(missing)}); "
        f"allowed values: {', '.join(map(str, everywhere))}"
    )


@dataclass(frozen=True, slots=True)
class RequiredCheck:
    """Where a blank would be refused (`connection Object.Field`), and where that could not be asked."""

    required: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


async def required_in(
    config: SyncConfig,
    kind: ObjectKind,
    field: str,
    connectors: Mapping[str, Connector],
    *,
    describe_timeout: float,
) -> RequiredCheck:
    """Ask each CRM the field is written to whether its vendor field is required (describe, one per object)."""
    required: list[str] = []
    unknown: list[str] = []
    by_object: dict[tuple[str, str], list[str]] = {}
    for connection, object_map, rule in _written_rules(config, kind, field):
        by_object.setdefault((connection, object_map.object), []).extend(rule.vendor)

    async def ask(connection: str, object_name: str, names: Sequence[str]) -> None:
        try:
            schema = await asyncio.wait_for(connectors[connection].describe(object_name), describe_timeout)
        except Exception as exc:  # unreachable, refused, slow: the check could not be made there
            unknown.append(f"{connection} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            return
        for name in names:
            described = schema.fields.get(name)
            if described is not None and described.required and not described.read_only:
                required.append(f"{connection} {object_name}.{name}")

    await asyncio.gather(*(ask(c, o, names) for (c, o), names in by_object.items()))
    return RequiredCheck(tuple(sorted(required)), tuple(sorted(unknown)))


class RequiredBlankError(OperatorError):
    """A resolution would clear a field that a CRM it is written to requires; `keep` are the sides with a value."""

    def __init__(self, field: str, required: Sequence[str], keep: Sequence[str]) -> None:
        self.field, self.required, self.keep = field, tuple(required), tuple(keep)
        remedy = f"take {' or '.join(keep)}'s side" if keep else "type a value"
        super().__init__(f"{field} cannot be cleared: it is required in {', '.join(required)}; {remedy}")


def _chosen(view: ConflictView, take: str | None, value: str | None) -> tuple[bool, CanonicalValue]:
    """(known, the value the resolution would store); unknown where resolve itself will refuse the choice."""
    if value is not None:
        return True, None if blank(value) else value
    if take == GOLDEN_SIDE:
        return view.has_base, view.golden
    side = next((s for s in view.sides if s.connection == take), None)
    return (side is not None), side.value if side is not None else None


@dataclass(frozen=True, slots=True)
class BlankChoice:
    """A resolution that would clear `kind`.`field`; `keep` are the sides that hold a value instead."""

    kind: ObjectKind
    field: str
    keep: tuple[str, ...]

    def refuse(self, found: RequiredCheck) -> None:
        """RequiredBlankError where a CRM requires the field."""
        if found.required:
            raise RequiredBlankError(self.field, found.required, self.keep)


async def blank_choice(
    store: Store, config: SyncConfig, conflict_id: int, *, take: str | None, value: str | None
) -> BlankChoice | None:
    """What a resolution would clear, if it clears the field; None otherwise (nothing for a CRM to refuse)."""
    view = (await conflict_detail(store, conflict_id)).conflict
    kind = view.kind
    if view.resolved or kind is None or kind not in config.objects or view.field == DELETED_FIELD:
        return None  # resolve explains what is wrong with this conflict
    known, chosen = _chosen(view, take, value)
    if not known or not blank(chosen):
        return None
    keep = [s.connection for s in view.sides if not blank(s.value)]
    if view.has_base and not blank(view.golden):
        keep.append(GOLDEN_SIDE)
    return BlankChoice(kind, view.field, tuple(keep))


AskedFields = dict[tuple[ObjectKind, str], RequiredCheck]
"""Answers already had, per (kind, field): a bulk resolution asks each CRM once per field, not once per conflict."""


async def refuse_a_required_blank(
    store: Store,
    config: SyncConfig,
    conflict_id: int,
    connectors: Mapping[str, Connector],
    *,
    take: str | None,
    value: str | None,
    describe_timeout: float,
    asked: AskedFields | None = None,
) -> tuple[str, ...]:
    """Refuse (RequiredBlankError) a resolution that would blank a field a target CRM requires, before anything
    is stored: that CRM would refuse the write on the next sync (REQUIRED_FIELD_MISSING) and the record would sit
    in the errors. Returns the CRMs that could not be asked, for the caller to warn about."""
    blank = await blank_choice(store, config, conflict_id, take=take, value=value)
    if blank is None:
        return ()
    key = (blank.kind, blank.field)
    found = asked.get(key) if asked is not None else None
    if found is None:
        found = await required_in(config, blank.kind, blank.field, connectors, describe_timeout=describe_timeout)
        if asked is not None:
            asked[key] = found
    blank.refuse(found)
    return found.unknown


__all__ = [
    "GOLDEN_SIDE",
    "AskedFields",
    "BlankChoice",
    "RequiredBlankError",
    "RequiredCheck",
    "blank_choice",
    "canonical_vocabulary",
    "check_typed_value",
    "refuse_a_required_blank",
    "required_in",
]
