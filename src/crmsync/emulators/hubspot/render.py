"""Serialises records the way HubSpot does: string values, requested properties, timestamps, associations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.hubspot.associations import association_type
from crmsync.emulators.hubspot.schema import ObjectType
from crmsync.emulators.hubspot.state import OBJECT_TYPES_BY_NAME, Portal
from crmsync.emulators.hubspot.timefmt import iso_ms


class RecordView:
    """A per-request rendering plan, so per-record work is a short loop over precomputed names."""

    def __init__(
        self,
        portal: Portal,
        ot: ObjectType,
        requested: Iterable[str] | None = None,
        *,
        with_history: Iterable[str] = (),
        associations: Iterable[ObjectType] = (),
    ) -> None:
        self.portal = portal
        self.ot = ot
        defs = portal.catalog.of(ot)
        names = {n for n in (ot.defaults if requested is None else requested) if n in defs}
        self.names = _names(ot, names)
        self.history = sorted(n for n in set(with_history) if n in defs)
        self.associations = list(dict.fromkeys(associations))
        self.url_prefix = f"https://app.hubspot.com/contacts/{portal.portal_id}/record/{ot.type_id}/"
        self._iso: dict[int, str] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}  # written names → rendered names

    def _stamp(self, ms: int) -> str:
        # A page's records were mostly written in the same few milliseconds: render each stamp once per view.
        text = self._iso.get(ms)
        if text is None:
            if len(self._iso) > 4096:
                self._iso.clear()
            text = self._iso[ms] = iso_ms(ms)
        return text

    def _properties(self, record: StoredRecord, names: tuple[str, ...]) -> dict[str, Any]:
        # Fields read with one comprehension; the three bookkeeping properties are then overwritten in place
        # (assignment keeps a key's position, so properties stay in name order).
        get = record.fields.get
        props = {name: get(name) for name in names}
        ot = self.ot
        props["hs_object_id"] = record.id
        props[ot.created_prop] = self._stamp(record.created_ms)
        props[ot.modified_prop] = self._stamp(record.modified_ms)
        return props

    def _names_for(self, written: Iterable[str]) -> tuple[str, ...]:
        # A batch's inputs mostly share one shape: work out its sorted names once.
        key = tuple(written)
        names = self._shapes.get(key)
        if names is None:
            names = self._shapes[key] = _names(self.ot, set(key))
        return names

    def render(self, record: StoredRecord) -> dict[str, Any]:
        # `_properties` inlined: this runs for every record of every page.
        get = record.fields.get
        props = {name: get(name) for name in self.names}
        iso = self._iso
        created = iso.get(record.created_ms) or self._stamp(record.created_ms)
        modified = iso.get(record.modified_ms) or self._stamp(record.modified_ms)
        ot = self.ot
        props["hs_object_id"] = record.id
        props[ot.created_prop] = created
        props[ot.modified_prop] = modified
        if self.history or self.associations or record.deleted_ms is not None:
            return self._envelope(record, props)
        return {
            "id": record.id,
            "properties": props,
            "createdAt": created,
            "updatedAt": modified,
            "archived": False,
            "url": self.url_prefix + record.id,
        }

    def _envelope(self, record: StoredRecord, props: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": record.id, "properties": props}
        if self.history:
            out["propertiesWithHistory"] = {name: self._history(record, name) for name in self.history}
        out["createdAt"] = self._stamp(record.created_ms)
        out["updatedAt"] = self._stamp(record.modified_ms)
        out["archived"] = record.deleted_ms is not None
        if record.deleted_ms is not None:
            out["archivedAt"] = self._stamp(record.deleted_ms)
        out["url"] = self.url_prefix + record.id
        if self.associations:
            found = associations_of(self.portal, self.ot, record.id, self.associations)
            if found:
                out["associations"] = found
        return out

    def _history(self, record: StoredRecord, name: str) -> list[dict[str, Any]]:
        rendered = []
        for value, ms, source_type, source_id in self.portal.property_history(self.ot, record, name):
            entry: dict[str, Any] = {"value": value, "timestamp": self._stamp(ms), "sourceType": source_type}
            if source_id:
                entry["sourceId"] = source_id
            rendered.append(entry)
        return rendered

    def render_all(self, record: StoredRecord) -> dict[str, Any]:
        """Every property with a value (create and merge responses)."""
        return self._envelope(record, self._properties(record, self._names_for(record.fields)))

    def render_written(self, record: StoredRecord, written: Mapping[str, str]) -> dict[str, Any]:
        """The written properties as stored ("" for cleared) plus the stamps (update responses)."""
        props = self._properties(record, self._names_for(written))
        for name, value in written.items():
            if value == "":
                props[name] = ""
        return self._envelope(record, props)


def _names(ot: ObjectType, names: set[str]) -> tuple[str, ...]:
    """The property names to render, sorted, always with the id and the two stamps."""
    return tuple(sorted(names | {"hs_object_id", ot.created_prop, ot.modified_prop}))


def associations_of(portal: Portal, ot: ObjectType, record_id: str, to_types: list[ObjectType]) -> dict[str, Any]:
    """The v3 `associations` block: one entry per (target, type), live targets only, empty types omitted."""
    found: dict[str, Any] = {}
    for to_ot in to_types:
        target_coll = portal.collection(to_ot)
        results = []
        for to_id, type_ids in portal.associations.targets(ot, record_id, to_ot).items():
            if target_coll.get(to_id) is None:
                continue
            for type_id in type_ids:
                atype = association_type(type_id)
                results.append({"id": to_id, "type": atype.name if atype else str(type_id)})
        if results:
            found[to_ot.name] = {"results": results}
    return found


def object_type_named(name: str) -> ObjectType | None:
    return OBJECT_TYPES_BY_NAME.get(name)
