"""The `objects:` section: per canonical kind, its connections, SyncRules, match keys, filter and delete policy."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from crmsync.config.problems import PathKey, pydantic_issues
from crmsync.config.schema import (
    ConditionSpec,
    DeleteSpec,
    DirectionSpec,
    ObjectSection,
    PlainValue,
    PolicySpec,
    object_keys,
)
from crmsync.config.values import (
    LINK_ROLES,
    Condition,
    Connection,
    DeletePolicy,
    MassDeleteBreaker,
    ObjectSettings,
    RecordFilter,
    Vendor,
)
from crmsync.mapping import ConfigIssue, Mappings, YamlDocument
from crmsync.mapping.valuemap import value_key
from crmsync.model.rules import Direction, Policy, SyncRules
from crmsync.model.values import OBJECT_KINDS, ObjectKind

DEFAULT_MATCH: dict[ObjectKind, tuple[tuple[str, ...], ...]] = {
    "company": (("domain",), ("name",)),  # normalised domain, else name (DESIGN §6)
    "contact": (("email",),),
    "deal": (("company", "name"),),  # a deal meets another under the same (linked) company only
    "activity": (("contact", "subject", "due_date"),),
}


@dataclass(frozen=True, slots=True)
class _Context:
    """What one object section is checked against: the file, the connections, the field maps."""

    doc: YamlDocument
    declared: Mapping[str, Vendor | None]
    connections: Mapping[str, Connection]
    mappings: Mappings
    issues: list[ConfigIssue]
    synced: frozenset[str]
    """The kinds the file syncs: a match key may name a parent only of a kind synced too."""
    unchecked: Mapping[str, frozenset[str]]
    """Per kind, fields declared under a `mappings:` that has mistakes: those were reported, not these names."""

    def add(self, path: PathKey, message: str) -> None:
        self.issues.append(self.doc.issue(path, message))


def build_objects(
    doc: YamlDocument,
    section: Any,
    declared: Mapping[str, Vendor | None],
    connections: Mapping[str, Connection],
    mappings: Mappings,
    issues: list[ConfigIssue],
    unchecked: Mapping[str, frozenset[str]] | None = None,
) -> dict[ObjectKind, ObjectSettings]:
    """Validate `objects:` (absent: all four kinds with every connection); mistakes go to `issues`.

    `declared` names every connection written in the file with its vendor (None when unknown), so an
    object is still checked against the field maps when its connection's own settings have mistakes.
    `unchecked` names, per kind, the fields of a `mappings:` section that failed to load: `mappings` is then
    the defaults only, and a mistake in one entry must not make every custom field an unknown one.
    """
    if section is None:
        section = dict.fromkeys(OBJECT_KINDS)
    ctx = _Context(
        doc,
        declared,
        connections,
        mappings,
        issues,
        frozenset(section) if isinstance(section, Mapping) else frozenset(),
        unchecked or {},
    )
    if not isinstance(section, Mapping):
        ctx.add(("objects",), f"expected a mapping of object kinds ({', '.join(OBJECT_KINDS)}) to their settings")
        return {}
    built: dict[ObjectKind, ObjectSettings] = {}
    for kind in section:
        if kind not in OBJECT_KINDS:
            ctx.add(("objects", str(kind)), f"unknown object kind {kind!r}; expected one of: {', '.join(OBJECT_KINDS)}")
    for kind in OBJECT_KINDS:  # dependency order, whatever order the file uses
        if kind in section:
            settings = _object(ctx, kind, section[kind])
            if settings is not None:
                built[kind] = settings
    return built


def _object(ctx: _Context, kind: ObjectKind, raw: Any) -> ObjectSettings | None:
    base: PathKey = ("objects", kind)
    start = len(ctx.issues)
    raw = {} if raw is None else raw
    try:
        spec = ObjectSection.model_validate(raw)
    except ValidationError as exc:
        ctx.issues.extend(pydantic_issues(ctx.doc, base, exc.errors(), object_keys))
        # Check the rest of the section too (connections, field names), so every mistake shows at once.
        try:
            spec = ObjectSection.model_validate(_without(raw, exc.errors()))
        except (ValidationError, TypeError):
            return None
    names = _connections(ctx, base, spec.connections)
    fields = _known_fields(ctx, base, kind, names, spec.connections is not None)
    policy = _policy(ctx, (*base, "policy"), spec.policy, names)
    field_policies: dict[str, Policy] = {}
    directions: dict[str, Direction] = {}
    for name, entry in spec.fields.items():
        path = (*base, "fields", name)
        _check_field(ctx, path, name, fields, kind)
        if entry.policy is not None:
            field_policies[name] = _policy(ctx, (*path, "policy"), entry.policy, names)
        if entry.direction is not None:
            directions[name] = _direction(ctx, (*path, "direction"), entry.direction, names)
    match = _match(ctx, (*base, "match"), kind, spec.match, fields)
    conditions = tuple(
        _condition(ctx, (*base, "filter", name), name, cond, fields, kind, names) for name, cond in spec.filter.items()
    )
    delete = _delete(ctx, (*base, "delete"), spec.delete, fields, kind)
    look = _look_before_create(ctx, (*base, "look_before_create"), spec.look_before_create, match)
    if len(ctx.issues) > start:
        return None
    connection_fields = {
        name: frozenset(ctx.mappings.get(ctx.connections[name].vendor, kind).canonical_fields)
        for name in names
        if name in ctx.connections
    }
    rules = SyncRules(names, policy, field_policies, directions, connection_fields)
    return ObjectSettings(kind, names, rules, match, RecordFilter(conditions), delete, look)


def _look_before_create(ctx: _Context, path: PathKey, wanted: bool | None, match: tuple[tuple[str, ...], ...]) -> bool:
    """On by default for kinds matched by email (contacts); asked for elsewhere, there is nothing to look up by."""
    by_email = ("email",) in match
    if wanted and not by_email:
        ctx.add(path, "look_before_create looks records up by email: it needs `email` alone as one of the match keys")
    return by_email if wanted is None else wanted and by_email


def _without(raw: Any, errors: Sequence[Any]) -> dict[str, Any]:
    """The section minus the parts pydantic rejected: a whole key, or one entry of `fields:` / `filter:`."""
    pruned = {
        key: dict(value) if key in ("fields", "filter") and isinstance(value, Mapping) else value
        for key, value in raw.items()
    }
    for err in errors:
        loc = err["loc"]
        if not loc:
            raise TypeError("the section itself is malformed")
        if loc[0] in ("fields", "filter") and len(loc) > 1 and isinstance(pruned.get(loc[0]), dict):
            pruned[loc[0]].pop(loc[1], None)
        else:
            pruned.pop(loc[0], None)
    return pruned


def _connections(ctx: _Context, base: PathKey, listed: list[str] | None) -> tuple[str, ...]:
    if listed is None:
        return tuple(ctx.declared)
    seen: list[str] = []
    for index, name in enumerate(listed):
        path = (*base, "connections", str(index))
        if name not in ctx.declared:
            ctx.add(
                path, f"unknown connection {name!r}; expected one of: {', '.join(ctx.declared) or '(none configured)'}"
            )
        elif name in seen:
            ctx.add(path, f"connection {name!r} is listed twice")
        else:
            seen.append(name)
    return tuple(seen)


def _known_fields(ctx: _Context, base: PathKey, kind: ObjectKind, names: Sequence[str], listed: bool) -> frozenset[str]:
    """The canonical fields the object's connections map; a connection whose vendor has no map for it is a mistake."""
    known: set[str] = set()
    for index, name in enumerate(names):
        vendor = ctx.declared.get(name)
        if vendor is None:
            continue  # its own section already reported what is wrong with it
        if not ctx.mappings.has(vendor, kind):
            path = (*base, "connections", str(index)) if listed else base
            ctx.add(path, f"{vendor} has no field map for {kind}; add one under `mappings: {kind}:`")
            continue
        known.update(ctx.mappings.get(vendor, kind).canonical_fields)
    if known:
        known.update(ctx.unchecked.get(kind, frozenset()))
    return frozenset(known)


