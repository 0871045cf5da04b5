"""The emulated portal: records per object type, merges and aliases, associations, property history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.core.http import ApiError
from crmsync.emulators.core.ids import HubSpotIds
from crmsync.emulators.core.store import ChangeEvent, Collection, Store, StoredRecord, UniqueViolation
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.associations import AssociationIndex, AssociationType
from crmsync.emulators.hubspot.pipelines import stage_flags
from crmsync.emulators.hubspot.schema import OBJECT_TYPES, ObjectType, PropertyCatalog
from crmsync.emulators.hubspot.timefmt import iso_value
from crmsync.emulators.hubspot.values import PropertyProblem, coerce

OBJECT_TYPES_BY_NAME = {ot.name: ot for ot in OBJECT_TYPES}
_ENGAGEMENTS = frozenset(("tasks", "notes", "calls", "meetings"))
_TASK_DEFAULTS = {"hs_task_status": "NOT_STARTED", "hs_task_priority": "NONE", "hs_task_type": "TODO"}
_MAX_ALIAS_HOPS = 32
ADDITIONAL_EMAILS = "hs_additional_emails"
HistoryEntry = tuple[str, int, str, str]  # value, ms, sourceType, sourceId
# One write of a record: (ms, sourceType, sourceId, the values it wrote). Kept per write rather than per
# property: a created record then costs one entry, not a list and a tuple for each of its properties.
HistoryWrite = tuple[int, str, str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes: `API` (an app, sourceId = app id) or `CRM` (a user in the UI, sourceId = user id)."""

    change_source: str
    source_id: str

    @property
    def store_source(self) -> str:
        return f"{self.change_source}:{self.source_id}"

    @property
    def source_type(self) -> str:
        return "INTEGRATION" if self.change_source == "API" else "CRM_UI"

    @staticmethod
    def parse(source: str) -> Writer:
        kind, _, ident = source.partition(":")
        return Writer(kind or "API", ident)


def secondary_emails(fields: Mapping[str, str]) -> list[str]:
    """A contact's secondary addresses, as `hs_additional_emails` lists them (semicolon-separated)."""
    return [e for e in fields.get(ADDITIONAL_EMAILS, "").split(";") if e]


def _distinct(emails: list[str], *, besides: str) -> list[str]:
    """`emails` once each, ignoring case, in order, without `besides` (the primary: never its own secondary)."""
    seen = {besides.lower()}
    kept: list[str] = []
    for email in emails:
        if email and email.lower() not in seen:
            seen.add(email.lower())
            kept.append(email)
    return kept


@dataclass(frozen=True, slots=True)
class Promotion:
    """A contact's email set to one of its own secondary addresses: the two swap places (HubSpot's knowledge base,
    "Add multiple email addresses to a contact": one address is the primary, the contact's others are secondary)."""

    primary: str  # the address made primary
    demoted: str  # the former primary, now a secondary address ("" if there was none)
    secondaries: list[str]  # `hs_additional_emails` after the swap


