"""The emulated org: its objects, records, lookup indexes and every write (create, update, upsert, delete, merge)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from crmsync.emulators.core.ids import SalesforceIds, is_salesforce_id, salesforce_id18, to_id18
from crmsync.emulators.core.store import Collection, Store, StoredRecord
from crmsync.emulators.salesforce.config import CustomField, SalesforceConfig
from crmsync.emulators.salesforce.derived import derive
from crmsync.emulators.salesforce.errors import SfError, entity_deleted, not_found
from crmsync.emulators.salesforce.indexes import Index, index_add, index_ids, index_remove
from crmsync.emulators.salesforce.objects import standard_objects
from crmsync.emulators.salesforce.render import RowRenderer
from crmsync.emulators.salesforce.schema import STRING_TYPES, FieldDef, ObjectDef, with_custom_fields
from crmsync.emulators.salesforce.validate import missing_required, prepare

# Reference fields whose children we index: cascades, merges and derived Task/Event AccountId need them.
_INDEXED_REFS = frozenset({"AccountId", "ParentId", "WhoId", "WhatId", "OpportunityId", "ContactId", "ReportsToId"})
_CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Task", "WhatId"), ("Event", "WhatId")),
    "Contact": (("OpportunityContactRole", "ContactId"), ("Task", "WhoId"), ("Event", "WhoId")),
    "Opportunity": (("OpportunityContactRole", "OpportunityId"), ("Task", "WhatId"), ("Event", "WhatId")),
}


def _norm(fdef: FieldDef, value: Any) -> Any:
    if isinstance(value, str) and fdef.type in STRING_TYPES and not fdef.case_sensitive:
        lowered = value.lower()
        return value if lowered == value else lowered  # share the stored string when it is lower case already
    return value


class Org:
    """One org's schema and data; routes call these methods and render the results."""

    def __init__(self, store: Store, config: SalesforceConfig) -> None:
        self.store = store
        self.config = config
        self.org_id = salesforce_id18(config.org_id[:15])
        objects = standard_objects()
        for name, specs in config.custom_fields.items():
            if name in objects:
                objects[name] = with_custom_fields(objects[name], specs)
        self.objects = objects
        self.lower = {name.lower(): obj for name, obj in objects.items()}
        self.by_prefix = {obj.key_prefix: obj for obj in objects.values()}
        self.renderers = {name: RowRenderer(obj) for name, obj in objects.items()}
        self.lookup_fields: dict[str, list[FieldDef]] = {
            name: [f for f in obj.fields.values() if f.name != "Id" and (f.id_lookup or f.external_id or f.unique)]
            for name, obj in objects.items()
        }
        self.ref_fields: dict[str, list[str]] = {
            name: [f for f in obj.fields if f in _INDEXED_REFS and obj.fields[f].type == "reference"]
            for name, obj in objects.items()
        }
        self.reset()

    def add_custom_fields(self, name: str, specs: list[CustomField]) -> None:
        """Add fields at run time (Setup → Fields); existing records read them as null."""
        obj = with_custom_fields(self.objects[name], specs)
        self.objects[name] = obj
        self.lower[name.lower()] = obj
        self.by_prefix[obj.key_prefix] = obj
        self.renderers[name] = RowRenderer(obj)
        for fdef in obj.fields.values():
            if fdef.custom and (fdef.id_lookup or fdef.external_id or fdef.unique):
                if all(f.name != fdef.name for f in self.lookup_fields[name]):
                    self.lookup_fields[name].append(fdef)
                self.lookups.setdefault((name, fdef.name), {})
        self._plan()

    # ---- lifecycle ------------------------------------------------------------------------------
    def reset(self) -> None:
        self.store.clear()
        self.ids = SalesforceIds()
        self.lookups: dict[tuple[str, str], Index] = {
            (obj, f.name): {} for obj, fields in self.lookup_fields.items() for f in fields
        }
        self.children: dict[tuple[str, str], Index] = {
            (obj, f): {} for obj, fields in self.ref_fields.items() for f in fields
        }
        self._plan()
        self.user_id = self.ids.next("005")
        self.profile_id = salesforce_id18("00edM00000Qj7rC")
        self.insert_raw("User", self.user_id, self.user_fields("Integration", "User", self.config.username))

    def _plan(self) -> None:
        """Per object, the indexes a write maintains, resolved once (every insert walks these)."""
        self._lookup_plan: dict[str, list[tuple[FieldDef, Index]]] = {
            name: [(f, self.lookups[(name, f.name)]) for f in fields] for name, fields in self.lookup_fields.items()
        }
        self._ref_plan: dict[str, list[tuple[str, Index]]] = {
            name: [(f, self.children[(name, f)]) for f in fields] for name, fields in self.ref_fields.items()
        }

    def loader(self, obj_name: str) -> Callable[[str, dict[str, Any]], None]:
        """Inserts seed records of one object (no change events), indexing them as `insert_raw` does."""
        insert = self.coll(obj_name).insert
        lookups = self._lookup_plan[obj_name]
        refs = self._ref_plan[obj_name]
        source = self.user_id

        def load(record_id: str, values: dict[str, Any]) -> None:
            insert(record_id, values, source=source, emit=False)
            for fdef, index in lookups:
                value = values.get(fdef.name)
                if value is not None:
                    index_add(index, _norm(fdef, value), record_id)
            for name, index in refs:
                parent = values.get(name)
                if parent is not None:
                    index_add(index, parent, record_id)

        return load

    def user_fields(self, first: str, last: str, username: str) -> dict[str, Any]:
        user = self.objects["User"]
        values: dict[str, Any] = {f.name: False for f in user.fields.values() if f.type == "boolean"}
        values.update(
            Username=username,
            FirstName=first,
            LastName=last,
            Name=f"{first} {last}",
            Email=username,
            Alias=(first[:1] + last[:4]).lower(),
            CommunityNickname=username.split("@")[0],
            IsActive=True,
            TimeZoneSidKey="America/Los_Angeles",
            LocaleSidKey="en_US",
            EmailEncodingKey="UTF-8",
            LanguageLocaleKey="en_US",
            UserType="Standard",
            ProfileId=self.profile_id,
            StartDay="6",
            EndDay="23",
            DigestFrequency="N",
            DefaultGroupNotificationFrequency="N",
            SenderName=f"{first} {last}",
            CompanyName="crmsync emulator",
            ForecastEnabled=False,
            Country="US",
            CountryCode="US",
        )
        for name in ("FullPhotoUrl", "SmallPhotoUrl", "MediumPhotoUrl"):
            values[name] = "/profilephoto/005/F"
        for name in ("BannerPhotoUrl", "SmallBannerPhotoUrl", "MediumBannerPhotoUrl"):
            values[name] = "/profilephoto/005/B"
        values["OutOfOfficeMessage"] = ""
        return values

    # ---- lookups --------------------------------------------------------------------------------
    def object(self, name: str) -> ObjectDef | None:
        return self.lower.get(name.lower())

    def require_object(self, name: str) -> ObjectDef:
        obj = self.object(name)
        if obj is None:
            raise not_found()
        return obj

    def coll(self, obj: ObjectDef | str) -> Collection:
        return self.store.collection(obj if isinstance(obj, str) else obj.name)

    def record_any(self, record_id: str) -> tuple[ObjectDef, StoredRecord] | None:
        """Any record (deleted too) by id, whatever its object."""
        if not is_salesforce_id(record_id):
            return None
        obj = self.by_prefix.get(record_id[:3])
        if obj is None:
            return None
        record = self.coll(obj).get(to_id18(record_id), include_deleted=True)
        return None if record is None else (obj, record)

    def check_id(self, obj: ObjectDef, record_id: str) -> str:
        """Normalise an id from a URL, with the errors Salesforce gives for the wrong kind of id."""
        if not is_salesforce_id(record_id):
            raise SfError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        if record_id[:3] != obj.key_prefix:
            raise SfError(400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", ["Id"])
        # A valid 18-character id is already canonical (its checksum was just verified): skip recomputing it.
        return record_id if len(record_id) == 18 else to_id18(record_id)

    def live(self, obj: ObjectDef, record_id: str, *, for_write: bool = False) -> StoredRecord:
        rid = self.check_id(obj, record_id)
        record = self.coll(obj).get(rid, include_deleted=True)
        if record is None:
            raise not_found()
        if record.deleted:
            if for_write:
                raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            raise not_found()
        return record

    def find_by(self, obj: ObjectDef, fdef: FieldDef, value: Any) -> list[str]:
        index = self.lookups.get((obj.name, fdef.name))
        if index is None:
            coll = self.coll(obj)
            return [r.id for r in coll.scan() if r.fields.get(fdef.name) == value]
        return index_ids(index, _norm(fdef, value))

    # ---- references -----------------------------------------------------------------------------
    def resolve_ref(self, fdef: FieldDef, record_id: str) -> str:
        target = self.by_prefix.get(record_id[:3])
        if target is None or target.name not in fdef.reference_to:
            if record_id[:3] in {o.key_prefix for o in self.objects.values()} or not fdef.polymorphic:
                code = "FIELD_INTEGRITY_EXCEPTION" if fdef.polymorphic else "MALFORMED_ID"
                raise SfError(400, code, f"{fdef.label}: id value of incorrect type: {record_id}", [fdef.name])
            raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        record = self.coll(target).get(record_id, include_deleted=True)
        if record is None:
            raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if record.deleted:
            raise entity_deleted()
        return record_id

    def resolve_ext_ref(self, rel: FieldDef, spec: dict[str, Any]) -> str:
        attrs = spec.get("attributes")
        target_name = attrs.get("type") if isinstance(attrs, dict) else rel.reference_to[0]
        target = self.object(str(target_name)) if target_name else None
        if target is None or target.name not in rel.reference_to:
            raise SfError(400, "INVALID_FIELD", f"Invalid type for relationship {rel.relationship_name}: {target_name}")
        keys = [k for k in spec if k != "attributes"]
        if len(keys) != 1:
            raise SfError(400, "INVALID_FIELD", "A foreign key reference must name exactly one external ID field")
        fdef = target.field(keys[0])
        if fdef is None or not (fdef.id_lookup or fdef.external_id):
            raise SfError(400, "INVALID_FIELD", f"No such column '{keys[0]}' on entity '{target.name}'")
        value = spec[keys[0]]
        if fdef.name == "Id":
            return self.resolve_ref(rel, to_id18(str(value))) if is_salesforce_id(str(value)) else ""
        matches = self.find_by(target, fdef, value)
        if not matches:
            raise SfError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {fdef.name} in entity {target.name}",
            )
        if len(matches) > 1:
            raise SfError(
                400,
                "DUPLICATE_EXTERNAL_ID",
                f"Foreign key external ID: {value} matched more than one record for field {fdef.name}",
            )
        return matches[0]

    # ---- writes ---------------------------------------------------------------------------------
    def _prepare(self, obj: ObjectDef, body: Any, *, creating: bool, ignore: frozenset[str]) -> dict[str, Any]:
        if not obj.createable:
            raise SfError(400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
        return prepare(
            obj,
            body,
            creating=creating,
            resolve_ref=self.resolve_ref,
            resolve_ext_ref=self.resolve_ext_ref,
            ignore=ignore,
        )

    def create(
        self, obj: ObjectDef, body: Any, user: str, *, ignore: frozenset[str] = frozenset(), dry_run: bool = False
    ) -> str:
        changes = self._prepare(obj, body, creating=True, ignore=ignore)
        values: dict[str, Any] = dict(obj.defaults)
        if "OwnerId" in obj.fields:
            values["OwnerId"] = user
        values.update(changes)
        derive(self, obj, values, changes, None)
        error = missing_required(obj, values)
        if error is not None:
            raise error
        self._check_unique(obj, values, None)
        if dry_run:
            return ""
        record_id = self.ids.next(obj.key_prefix)
        self.insert_raw(obj.name, record_id, values, user=user, emit=True)
        return record_id

    def insert_raw(
        self, obj_name: str, record_id: str, values: dict[str, Any], *, user: str | None = None, emit: bool = False
    ) -> StoredRecord:
        record = self.coll(obj_name).insert(record_id, values, source=user or self.user_id, emit=emit, created_ms=None)
        self._index(obj_name, record, values)
        return record

    def update(
        self,
        obj: ObjectDef,
        record_id: str,
        body: Any,
        user: str,
        *,
        ignore: frozenset[str] = frozenset(),
        dry_run: bool = False,
    ) -> StoredRecord:
        record = self.live(obj, record_id, for_write=True)
        changes = self._prepare(obj, body, creating=False, ignore=ignore)
        return self.apply(obj, record, changes, user, dry_run=dry_run)

    def apply(
        self, obj: ObjectDef, record: StoredRecord, changes: dict[str, Any], user: str, *, dry_run: bool = False
    ) -> StoredRecord:
        merged = {**record.fields, **changes}
        derive(self, obj, merged, changes, record)
        cleared = [name for name in obj.required_names if name in changes and merged.get(name) is None]
        if cleared:
            raise SfError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(cleared)}]", cleared
            )
        self._check_unique(obj, merged, record.id)
        if dry_run:
            return record
        final = {k: v for k, v in merged.items() if record.fields.get(k, None) != v or k in changes}
        self._unindex(obj.name, record, final)
        self.coll(obj).update(record.id, final, source=user)
        self._index(obj.name, record, final)
        return record

    def delete(self, obj: ObjectDef, record_id: str, user: str, *, dry_run: bool = False) -> None:
        record = self.live(obj, record_id, for_write=True)
        if dry_run:
            return
        self._delete(obj, record, user, None)

    def _delete(self, obj: ObjectDef, record: StoredRecord, user: str, merged_into: str | None) -> None:
        self._unindex(obj.name, record, None)
        self.coll(obj).delete(
            record.id, source=user, merged_into=merged_into, kind="merge" if merged_into else "delete"
        )
        if merged_into is None:
            for child_name, field_name in _CASCADE.get(obj.name, ()):
                child = self.objects[child_name]
                for child_id in index_ids(self.children[(child_name, field_name)], record.id):
                    child_record = self.coll(child).get(child_id)
                    if child_record is not None:
                        self._delete(child, child_record, user, None)

    def upsert(
        self,
        obj: ObjectDef,
        field_name: str,
        value: str,
        body: Any,
        user: str,
        *,
        update_only: bool = False,
        dry_run: bool = False,
    ) -> tuple[str, bool] | list[str]:
        """(id, created), or the ids of several matches (the caller answers 300)."""
        fdef = obj.field(field_name)
        if fdef is None or not (fdef.id_lookup or fdef.external_id):
            raise SfError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        ignore = frozenset({fdef.name.lower()})
        if fdef.name == "Id":
            if not value:
                return self.create(obj, body, user, dry_run=dry_run), True
            record = self.live(obj, value, for_write=True)
            self.apply(obj, record, self._prepare(obj, body, creating=False, ignore=ignore), user, dry_run=dry_run)
            return record.id, False
        matches = self.find_by(obj, fdef, value)
        if len(matches) > 1:
            return matches
        if matches:
            record = self.coll(obj).records[matches[0]]
            self.apply(obj, record, self._prepare(obj, body, creating=False, ignore=ignore), user, dry_run=dry_run)
            return record.id, False
        if update_only:
            raise not_found()
        body_with_key = {**body, fdef.name: value} if isinstance(body, dict) else body
        return self.create(obj, body_with_key, user, dry_run=dry_run), True

    def merge(
        self,
        obj: ObjectDef,
        master_id: str,
        victim_ids: list[str],
        fields: Any,
        user: str,
        related: list[str] | None = None,
    ) -> StoredRecord:
        """Fold the victims into the master: their children move to it, they are deleted pointing at it.

        `related` collects the ids of the children that moved (SOAP's `updatedRelatedIds`).
        """
        if not obj.mergeable:
            raise SfError(400, "INVALID_TYPE", f"{obj.name} does not support merge")
        if not 1 <= len(victim_ids) <= 2:
            raise SfError(400, "INVALID_ARGUMENT", "A merge request takes one or two records to merge")
        master = self.live(obj, master_id, for_write=True)
        victims = [self.live(obj, vid, for_write=True) for vid in victim_ids]
        if any(v.id == master.id for v in victims):
            raise SfError(400, "INVALID_ID_FIELD", "Cannot merge a record with itself")
        changes = self._prepare(obj, fields or {}, creating=False, ignore=frozenset({"id"}))
        for child_name, field_name in _CASCADE.get(obj.name, ()):
            child = self.objects[child_name]
            for victim in victims:
                for child_id in index_ids(self.children[(child_name, field_name)], victim.id):
                    child_record = self.coll(child).get(child_id)
                    if child_record is not None:
                        self.apply(child, child_record, {field_name: master.id}, user)
                        if related is not None:
                            related.append(child_id)
        for victim in victims:
            self._delete(obj, victim, user, master.id)
        return self.apply(obj, master, changes, user)

    # ---- internals ------------------------------------------------------------------------------
    def _check_unique(self, obj: ObjectDef, values: dict[str, Any], record_id: str | None) -> None:
        for fdef in self.lookup_fields[obj.name]:
            if not fdef.unique:
                continue
            value = values.get(fdef.name)
            if value is None:
                continue
            owners = [
                rid for rid in index_ids(self.lookups[(obj.name, fdef.name)], _norm(fdef, value)) if rid != record_id
            ]
            if owners:
                raise SfError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {fdef.name} duplicates value on record with id: {owners[0]}",
                    [],
                )

    def _index(self, obj_name: str, record: StoredRecord, changed: dict[str, Any]) -> None:
        for fdef, index in self._lookup_plan[obj_name]:
            value = changed.get(fdef.name)
            if value is not None:
                index_add(index, _norm(fdef, value), record.id)
        for name, index in self._ref_plan[obj_name]:
            parent = changed.get(name)
            if parent is not None:
                index_add(index, parent, record.id)

    def _unindex(self, obj_name: str, record: StoredRecord, changed: dict[str, Any] | None) -> None:
        for fdef, index in self._lookup_plan[obj_name]:
            old = record.fields.get(fdef.name)
            if old is None or (changed is not None and fdef.name not in changed):
                continue
            index_remove(index, _norm(fdef, old), record.id)
        for name, index in self._ref_plan[obj_name]:
            parent = record.fields.get(name)
            if parent is None or (changed is not None and name not in changed):
                continue
            index_remove(index, parent, record.id)

    def live_records(self, obj: ObjectDef, ids: Iterable[str]) -> list[StoredRecord | None]:
        coll = self.coll(obj)
        return [coll.get(rid) for rid in ids]
