"""What a person may type to settle a conflict: the field's canonical values, and whether a target requires it.

Checked before anything is stored: a value no value map knows fails on every later sync ("canonical value
... has no mapping"), and a blank in a field a CRM requires is refused by that CRM (REQUIRED_FIELD_MISSING).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crmsync.config import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.engine.views.common import OperatorError
from crmsync.mapping.rules import FieldRule, ObjectMap
from crmsync.mapping.valuemap import Scalar
from crmsync.model.values import CanonicalValue, ObjectKind


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


__all__ = ["RequiredCheck", "canonical_vocabulary", "check_typed_value", "required_in"]
