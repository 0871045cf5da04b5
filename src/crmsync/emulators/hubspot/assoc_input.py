"""Parses the `associations` array of create requests and applies it after the record exists."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.associations import AssociationType, association_type
from crmsync.emulators.hubspot.schema import ObjectType, object_type
from crmsync.emulators.hubspot.state import Portal, Writer

PlannedAssociation = tuple[ObjectType, str, list[AssociationType]]


def parse_associations(portal: Portal, ot: ObjectType, raw: Any) -> list[PlannedAssociation]:
    """`[{"to": {"id"}, "types": [{"associationCategory", "associationTypeId"}]}]` → checked targets."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.validation("Invalid input JSON: associations must be an array")
    planned: list[PlannedAssociation] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("to"), dict):
            raise errors.validation("Invalid input JSON: each association needs a `to` object with an id")
        to_id = item["to"].get("id")
        types_raw = item.get("types")
        if (
            not isinstance(to_id, str | int)
            or isinstance(to_id, bool)
            or not isinstance(types_raw, list)
            or not types_raw
        ):
            raise errors.validation("Invalid input JSON: each association needs `to.id` and a non-empty `types`")
        types = [association_type_spec(ot, spec) for spec in types_raw]
        to_ot = object_type(types[0].to_type)
        if to_ot is None or any(t.to_type != types[0].to_type for t in types):
            raise errors.validation("All association types of one target must point to the same object type")
        target = portal.resolve(to_ot, str(to_id))
        if target is None:
            raise errors.validation(f"One or more associations are invalid: {to_ot.singular} {to_id} does not exist")
        planned.append((to_ot, target.id, types))
    return planned


def association_type_spec(ot: ObjectType, spec: Any) -> AssociationType:
    if not isinstance(spec, dict):
        raise errors.validation("Invalid input JSON: association types must be objects")
    category = spec.get("associationCategory")
    type_id = spec.get("associationTypeId")
    if category not in ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"):
        raise errors.validation(f"Invalid associationCategory: {category}")
    atype = association_type(type_id) if isinstance(type_id, int) and not isinstance(type_id, bool) else None
    if atype is None or category != atype.category or atype.from_type != ot.singular:
        raise errors.validation(f"Invalid association type {type_id} ({category}) for a {ot.singular}")
    return atype


def apply_associations(
    portal: Portal, ot: ObjectType, record_id: str, planned: list[PlannedAssociation], writer: Writer
) -> None:
    for to_ot, to_id, types in planned:
        portal.associate(ot, record_id, to_ot, to_id, types, writer)
