"""Validated writes: request bodies to column values (types, lengths, option sets, `@odata.bind`), then the store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from crmsync.emulators.core.store import StoredRecord, UniqueViolation
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.odata_filter import iso_utc, parse_datetime
from crmsync.emulators.dynamics.paths import parse_key, reference_path, split_key
from crmsync.emulators.dynamics.schema import Column, Table
from crmsync.emulators.dynamics.state import DataverseState, parse_guid

BIND = "@odata.bind"
NAV_PRIMITIVE = (
    "A 'PrimitiveValue' node with non-null value was found when trying to read the value of a navigation "
    "property; however, a 'StartArray' node, a 'StartObject' node, or a 'PrimitiveValue' node with null value "
    "was expected."
)
_INT_TYPES = frozenset({"Integer", "Picklist", "State", "Status", "BigInt"})
_NUMBER_TYPES = frozenset({"Decimal", "Money", "Double"})
_TEXT_TYPES = frozenset({"String", "Memo"})
ContentRefs = Mapping[str, tuple[str, str]]  # "$1" -> (entity set, record id)


class Writer:
    def __init__(self, state: DataverseState) -> None:
        self.state = state
        self._required_plans: dict[str, tuple[tuple[int, bool], list[str]]] = {}

    # ---- body -> changes --------------------------------------------------------------------
    def parse(self, table: Table, body: Any, *, creating: bool, refs: ContentRefs | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            errors.payload_error(
                table.entity_set,
                "An unexpected 'StartArray' node was found when reading from the JSON reader. "
                "A 'StartObject' node was expected.",
            )
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if "@" in key:  # one test for the rare annotated names keeps the plain-column loop short
                if key.endswith(BIND):
                    self._bind(table, key[: -len(BIND)], value, changes, refs)
                elif key == "@odata.type" and value not in (table.odata_type, f"#{table.odata_type}"):
                    errors.payload_error(
                        table.entity_set,
                        f"A type named '{value}' could not be resolved by the model. When a model is available, "
                        "each type name must resolve to a valid type.",
                    )
                continue  # other instance annotations are read and ignored
            nav = table.navs.get(key)
            if nav is not None:
                if value is not None:
                    if isinstance(value, dict):
                        errors.bad_request(
                            "Deep insert through a navigation property is not supported by this emulator."
                        )
                    errors.payload_error(table.entity_set, NAV_PRIMITIVE)
                self._set_lookup(table, nav[0], None, None, changes)
                continue
            column = table.columns.get(key)
            if column is None or column.is_lookup:
                errors.payload_error(
                    table.entity_set,
                    f"The property '{key}' does not exist on type '{table.odata_type}'. Make sure to only use "
                    "property names that are defined by the type or mark the type as open type.",
                )
            if column.name == table.primary_id:
                if creating:
                    guid = parse_guid(value) if isinstance(value, str) else None
                    if guid is None:
                        errors.payload_error(
                            table.entity_set, f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."
                        )
                    changes[column.name] = guid
                continue
            if not (column.create if creating else column.update) and column.name not in ("statecode",):
                continue  # read-only columns are ignored on write, as the platform does
            changes[column.name] = self.coerce(table, column, value)
        return changes

    def coerce(self, table: Table, column: Column, value: Any) -> Any:
        if value is None:
            return None
        kind = column.type
        if kind in _TEXT_TYPES or kind == "EntityName":
            if not isinstance(value, str):
                self._wrong_type(table, column, value)
            if column.max_length is not None and len(value) > column.max_length:
                errors.validation(
                    f"The length of the '{column.name}' attribute of the '{table.logical_name}' entity exceeded "
                    f"the maximum allowed length of '{column.max_length}'."
                )
            return value
        if kind in _INT_TYPES:
            if isinstance(value, bool) or not isinstance(value, int):
                self._wrong_type(table, column, value)
            if column.options and kind != "State" and value not in column.options:
                accepted = ",".join(str(v) for v in column.options)
                errors.validation(
                    f"The value {value} of '{column.name}' on record of type '{table.logical_name}' is outside "
                    f"the valid range. Accepted Values: {accepted}"
                )
            self._range(table, column, value)
            return value
        if kind in _NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._wrong_type(table, column, value)
            self._range(table, column, value)
            return value
        if kind == "Boolean":
            if not isinstance(value, bool):
                self._wrong_type(table, column, value)
            return value
        if kind == "DateTime":
            if not isinstance(value, str) or len(value) < 10:
                self._wrong_type(table, column, value)
            try:
                return iso_utc(parse_datetime(value))
            except Exception:
                self._wrong_type(table, column, value)
        if kind == "DateOnly":
            if not isinstance(value, str):
                self._wrong_type(table, column, value)
            try:
                return date.fromisoformat(value[:10]).isoformat()
            except ValueError:
                self._wrong_type(table, column, value)
        return value

    def _wrong_type(self, table: Table, column: Column, value: Any) -> None:
        if isinstance(value, dict | list):
            node = "StartObject" if isinstance(value, dict) else "StartArray"
            errors.payload_error(
                table.entity_set,
                f"An unexpected '{node}' node was found when reading from the JSON reader. "
                "A 'PrimitiveValue' node was expected.",
            )
        shown = str(value).lower() if isinstance(value, bool) else value
        errors.payload_error(
            table.entity_set, f"Cannot convert the literal '{shown}' to the expected type '{column.edm_type}'."
        )

    def _range(self, table: Table, column: Column, value: float) -> None:
        low, high = column.min_value, column.max_value
        if (low is not None and value < low) or (high is not None and value > high):
            errors.validation(
                f"The value {value} of '{column.name}' on record of type '{table.logical_name}' is outside the "
                f"valid range. Accepted range: {low:g} to {high:g}"
                if low is not None and high is not None
                else f"The value {value} of '{column.name}' is outside the valid range."
            )

    def _bind(self, table: Table, nav: str, value: Any, changes: dict[str, Any], refs: ContentRefs | None) -> None:
        target_nav = table.navs.get(nav)
        if target_nav is None:
            errors.payload_error(
                table.entity_set,
                f"An undeclared property '{nav}' which only has property annotations in the payload but no "
                "property value was found in the payload. In OData, only declared navigation properties and "
                "declared named streams can be represented as properties without values.",
            )
        column_name, target = target_nav
        if value is None:
            self._set_lookup(table, column_name, None, None, changes)
            return
        if not isinstance(value, str):
            errors.payload_error(table.entity_set, "The value of an '@odata.bind' annotation must be a string URL.")
        record_id = self.resolve_reference(value, target, refs)
        self._set_lookup(table, column_name, record_id, target, changes)

    def resolve_reference(self, value: str, target: str, refs: ContentRefs | None) -> str:
        if value.startswith("$") and refs is not None:
            found = refs.get(value)
            if found is None:
                errors.bad_request(f"Content-ID Reference: '{value}' does not exist in the batch context.")
            entity_set, record_id = found
        else:
            entity_set, key_text = split_key(reference_path(value))
            if key_text is None:
                errors.bad_request(f"The URL '{value}' in an '@odata.bind' annotation does not address a record.")
            ref_table = self.state.by_set.get(entity_set)
            if ref_table is None:
                errors.bad_request(f"Resource not found for the segment '{entity_set}'.", errors.QUERY)
            key = parse_key(ref_table, key_text)
            if key.record_id is not None:
                record_id = key.record_id
            else:
                found_record = self.state.find_by_key(ref_table, key.alternate or {})
                if found_record is None:
                    errors.key_not_found(ref_table.logical_name)
                record_id = found_record.id
        target_table = self.state.tables[target]
        if entity_set != target_table.entity_set:
            errors.bad_request(
                f"The entity set '{entity_set}' does not match the navigation property's target "
                f"'{target_table.entity_set}'."
            )
        if self.state.collection(target_table).get(record_id) is None:
            errors.not_found(target, record_id)
        return record_id

    def _set_lookup(
        self, table: Table, column_name: str, record_id: str | None, target: str | None, changes: dict[str, Any]
    ) -> None:
        column = table.columns[column_name]
        changes[column_name] = record_id
        if len(column.targets) > 1:
            changes[f"{column_name}@lt"] = target
        if column_name == "objectid" and table.logical_name == "annotation":
            changes["objecttypecode"] = target

    # ---- store operations -------------------------------------------------------------------
    def create(
        self,
        table: Table,
        changes: dict[str, Any],
        *,
        principal: str,
        record_id: str | None = None,
    ) -> StoredRecord:
        collection = self.state.collection(table)
        record_id = changes.pop(table.primary_id, None) or record_id or self.state.new_id()
        if collection.get(record_id, include_deleted=True) is not None:
            if collection.get(record_id) is not None:
                errors.duplicate_key()
            collection.purge(record_id)  # a deleted id may be reused, as SQL allows after the row is gone
        fields = {name: value for name, value in changes.items() if value is not None}
        self._check_required(table, fields, creating=True)
        if fields.get("ownerid") is None and "ownerid" in table.columns:
            fields["ownerid"] = principal
        self._derive(table, fields, fields)
        self._default_state(table, fields)
        try:
            record = collection.insert(record_id, fields, source=principal)
        except UniqueViolation as exc:
            self._unique_error(table, exc)
        tx = self.state.tx
        if tx is not None:
            tx.undo.append(lambda: collection.purge(str(record_id)))
        return record

    def update(self, table: Table, record: StoredRecord, changes: dict[str, Any], *, principal: str) -> StoredRecord:
        self._check_required(table, changes, creating=False)
        self._check_state_change(table, record, changes)
        self._derive(table, record.fields, changes)
        return self.apply(table, record, changes, principal=principal)

    def apply(self, table: Table, record: StoredRecord, changes: dict[str, Any], *, principal: str) -> StoredRecord:
        """Write already-validated changes (actions use this to set read-only columns)."""
        collection = self.state.collection(table)
        before = {name: record.fields.get(name) for name in changes}
        try:
            updated = collection.update(record.id, changes, source=principal)
        except UniqueViolation as exc:
            self._unique_error(table, exc)
        tx = self.state.tx
        if tx is not None:
            record_id = record.id

            def undo_update() -> None:
                collection.update(record_id, before, source=principal)

            tx.undo.append(undo_update)
        return updated

    def delete(self, table: Table, record: StoredRecord, *, principal: str) -> None:
        collection = self.state.collection(table)
        collection.delete(record.id, source=principal)
        tx = self.state.tx
        if tx is not None:
            record_id = record.id

            def undo_delete() -> None:
                collection.restore(record_id, source=principal)

            tx.undo.append(undo_delete)

    # ---- rules ------------------------------------------------------------------------------
    def _required(self, table: Table) -> list[str]:
        """The columns a write must not leave empty; planned once per table shape (columns are only ever added)."""
        enforce = self.state.config.enforce_application_required
        shape = (len(table.columns), enforce)
        found = self._required_plans.get(table.logical_name)
        if found is not None and found[0] == shape:
            return found[1]
        levels = ("SystemRequired", "ApplicationRequired") if enforce else ("SystemRequired",)
        names = [
            column.name
            for column in table.columns.values()
            if column.required in levels and not column.is_lookup and column.create and column.source == 0
        ]
        self._required_plans[table.logical_name] = (shape, names)
        return names

    def _check_required(self, table: Table, fields: Mapping[str, Any], *, creating: bool) -> None:
        for name in self._required(table):
            if (creating or name in fields) and fields.get(name) in (None, ""):
                errors.fail(
                    400,
                    errors.REQUIRED,
                    f"'{name}' is required and cannot be null or empty on a record of type '{table.logical_name}'.",
                )

    def _check_state_change(self, table: Table, record: StoredRecord, changes: dict[str, Any]) -> None:
        if "statecode" not in changes and "statuscode" not in changes:
            return
        state_col = table.columns.get("statecode")
        status_col = table.columns.get("statuscode")
        if state_col is None or status_col is None:
            return
        state = changes.get("statecode", record.fields.get("statecode"))
        status = changes.get("statuscode")
        if state is None or state not in state_col.options:
            accepted = ",".join(str(v) for v in state_col.options)
            errors.validation(
                f"The value {state} of 'statecode' on record of type '{table.logical_name}' is outside the valid "
                f"range. Accepted Values: {accepted}"
            )
        if status is None:
            status = table.default_status.get(state)
            changes["statuscode"] = status
        if not isinstance(status, int) or status_col.state_of.get(status) != state:
            errors.fail(
                400,
                errors.INVALID_STATE,
                f"{status} is not a valid status code for state code {table.schema_name}State."
                f"{state_col.options.get(state, state)} on {table.logical_name} with Id {record.id}.",
            )
        changes["statecode"] = state
        if table.logical_name == "opportunity" and state in (1, 2) and record.fields.get("statecode") != state:
            label, message = ("Won", "WinOpportunityRequest") if state == 1 else ("Lost", "LoseOpportunityRequest")
            errors.fail(
                400,
                errors.INVALID_STATE,
                f"This message can not be used to set the state of opportunity to {label}. In order to set state "
                f"of opportunity to {label} use the {message} message instead.",
            )

    def _default_state(self, table: Table, fields: dict[str, Any]) -> None:
        if "statecode" not in table.columns:
            return
        fields["statecode"] = 0
        status = fields.get("statuscode")
        status_col = table.columns["statuscode"]
        if status is None:
            fields["statuscode"] = table.default_status.get(0)
        elif status_col.state_of.get(status) != 0:
            label = table.columns["statecode"].options.get(0, "Open")  # the state enum's member: AccountState.Active
            errors.fail(
                400,
                errors.INVALID_STATE,
                f"{status} is not a valid status code for state code {table.schema_name}State.{label} on "
                f"{table.logical_name}.",
            )

    def _derive(self, table: Table, current: Mapping[str, Any], changes: dict[str, Any]) -> None:
        if table.logical_name == "contact" and ("firstname" in changes or "lastname" in changes):
            first = changes.get("firstname", current.get("firstname")) or ""
            last = changes.get("lastname", current.get("lastname")) or ""
            changes["fullname"] = f"{first} {last}".strip() or None
        if table.is_activity and current.get("activitytypecode") is None:
            changes["activitytypecode"] = table.logical_name

    def _unique_error(self, table: Table, exc: UniqueViolation) -> None:
        key_name = next((name for name, cols in table.keys if cols == (exc.field_name,)), exc.field_name)
        display = table.columns[exc.field_name].schema_name
        errors.duplicate_key(
            f"A record that has the attribute values {display} already exists. The entity key {key_name} requires "
            "that this set of attributes contains unique values. Select unique values and try again."
        )