def _check_field(ctx: _Context, path: PathKey, name: str, known: Collection[str], kind: ObjectKind) -> bool:
    if not known or name in known:
        return True  # with no valid connection there is nothing to check against; that was reported already
    ctx.add(path, f"unknown {kind} field {name!r}; expected a mapped field: {', '.join(sorted(known))}")
    return False


def _names_in(ctx: _Context, path: PathKey, listed: Sequence[str], names: Sequence[str]) -> None:
    for index, name in enumerate(listed):
        if name not in names:
            ctx.add((*path, str(index)), f"{name!r} is not one of this object's connections ({', '.join(names)})")


def _policy(ctx: _Context, path: PathKey, spec: PolicySpec, names: Sequence[str]) -> Policy:
    kind = spec.resolved_kind
    if kind == "prefer":
        prefer = spec.prefer or []
        _names_in(ctx, (*path, "prefer"), prefer, names)
        return Policy.preferring(*prefer, unless_blank=spec.unless_blank)
    return Policy(kind, (), spec.unless_blank)


def _direction(ctx: _Context, path: PathKey, spec: DirectionSpec, names: Sequence[str]) -> Direction:
    if spec.to is not None:
        _names_in(ctx, (*path, "to"), spec.to, names)
        return Direction.to(*spec.to)
    if spec.from_ is not None:
        _names_in(ctx, (*path, "from"), spec.from_, names)
        return Direction.from_(*spec.from_)
    return Direction.none() if spec.kind == "none" else Direction.both()


