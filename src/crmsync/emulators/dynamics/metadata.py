"""`EntityDefinitions`: tables, attributes (typed casts, option sets), alternate keys and relationships."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.responses import Response

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call, no_content, odata_json
from crmsync.emulators.dynamics.odata_filter import compile_filter
from crmsync.emulators.dynamics.options import split_top_level
from crmsync.emulators.dynamics.paths import split_key
from crmsync.emulators.dynamics.schema import Column, Table
from crmsync.emulators.dynamics.state import DataverseState, normalise_key

PUBLISHER_PREFIX = "new"  # the default publisher's customization prefix
_CUSTOM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+")
_KEY_TYPES = frozenset({"String", "Integer", "Decimal", "DateTime", "DateOnly", "Lookup", "Customer", "Picklist"})
_NS = uuid.UUID("6c1f0e2a-9b7d-4c3e-8f5a-2d4b6e8a0c1e")
_ATTRIBUTE_CLASS = {
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Double": "DoubleAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "DateOnly": "DateTimeAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
    "EntityName": "EntityNameAttributeMetadata",
}
_ENTITY_FILTER_COLUMNS = [
    Column("LogicalName", "String"),
    Column("SchemaName", "String"),
    Column("EntitySetName", "String"),
    Column("LogicalCollectionName", "String"),
    Column("PrimaryIdAttribute", "String"),
    Column("ChangeTrackingEnabled", "Boolean"),
    Column("IsActivity", "Boolean"),
    Column("IsCustomEntity", "Boolean"),
    Column("ObjectTypeCode", "Integer"),
]
_ATTRIBUTE_FILTER_COLUMNS = [
    Column("LogicalName", "String"),
    Column("SchemaName", "String"),
    Column("AttributeType", "String"),
    Column("IsCustomAttribute", "Boolean"),
    Column("IsValidForCreate", "Boolean"),
    Column("IsValidForUpdate", "Boolean"),
    Column("IsPrimaryId", "Boolean"),
    Column("IsPrimaryName", "Boolean"),
]


def metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def label(text: str) -> dict[str, Any]:
    localized = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": metadata_id("label", text),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def _pseudo_table(name: str, columns: list[Column]) -> Table:
    table = Table(name, name, name, "MetadataId", None, 0, name, {c.name: c for c in columns})
    table.finish()
    return table


_ENTITY_TABLE = _pseudo_table("EntityMetadata", _ENTITY_FILTER_COLUMNS)
_ATTRIBUTE_TABLE = _pseudo_table("AttributeMetadata", _ATTRIBUTE_FILTER_COLUMNS)


class Metadata:
    def __init__(self, state: DataverseState) -> None:
        self.state = state

    # ---- documents --------------------------------------------------------------------------
    def entity(self, table: Table) -> dict[str, Any]:
        return {
            "MetadataId": metadata_id("entity", table.logical_name),
            "LogicalName": table.logical_name,
            "SchemaName": table.schema_name,
            "EntitySetName": table.entity_set,
            "LogicalCollectionName": table.entity_set,
            "CollectionSchemaName": table.schema_name + "s",
            "PrimaryIdAttribute": table.primary_id,
            "PrimaryNameAttribute": table.primary_name,
            "ObjectTypeCode": table.object_type_code,
            "DisplayName": label(table.display_name),
            "DisplayCollectionName": label(table.display_name + "s"),
            "ChangeTrackingEnabled": True,
            "IsOptimisticConcurrencyEnabled": True,
            "IsActivity": table.is_activity,
            "IsCustomEntity": False,
            "IsValidForAdvancedFind": True,
            "OwnershipType": "UserOwned",
            "TableType": "Standard",
        }

    def attribute(self, table: Table, column: Column, *, expand_options: bool = False) -> dict[str, Any]:
        kind = column.type
        out: dict[str, Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{_ATTRIBUTE_CLASS[kind]}",
            "MetadataId": metadata_id("attribute", table.logical_name, column.name),
            "LogicalName": column.name,
            "SchemaName": column.schema_name,
            "EntityLogicalName": table.logical_name,
            "AttributeType": column.attribute_type,
            "AttributeTypeName": {"Value": f"{'Lookup' if column.is_lookup else column.attribute_type}Type"},
            "AttributeOf": None,
            "DisplayName": label(column.schema_name),
            "RequiredLevel": {
                "Value": column.required,
                "CanBeChanged": column.required != "SystemRequired",
                "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
            },
            "IsValidForCreate": column.create,
            "IsValidForUpdate": column.update,
            "IsValidForRead": True,
            "IsCustomAttribute": column.custom,
            "IsPrimaryId": column.name == table.primary_id,
            "IsPrimaryName": column.name == table.primary_name,
        }
        if kind in ("String", "Memo"):
            out["MaxLength"] = column.max_length
            out["Format"] = "Text" if kind == "String" else "TextArea"
        if column.min_value is not None:
            out["MinValue"] = column.min_value
            out["MaxValue"] = column.max_value
        if kind == "Money":
            out["Precision"] = 2
        if kind in ("DateTime", "DateOnly"):
            out["Format"] = "DateOnly" if kind == "DateOnly" else "DateAndTime"
            out["DateTimeBehavior"] = {"Value": "DateOnly" if kind == "DateOnly" else "UserLocal"}
        if column.is_lookup:
            out["Targets"] = list(column.targets)
        if expand_options and column.options:
            out["OptionSet"] = self.option_set(table, column)
            out["GlobalOptionSet"] = None
        return out

    def option_set(self, table: Table, column: Column) -> dict[str, Any]:
        options = []
        for value, text in column.options.items():
            option: dict[str, Any] = {"Value": value, "Label": label(text), "Description": label("")}
            if column.type == "Status":
                option["@odata.type"] = "#Microsoft.Dynamics.CRM.StatusOptionMetadata"
                option["State"] = column.state_of.get(value)
            if column.type == "State":
                option["@odata.type"] = "#Microsoft.Dynamics.CRM.StateOptionMetadata"
                option["DefaultStatus"] = table.default_status.get(value)
            options.append(option)
        return {
            "MetadataId": metadata_id("optionset", table.logical_name, column.name),
            "Name": f"{table.logical_name}_{column.name}",
            "IsGlobal": False,
            "OptionSetType": column.type if column.type != "Picklist" else "Picklist",
            "Options": options,
        }

    def keys(self, table: Table) -> list[dict[str, Any]]:
        return [
            {
                "MetadataId": metadata_id("key", table.logical_name, name),
                "LogicalName": name.lower(),
                "SchemaName": name,
                "DisplayName": label(name),
                "EntityLogicalName": table.logical_name,
                "KeyAttributes": list(columns),
                "EntityKeyIndexStatus": self.state.key_status(table, name),
            }
            for name, columns in table.keys
        ]

    # ---- customisation (POST .../Attributes, POST .../Keys) ---------------------------------
    def create_attribute(self, call: Call, table: Table, root: str) -> Response:
        """A new string column: the one attribute type crmsync creates (its external-id column)."""
        body = _body(call)
        kind = str(body.get("@odata.type") or "").removeprefix("#").removeprefix("Microsoft.Dynamics.CRM.")
        if kind != "StringAttributeMetadata":
            errors.bad_request(
                f"The emulator creates StringAttributeMetadata columns only, not {kind or 'an untyped attribute'!r}.",
                errors.VALIDATION,
            )
        schema_name = body.get("SchemaName")
        if not isinstance(schema_name, str) or not _CUSTOM_NAME.fullmatch(schema_name):
            errors.bad_request(
                f"SchemaName {schema_name!r} is not a valid custom attribute name: it starts with the publisher's "
                f"customization prefix ({PUBLISHER_PREFIX}_) and holds letters, digits and underscores.",
                errors.VALIDATION,
            )
        if not schema_name.lower().startswith(f"{PUBLISHER_PREFIX}_"):
            errors.bad_request(
                f"The customization prefix of {schema_name!r} is not the publisher's ({PUBLISHER_PREFIX}).",
                errors.VALIDATION,
            )
        logical = schema_name.lower()
        if logical in table.columns:
            errors.bad_request(
                f"An attribute with the name {logical} already exists for entity {table.logical_name}.",
                errors.DUPLICATE_KEY,
            )
        length = body.get("MaxLength", 100)
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 4000:
            errors.bad_request(f"MaxLength {length!r} is outside 1 to 4000.", errors.VALIDATION)
        if not _has_label(body.get("DisplayName")):
            errors.bad_request("The attribute's DisplayName needs a LocalizedLabel.", errors.VALIDATION)
        level = body.get("RequiredLevel")
        required = isinstance(level, dict) and level.get("Value") == "ApplicationRequired"
        table.columns[logical] = Column(
            logical,
            "String",
            max_length=length,
            required="ApplicationRequired" if required else "None",
            custom=True,
            schema_name=schema_name,
        )
        table.finish()
        url = f"{root}/Attributes({metadata_id('attribute', table.logical_name, logical)})"
        return no_content({"OData-EntityId": url})

    def create_key(self, call: Call, table: Table, root: str) -> Response:
        """A new alternate key. Dataverse builds its index in a system job: Pending, then Active (or Failed)."""
        body = _body(call)
        schema_name = body.get("SchemaName")
        columns = body.get("KeyAttributes")
        if not isinstance(schema_name, str) or not _CUSTOM_NAME.fullmatch(schema_name):
            errors.bad_request(f"SchemaName {schema_name!r} is not a valid key name.", errors.VALIDATION)
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            errors.bad_request("KeyAttributes lists the logical names of the key's columns.", errors.VALIDATION)
        if not _has_label(body.get("DisplayName")):
            errors.bad_request("The key's DisplayName needs a LocalizedLabel.", errors.VALIDATION)
        for name in columns:
            column = table.columns.get(name)
            if column is None:
                errors.bad_request(f"Attribute {name} does not exist on entity {table.logical_name}.", errors.NOT_FOUND)
            if column.type not in _KEY_TYPES:
                errors.bad_request(
                    f"Attribute {name} of type {column.type} cannot be part of an alternate key.", errors.VALIDATION
                )
        wanted = tuple(columns)
        for name, existing in table.keys:
            if name.lower() == schema_name.lower() or existing == wanted:
                errors.bad_request(
                    f"Entity {table.logical_name} already has the key {name} on {', '.join(existing)}.",
                    errors.DUPLICATE_KEY,
                )
        table.keys.append((schema_name, wanted))
        failed = self._shared_values(table, wanted)
        if not failed and len(wanted) == 1:
            self.state.declare_keys(table)
        ready = self.state.runtime.clock.now_ms() + round(self.state.config.key_index_s * 1000)
        self.state.key_jobs[(table.logical_name, schema_name)] = (ready, failed)
        url = f"{root}/Keys({metadata_id('key', table.logical_name, schema_name)})"
        return no_content({"OData-EntityId": url})

    def _shared_values(self, table: Table, columns: tuple[str, ...]) -> bool:
        """Whether two live rows share the key's values: the index job then fails, as Dataverse's does."""
        seen: set[tuple[Any, ...]] = set()
        for record in self.state.collection(table).scan():
            values = tuple(normalise_key(record.fields.get(name)) for name in columns)
            if any(value is None for value in values):
                continue
            if values in seen:
                return True
            seen.add(values)
        return False

    def many_to_one(self, table: Table) -> list[dict[str, Any]]:
        out = []
        for nav, (column_name, target) in table.navs.items():
            target_table = self.state.tables[target]
            out.append(self._relationship(table, column_name, nav, target_table))
        return out

    def one_to_many(self, table: Table) -> list[dict[str, Any]]:
        out = []
        for other in self.state.tables.values():
            for nav, (column_name, target) in other.navs.items():
                if target == table.logical_name:
                    out.append(self._relationship(other, column_name, nav, table))
        return out

    def _relationship(self, referencing: Table, column: str, nav: str, referenced: Table) -> dict[str, Any]:
        schema = f"{referencing.logical_name}_{nav}"
        return {
            "MetadataId": metadata_id("relationship", schema),
            "SchemaName": schema,
            "RelationshipType": "OneToManyRelationship",
            "ReferencedEntity": referenced.logical_name,
            "ReferencedAttribute": referenced.primary_id,
            "ReferencingEntity": referencing.logical_name,
            "ReferencingAttribute": column,
            "ReferencingEntityNavigationPropertyName": nav,
            "ReferencedEntityNavigationPropertyName": schema,
            "IsCustomRelationship": referencing.columns[column].custom,
        }

    # ---- routing ----------------------------------------------------------------------------
    def handle(self, call: Call, segments: list[str]) -> Response:
        _, key_text = split_key(segments[0])
        if call.method == "POST" and key_text is not None and len(segments) == 2:
            table = self._table_from_key(key_text)
            where = f"{call.api_root}/EntityDefinitions({metadata_id('entity', table.logical_name)})"
            if segments[1] == "Attributes":
                return self.create_attribute(call, table, where)
            if segments[1] == "Keys":
                return self.create_key(call, table, where)
        if call.method != "GET":
            errors.fail(405, errors.ODATA, f"The requested resource does not support http method '{call.method}'.")
        options = dict(call.query)
        root = f"{call.api_root}/$metadata#EntityDefinitions"
        if key_text is None:
            if len(segments) > 1:
                errors.query_error("A key is required to address a single EntityDefinition.")
            rows = [self.entity(t) for t in self.state.tables.values()]
            rows = self._filter(rows, options.get("$filter"), _ENTITY_TABLE)
            expand_attrs = "Attributes" in (options.get("$expand") or "")
            if expand_attrs:
                for row in rows:
                    row["Attributes"] = [
                        self.attribute(self.state.tables[row["LogicalName"]], c)
                        for c in self.state.tables[row["LogicalName"]].columns.values()
                    ]
            rows = [self._select(row, options.get("$select"), keep=("Attributes",)) for row in rows]
            call.records = len(rows)
            return odata_json({"@odata.context": root + self._ctx_select(options), "value": rows})
        table = self._table_from_key(key_text)
        if len(segments) == 1:
            row = self.entity(table)
            expand = options.get("$expand") or ""
            for part in split_top_level(expand) if expand else []:
                name, _, inner = part.partition("(")
                if name == "Attributes":
                    attrs = [self.attribute(table, c) for c in table.columns.values()]
                    inner_select = _inner_select(inner)
                    row["Attributes"] = [self._select(a, ",".join(inner_select)) for a in attrs]
                elif name == "Keys":
                    row["Keys"] = self.keys(table)
                elif name == "ManyToOneRelationships":
                    row["ManyToOneRelationships"] = self.many_to_one(table)
                elif name == "OneToManyRelationships":
                    row["OneToManyRelationships"] = self.one_to_many(table)
                else:
                    errors.no_property("EntityMetadata", name)
            row = self._select(
                row,
                options.get("$select"),
                keep=("Attributes", "Keys", "ManyToOneRelationships", "OneToManyRelationships"),
            )
            return odata_json({"@odata.context": f"{root}{self._ctx_select(options)}/$entity", **row})
        return self._child(call, table, segments[1:], options, f"{root}('{table.logical_name}')")

    def _child(self, call: Call, table: Table, segments: list[str], options: dict[str, str], root: str) -> Response:  # noqa: RET503 (ends in a NoReturn error)
        name, key_text = split_key(segments[0])
        if name == "Attributes":
            columns = list(table.columns.values())
            if key_text is not None:
                attr_name = key_text.partition("=")[2].strip("'") if "=" in key_text else key_text.strip("'")
                column = table.columns.get(attr_name)
                if column is None:
                    errors.fail(
                        404, errors.NOT_FOUND, f"Could not find attribute {attr_name} for entity {table.logical_name}."
                    )
                columns = [column]
            cast = segments[1] if len(segments) > 1 else None
            expand_options = "OptionSet" in (options.get("$expand") or "")
            if cast is not None:
                wanted = cast.removeprefix("Microsoft.Dynamics.CRM.")
                columns = [c for c in columns if _ATTRIBUTE_CLASS[c.type] == wanted]
                if wanted not in _ATTRIBUTE_CLASS.values():
                    errors.query_error(f"The type '{cast}' is not a known attribute metadata type.")
            rows = [self.attribute(table, c, expand_options=expand_options) for c in columns]
            if key_text is not None and cast is None:
                return odata_json(
                    {
                        "@odata.context": f"{root}/Attributes/$entity",
                        **self._select(rows[0], options.get("$select"), keep=("OptionSet",)),
                    }
                )
            rows = self._filter(rows, options.get("$filter"), _ATTRIBUTE_TABLE)
            rows = [
                self._select(r, options.get("$select"), keep=("OptionSet", "GlobalOptionSet", "@odata.type"))
                for r in rows
            ]
            if expand_options:
                inner = _inner_select((options.get("$expand") or "").partition("(")[2])
                for row in rows:
                    if inner and isinstance(row.get("OptionSet"), dict):
                        row["OptionSet"] = self._select(row["OptionSet"], ",".join(inner))
            call.records = len(rows)
            suffix = f"/{cast}" if cast else ""
            return odata_json({"@odata.context": f"{root}/Attributes{suffix}", "value": rows})
        if name == "Keys":
            return odata_json({"@odata.context": f"{root}/Keys", "value": self.keys(table)})
        if name == "ManyToOneRelationships":
            return odata_json({"@odata.context": f"{root}/ManyToOneRelationships", "value": self.many_to_one(table)})
        if name == "OneToManyRelationships":
            return odata_json({"@odata.context": f"{root}/OneToManyRelationships", "value": self.one_to_many(table)})
        errors.fail(404, errors.ODATA, f"Resource not found for the segment '{segments[0]}'.")

    def _table_from_key(self, key_text: str) -> Table:  # noqa: RET503 (ends in a NoReturn error)
        name, eq, value = key_text.partition("=")
        if eq and name.strip() == "LogicalName":
            logical = value.strip().strip("'")
            table = self.state.tables.get(logical)
            if table is None:
                errors.fail(404, errors.NOT_FOUND, f"Could not find entity with logical name '{logical}'.")
            return table
        for table in self.state.tables.values():
            if metadata_id("entity", table.logical_name) == key_text.strip().lower():
                return table
        errors.fail(404, errors.NOT_FOUND, f"Could not find entity with key '{key_text}'.")

    def _filter(self, rows: list[dict[str, Any]], text: str | None, pseudo: Table) -> list[dict[str, Any]]:
        if not text:
            return rows
        predicate = compile_filter(pseudo, text).predicate
        kept = []
        for row in rows:
            fields = {c: row.get(c) for c in pseudo.columns}
            if predicate(StoredRecord(row["MetadataId"], fields, 0, 0, 0, "", "")):
                kept.append(row)
        return kept

    def _select(self, row: dict[str, Any], text: str | None, keep: tuple[str, ...] = ()) -> dict[str, Any]:
        if not text:
            return row
        names = [n.strip() for n in text.split(",") if n.strip()]
        for name in names:
            if name not in row:
                errors.no_property("Metadata", name)
        wanted = {"MetadataId", "@odata.type", *names, *keep}
        return {k: v for k, v in row.items() if k in wanted}

    @staticmethod
    def _ctx_select(options: dict[str, str]) -> str:
        select = options.get("$select")
        return f"({select})" if select else ""


def _body(call: Call) -> dict[str, Any]:
    body = call.json_body()
    if not isinstance(body, dict):
        errors.bad_request("The request body is a JSON object (the metadata definition).")
    return body


def _has_label(value: Any) -> bool:
    labels = value.get("LocalizedLabels") if isinstance(value, dict) else None
    return isinstance(labels, list) and any(isinstance(x, dict) and isinstance(x.get("Label"), str) for x in labels)


def _inner_select(inner: str) -> list[str]:
    inner = inner.rstrip(")")
    for option in inner.split(";"):
        name, _, value = option.partition("=")
        if name.strip() == "$select":
            return [v.strip() for v in value.split(",") if v.strip()]
    return []
