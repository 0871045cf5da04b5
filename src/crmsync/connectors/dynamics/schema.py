"""`describe()`: EntityDefinitions (attributes, alternate keys) + option sets → ObjectSchema, opportunity stages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from crmsync.connectors.base import FieldSchema, FieldType, ObjectSchema
from crmsync.connectors.dynamics.records import MODIFIED
from crmsync.connectors.dynamics.settings import DynamicsSettings, TableInfo
from crmsync.errors import VendorResponseError

GetJson = Callable[[str, list[tuple[str, str]] | None, str, str], Awaitable[Any]]

_TYPES: dict[str, FieldType] = {
    "String": "string",
    "Memo": "text",
    "Integer": "integer",
    "BigInt": "integer",
    "Decimal": "number",
    "Double": "number",
    "Money": "currency",
    "Boolean": "boolean",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "State": "picklist",
    "Status": "picklist",
    "MultiSelectPicklist": "multipicklist",
    "Lookup": "reference",
    "Customer": "reference",
    "Owner": "reference",
    "Uniqueidentifier": "id",
    "EntityName": "string",
}
_STRING_FORMATS: dict[str, FieldType] = {"Email": "email", "Phone": "phone", "Url": "url", "TextArea": "text"}
_OPTION_CASTS = ("PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata")


def _label(value: Any) -> str:
    if isinstance(value, dict):
        user = value.get("UserLocalizedLabel")
        if isinstance(user, dict) and isinstance(user.get("Label"), str):
            return str(user["Label"])
        for item in value.get("LocalizedLabels") or []:
            if isinstance(item, dict) and isinstance(item.get("Label"), str):
                return str(item["Label"])
    return ""


class Describer:
    def __init__(self, settings: DynamicsSettings, get_json: GetJson, connection: str) -> None:
        self.settings = settings
        self.get_json = get_json
        self.connection = connection

    async def describe(self, table: TableInfo) -> ObjectSchema:
        context = f"{self.connection}: dynamics describe {table.logical_name}"
        base = f"{self.settings.api_root}/EntityDefinitions(LogicalName='{table.logical_name}')"
        entity_call = self.get_json(
            base,
            [
                ("$select", "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,DisplayName"),
                ("$expand", "Attributes,Keys"),
            ],
            "",
            context,
        )
        option_calls = [
            self.get_json(
                f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}",
                [("$select", "LogicalName"), ("$expand", "OptionSet")],
                "",
                context,
            )
            for cast in _OPTION_CASTS
        ]
        entity, *option_bodies = await asyncio.gather(entity_call, *option_calls)
        if not isinstance(entity, dict) or not isinstance(entity.get("Attributes"), list):
            raise VendorResponseError(f"{context}: EntityDefinitions has no Attributes")
        options = self._options(option_bodies, context)
        keys = self._keys(entity.get("Keys"))
        external = self.settings.external_ids.get(table.logical_name)
        fields: dict[str, FieldSchema] = {}
        for attribute in entity["Attributes"]:
            built = self._field(attribute, options, keys, external, table, context)
            if built is not None:
                fields[built.name] = built
        return ObjectSchema(
            name=table.logical_name,
            label=_label(entity.get("DisplayName")) or table.logical_name,
            fields=fields,
            id_field=str(entity.get("PrimaryIdAttribute") or table.primary_id),
            modstamp_field=MODIFIED,
            stages=self._stages(options) if table.logical_name == "opportunity" else {},
        )

    @staticmethod
    def _options(bodies: list[Any], context: str) -> dict[str, list[tuple[int, str, int | None]]]:
        """column → [(value, label, state-of-status)] from the typed attribute casts."""
        out: dict[str, list[tuple[int, str, int | None]]] = {}
        for body in bodies:
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise VendorResponseError(f"{context}: an option-set response has no 'value' array")
            for row in rows:
                option_set = row.get("OptionSet") if isinstance(row, dict) else None
                name = row.get("LogicalName") if isinstance(row, dict) else None
                if not isinstance(name, str) or not isinstance(option_set, dict):
                    continue
                values: list[tuple[int, str, int | None]] = []
                for option in option_set.get("Options") or []:
                    value = option.get("Value") if isinstance(option, dict) else None
                    if isinstance(value, int):
                        state = option.get("State")
                        values.append((value, _label(option.get("Label")), state if isinstance(state, int) else None))
                out[name] = values
        return out

    @staticmethod
    def _keys(raw: Any) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
        for key in raw if isinstance(raw, list) else []:
            columns = key.get("KeyAttributes") if isinstance(key, dict) else None
            # A key whose index is still building (Pending, InProgress) or Failed addresses no row yet.
            if isinstance(key, dict) and key.get("EntityKeyIndexStatus", "Active") != "Active":
                continue
            if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
                keys.append(tuple(columns))
        return keys

    @staticmethod
    def _field(
        attribute: Any,
        options: dict[str, list[tuple[int, str, int | None]]],
        keys: list[tuple[str, ...]],
        external: str | None,
        table: TableInfo,
        context: str,
    ) -> FieldSchema | None:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("LogicalName"), str):
            raise VendorResponseError(f"{context}: an attribute has no LogicalName")
        name = attribute["LogicalName"]
        if attribute.get("AttributeOf"):
            return None  # virtual companions (…name, …yominame) of another column
        kind_name = str(attribute.get("AttributeType") or "")
        kind: FieldType = _TYPES.get(kind_name, "other")
        fmt = attribute.get("Format")
        if kind == "string" and isinstance(fmt, str):
            kind = _STRING_FORMATS.get(fmt, kind)
        if kind == "datetime" and fmt == "DateOnly":
            kind = "date"
        level = attribute.get("RequiredLevel")
        level_value = level.get("Value") if isinstance(level, dict) else None
        creatable = attribute.get("IsValidForCreate") is True
        updatable = attribute.get("IsValidForUpdate") is True
        single_keys = {k[0] for k in keys if len(k) == 1}
        custom = attribute.get("IsCustomAttribute") is True
        targets = attribute.get("Targets")
        length = attribute.get("MaxLength")
        return FieldSchema(
            name=name,
            type=kind,
            label=_label(attribute.get("DisplayName")) or name,
            required=level_value in ("ApplicationRequired", "SystemRequired")
            and creatable
            and kind_name != "Owner"
            and name != table.primary_id,
            unique=name in single_keys or name == table.primary_id,
            external_id=name == external or (external is None and custom and name in single_keys),
            read_only=not creatable and not updatable,
            custom=custom,
            length=length if isinstance(length, int) else None,
            picklist_values=tuple(str(value) for value, _, _ in options.get(name, ())),
            references=tuple(t for t in targets if isinstance(t, str)) if isinstance(targets, list) else (),
        )

    @staticmethod
    def _stages(options: dict[str, list[tuple[int, str, int | None]]]) -> dict[str, tuple[str, bool, bool]]:
        """Opportunity `"state:status"` → (status label, is_closed, is_won): 0 Open, 1 Won, 2 Lost."""
        stages: dict[str, tuple[str, bool, bool]] = {}
        for status, label, state in options.get("statuscode", ()):
            if state is None:
                continue
            stages[f"{state}:{status}"] = (label, state != 0, state == 1)
        return stages