def _match(
    ctx: _Context, path: PathKey, kind: ObjectKind, listed: list[str | list[str]] | None, known: Collection[str]
) -> tuple[tuple[str, ...], ...]:
    if listed is None:
        for key in DEFAULT_MATCH[kind]:
            for parent in (name for name in key if name in LINK_ROLES and name not in ctx.synced):
                ctx.add(
                    path[:-1],
                    f"the default match key [{', '.join(key)}] needs each {kind}'s {parent}, and `objects:` does "
                    f"not sync {parent}: {_a(kind)} linked to a {parent} would wait for it at every sync; add "
                    f"`{parent}: {{}}` under objects, or give {kind} a `match:` without {parent}",
                )
        return DEFAULT_MATCH[kind]
    keys: list[tuple[str, ...]] = []
    for index, entry in enumerate(listed):
        key = (entry,) if isinstance(entry, str) else tuple(entry)
        if not key:
            ctx.add((*path, str(index)), "expected a field, or a list of fields that must all be equal")
            continue
        for part, name in enumerate(key):
            where = (*path, str(index)) if isinstance(entry, str) else (*path, str(index), str(part))
            if name in LINK_ROLES and name != kind:
                if name not in ctx.synced:
                    ctx.add(
                        where,
                        f"{name} is a parent `objects:` does not sync: {_a(kind)} linked to a {name} would wait for "
                        f"it at every sync; add `{name}: {{}}` under objects, or leave {name} out of the key",
                    )
                continue
            _check_field(ctx, where, name, known, kind)
        keys.append(key)
    return tuple(keys)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _condition(
    ctx: _Context,
    path: PathKey,
    name: str,
    spec: ConditionSpec,
    known: Collection[str],
    kind: ObjectKind,
    connections: Sequence[str],
) -> Condition:
    if _check_field(ctx, path, name, known, kind):
        _check_values(ctx, path, name, spec, kind, connections)
    if spec.present is not None:
        return Condition(name, "present" if spec.present else "blank")
    if spec.equals is not None:
        return Condition(name, "equals", (spec.equals,))
    if spec.not_equals is not None:
        return Condition(name, "not_equals", (spec.not_equals,))
    if spec.in_ is not None:
        return Condition(name, "in", tuple(spec.in_))
    return Condition(name, "not_in", tuple(spec.not_in or ()))


def _check_values(
    ctx: _Context, path: PathKey, name: str, spec: ConditionSpec, kind: ObjectKind, connections: Sequence[str]
) -> None:
    """A value no value map reads can never be a record's: a typo there filters nothing out, or everything."""
    readable = _readable_values(ctx, kind, name, connections)
    if readable is None:
        return
    given: list[tuple[PathKey, PlainValue | None]] = [(("equals",), spec.equals), (("not_equals",), spec.not_equals)]
    for op, values in (("in", spec.in_), ("not_in", spec.not_in)):
        given += [((op, str(index)), value) for index, value in enumerate(values or ())]
    for where, value in given:
        if value is not None and value_key(value) not in readable:
            ctx.add(
                (*path, *where),
                f"{value!r} is not a {kind}.{name} value the value maps read; expected one of: "
                + ", ".join(sorted(readable)),
            )


def _readable_values(ctx: _Context, kind: ObjectKind, name: str, connections: Sequence[str]) -> frozenset[str] | None:
    """The canonical values the connections' value maps of `name` can hold, or None when any value can."""
    readable: set[str] = set()
    for connection in connections:
        vendor = ctx.declared.get(connection)
        if vendor is None or not ctx.mappings.has(vendor, kind):
            continue
        for rule in ctx.mappings.get(vendor, kind).rules:
            if name not in rule.canonical:
                continue
            if rule.values is None or rule.values.passthrough or len(rule.canonical) > 1:
                return None
            held = [*rule.values.to_canonical_map.values(), *rule.values.to_vendor_map, *rule.values.blank_for]
            readable.update(value_key(value) for value in held)
    return frozenset(readable) or None


def _delete(ctx: _Context, path: PathKey, spec: DeleteSpec, known: Collection[str], kind: ObjectKind) -> DeletePolicy:
    if spec.archive_field is not None:
        _check_field(ctx, (*path, "archive_field"), spec.archive_field, known, kind)
    breaker = MassDeleteBreaker(spec.mass_delete.share, spec.mass_delete.min)
    return DeletePolicy(spec.policy, spec.on_edit, spec.archive_field, spec.archive_value, breaker)