def _lower(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    # The unique index keeps the record's own string when it is already lower case (most emails are),
    # rather than a copy of it: half a million contacts' emails twice over is tens of MB.
    return value if lowered == value else lowered


class Portal:
    """One HubSpot account's CRM data; every write goes through here so stamps, history and events agree."""

    def __init__(self, store: Store, *, portal_id: int, app_id: int) -> None:
        self.store = store
        self.portal_id = portal_id
        self.app_id = app_id
        self.catalog = PropertyCatalog()
        self.associations = AssociationIndex()
        self.ids = HubSpotIds()
        self.aliases: dict[str, dict[str, str]] = {}
        self.email_aliases: dict[str, str] = {}
        self.history: dict[tuple[str, str], list[HistoryWrite]] = {}
        self.writes: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self.store.clear()
        self.catalog.reset()
        self.associations.clear()
        self.ids = HubSpotIds()
        self.aliases = {ot.name: {} for ot in OBJECT_TYPES}
        self.email_aliases = {}
        self.history = {}
        self.writes = {ot.name: 0 for ot in OBJECT_TYPES}
        for ot in OBJECT_TYPES:
            self.declare_uniques(ot)

    def declare_uniques(self, ot: ObjectType) -> None:
        coll = self.collection(ot)
        for name in self.catalog.unique_names(ot):
            if name not in coll.unique_fields():
                coll.declare_unique(name, _lower if name == "email" else lambda v: v)

    def collection(self, ot: ObjectType) -> Collection:
        return self.store.collection(ot.name)

    # ---- reads -------------------------------------------------------------------------------
    def resolve(self, ot: ObjectType, record_id: str) -> StoredRecord | None:
        """The live record for an id, following merge aliases (an old id answers with the merged record)."""
        coll = self.collection(ot)
        record = coll.get(record_id)
        hops = 0
        aliases = self.aliases[ot.name]
        while record is None and record_id in aliases and hops < _MAX_ALIAS_HOPS:
            record_id = aliases[record_id]
            record = coll.get(record_id)
            hops += 1
        return record

    def find(self, ot: ObjectType, value: str, id_property: str | None) -> StoredRecord | None:
        if id_property in (None, "", "hs_object_id"):
            return self.resolve(ot, value)
        prop = self.catalog.get(ot, id_property)
        if prop is None:
            raise errors.validation(f"Property {id_property} does not exist for object type {ot.label}")
        if not prop.unique:
            raise errors.validation(f"{id_property} is not a unique identifier property of {ot.label}")
        record = self.collection(ot).find_unique(id_property, value)
        if record is None and id_property == "email" and ot.name == "contacts":
            alias = self.email_aliases.get(value.lower())
            record = self.resolve(ot, alias) if alias else None
        return record

    # ---- validation --------------------------------------------------------------------------
    def validate(self, ot: ObjectType, properties: Any) -> dict[str, str]:
        """Stored strings for each written property ("" = clear), or HubSpot's 400 listing every bad one."""
        if properties is None:
            return {}
        if not isinstance(properties, Mapping):
            raise errors.validation("Invalid input JSON: properties must be an object of property names to values")
        defs = self.catalog.of(ot)
        clean: dict[str, str] = {}
        problems: list[PropertyProblem] = []
        for name, raw in properties.items():
            prop = defs.get(name)
            if prop is None:
                message = f'Property "{name}" does not exist'
                problems.append(errors.property_error(name, "PROPERTY_DOESNT_EXIST", message))
                continue
            if prop.read_only:
                message = f'"{name}" is a read only property; its value cannot be set.'
                problems.append(errors.property_error(name, "READ_ONLY_VALUE", message))
                continue
            value, problem = coerce(prop, raw)
            if problem is not None:
                problems.append(problem)
            else:
                clean[name] = value
        if problems:
            raise errors.property_errors(problems)
        return clean

    # ---- writes ------------------------------------------------------------------------------
    def _bump(self, ot: ObjectType) -> None:
        self.writes[ot.name] += 1

    def _derive(self, ot: ObjectType, fields: dict[str, str], changes: Mapping[str, str]) -> None:
        if ot.name == "deals":
            if changes.get("dealstage") and not fields.get("pipeline"):
                fields["pipeline"] = "default"
            if "dealstage" in changes:
                fields.update(stage_flags(changes["dealstage"]))
        elif ot.name == "contacts" and "email" in changes:
            email = changes["email"]
            fields["hs_email_domain"] = email.rpartition("@")[2].lower() if email else ""

    def _conflict(self, ot: ObjectType, exc: UniqueViolation) -> ApiError:
        if ot.name == "contacts" and exc.field_name == "email":
            return errors.conflict(exc.existing_id)
        return errors.api_error(
            409,
            f"A {ot.singular} with {exc.field_name} {exc.value} already exists. Existing ID: {exc.existing_id}",
            "CONFLICT",
        )

    def create(self, ot: ObjectType, properties: Any, writer: Writer) -> StoredRecord:
        clean = self.validate(ot, properties)
        return self.insert_clean(ot, clean, writer)

    def insert_clean(self, ot: ObjectType, clean: dict[str, str], writer: Writer) -> StoredRecord:
        fields = {name: value for name, value in clean.items() if value != ""}
        if ot.name in ("contacts", "companies"):
            fields.setdefault("lifecyclestage", "lead")
        elif ot.name == "tasks":
            for name, value in _TASK_DEFAULTS.items():
                fields.setdefault(name, value)
        self._derive(ot, fields, fields)
        if ot.name in _ENGAGEMENTS and "hs_timestamp" not in fields:
            fields["hs_timestamp"] = iso_value(self.store.clock.now_ms())
        label = "INTEGRATION" if writer.change_source == "API" else "CRM_UI"
        fields["hs_object_source"] = label
        fields["hs_object_source_id"] = writer.source_id
        fields["hs_object_source_label"] = label
        email = fields.get("email")
        if email and ot.name == "contacts" and email.lower() in self.email_aliases:
            alias = self.resolve(ot, self.email_aliases[email.lower()])
            if alias is not None:
                raise errors.conflict(alias.id)
        coll = self.collection(ot)
        record_id = self.ids.next()
        try:
            record = coll.insert(record_id, fields, source=writer.store_source)
        except UniqueViolation as exc:
            raise self._conflict(ot, exc) from exc
        self._bump(ot)
        self._remember(ot, record, dict(fields), writer)  # a snapshot: the record's own dict changes later
        return record

    def update(self, ot: ObjectType, record: StoredRecord, properties: Any, writer: Writer) -> dict[str, str]:
        """Apply a PATCH; returns the written values (cleared ones as "") for the response."""
        clean = self.validate(ot, properties)
        self.apply_clean(ot, record, clean, writer)
        return clean

    def apply_clean(self, ot: ObjectType, record: StoredRecord, clean: dict[str, str], writer: Writer) -> None:
        email = clean.get("email")
        if email and ot.name == "contacts" and email.lower() in self.email_aliases:
            # Another contact's secondary email (kept from a merge) is taken, on an update as on a create.
            alias = self.resolve(ot, self.email_aliases[email.lower()])
            if alias is not None and alias.id != record.id:
                raise errors.conflict(alias.id)
        changes = dict(clean)
        promoted = self._promotion(ot, record, clean)
        if promoted is not None:
            changes[ADDITIONAL_EMAILS] = ";".join(promoted.secondaries)
        self._derive(ot, changes, clean)
        try:
            self.collection(ot).update(record.id, changes, source=writer.store_source)
        except UniqueViolation as exc:
            raise self._conflict(ot, exc) from exc
        for name, value in changes.items():
            if value == "":
                record.fields.pop(name, None)
        if promoted is not None:
            # The unique index holds the new primary now; the former one stays an identity of this contact.
            self.email_aliases.pop(promoted.primary.lower(), None)
            if promoted.demoted:
                self.email_aliases[promoted.demoted.lower()] = record.id
        self._bump(ot)
        written = clean if promoted is None else {**clean, ADDITIONAL_EMAILS: changes[ADDITIONAL_EMAILS]}
        self._remember(ot, record, written, writer)

    @staticmethod
    def _promotion(ot: ObjectType, record: StoredRecord, clean: Mapping[str, str]) -> Promotion | None:
        """The swap a write of `email` makes when it names one of the contact's own secondary addresses."""
        email = clean.get("email")
        if ot.name != "contacts" or not email:
            return None
        current = record.fields.get("email", "")
        secondaries = secondary_emails(record.fields)
        if email.lower() == current.lower() or email.lower() not in {e.lower() for e in secondaries}:
            return None
        return Promotion(email, current, _distinct([*secondaries, current], besides=email))

    def archive(self, ot: ObjectType, record: StoredRecord, writer: Writer) -> None:
        self.collection(ot).delete(record.id, source=writer.store_source)
        self._bump(ot)

    def merge(self, ot: ObjectType, primary: StoredRecord, other: StoredRecord, writer: Writer) -> StoredRecord:
        """HubSpot's merge: a new record with a new id; both old ids become aliases of it."""
        coll = self.collection(ot)
        new_id = self.ids.next()
        fields = {**other.fields, **primary.fields}
        merged_ids: list[str] = []
        for old in (primary, other):
            merged_ids.extend(i for i in old.fields.get("hs_merged_object_ids", "").split(";") if i)
            merged_ids.append(old.id)
        fields["hs_merged_object_ids"] = ";".join(merged_ids)
        secondaries: list[str] = []
        if ot.name == "contacts":
            # Every address either contact answered to stays an identity of the survivor: both lists, and the
            # other's primary (the primary's list alone, by `fields`' precedence, dropped the other's).
            found = [*secondary_emails(primary.fields), *secondary_emails(other.fields), other.fields.get("email", "")]
            secondaries = _distinct(found, besides=fields.get("email", ""))
            if secondaries:
                fields[ADDITIONAL_EMAILS] = ";".join(secondaries)
            else:
                fields.pop(ADDITIONAL_EMAILS, None)
        created_ms = min(primary.created_ms, other.created_ms)
        history = self._merged_history(ot, primary, other)
        for old in (primary, other):
            coll.delete(old.id, source=writer.store_source, merged_into=new_id, kind="merge")
            self.aliases[ot.name][old.id] = new_id
        record = coll.insert(new_id, fields, source=writer.store_source, created_ms=created_ms, emit=False)
        for email in secondaries:
            self.email_aliases[email.lower()] = new_id
        for old in (primary, other):
            self.associations.move(ot, old.id, new_id, OBJECT_TYPES_BY_NAME)
        if history:
            self.history[(ot.name, new_id)] = history
        self._bump(ot)
        self.store.emit(
            ChangeEvent(
                ot.name,
                "merge",
                new_id,
                (),
                record.version,
                record.modified_ms,
                writer.store_source,
                {"primary_id": primary.id, "merged_ids": (primary.id, other.id), "new_id": new_id},
            )
        )
        return record

    def associate(
        self,
        from_ot: ObjectType,
        from_id: str,
        to_ot: ObjectType,
        to_id: str,
        types: list[AssociationType],
        writer: Writer,
        *,
        remove: bool = False,
    ) -> bool:
        if remove:
            changed = self.associations.remove(from_ot, from_id, to_ot, to_id, types or None)
        else:
            changed = self.associations.add(from_ot, from_id, to_ot, to_id, types)
        if changed:
            # Association changes do not move lastmodifieddate; they only notify webhook subscribers.
            self.store.emit(
                ChangeEvent(
                    from_ot.name,
                    "association",
                    from_id,
                    (),
                    self.store.version,
                    self.store.clock.now_ms(),
                    writer.store_source,
                    {
                        "to_type": to_ot.name,
                        "to_id": to_id,
                        "type_ids": tuple(t.type_id for t in types),
                        "removed": remove,
                    },
                )
            )
        return changed

    def _remember(self, ot: ObjectType, record: StoredRecord, values: Mapping[str, str], writer: Writer) -> None:
        """Record one write; `values` is kept, so callers hand over a mapping nothing changes afterwards."""
        write = (record.modified_ms, writer.source_type, writer.source_id, values)
        writes = self.history.get((ot.name, record.id))
        if writes is None:
            self.history[(ot.name, record.id)] = [write]
        else:
            writes.append(write)

    def _merged_history(self, ot: ObjectType, primary: StoredRecord, other: StoredRecord) -> list[HistoryWrite]:
        """Per property, the primary's history when it has one, else the other record's."""
        by_name: dict[str, list[HistoryEntry]] = {}
        for source in (other, primary):
            mine: dict[str, list[HistoryEntry]] = {}
            for ms, source_type, source_id, values in self.history.get((ot.name, source.id), []):
                for name, value in values.items():
                    mine.setdefault(name, []).append((value, ms, source_type, source_id))
            by_name.update(mine)
        return [(ms, st, sid, {name: value}) for name, entries in by_name.items() for value, ms, st, sid in entries]

    def property_history(self, ot: ObjectType, record: StoredRecord, name: str) -> list[HistoryEntry]:
        """Newest first; a value loaded without history (seeded) reads as one import at creation time."""
        writes = self.history.get((ot.name, record.id), [])
        entries = [(values[name], ms, st, sid) for ms, st, sid, values in reversed(writes) if name in values]
        if entries:
            return entries
        value = record.fields.get(name)
        return [] if value is None else [(value, record.created_ms, "IMPORT", "")]
