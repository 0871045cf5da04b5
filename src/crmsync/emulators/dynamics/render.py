"""Records as the Web API returns them: `@odata.etag`, selected columns, `_x_value` lookups, annotations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics.schema import (
    SOURCE_CREATED,
    SOURCE_CREATED_BY,
    SOURCE_FIELD,
    SOURCE_ID,
    SOURCE_MODIFIED,
    SOURCE_MODIFIED_BY,
    SOURCE_VERSION,
    Column,
    Table,
)
from crmsync.emulators.dynamics.state import DataverseState

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
NAV_ANNOTATION = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
LOGICAL_ANNOTATION = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_ISO_CACHE: dict[int, str] = {}


def iso_from_ms(ms: int) -> str:
    seconds = ms // 1000
    found = _ISO_CACHE.get(seconds)
    if found is None:
        if len(_ISO_CACHE) > 65_536:
            _ISO_CACHE.clear()
        found = _ISO_CACHE[seconds] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    return found


def etag(record: StoredRecord) -> str:
    return f'W/"{record.version}"'


def _format_datetime(value: str) -> str:
    # "2024-01-31T14:05:00Z" -> "1/31/2024 2:05 PM" (en-US, UTC: the emulated users' time zone)
    date_part, _, time_part = value.partition("T")
    year, month, day = date_part.split("-")
    head = f"{int(month)}/{int(day)}/{year}"
    if not time_part:
        return head
    hour, minute = int(time_part[0:2]), time_part[3:5]
    suffix = "AM" if hour < 12 else "PM"
    return f"{head} {hour % 12 or 12}:{minute} {suffix}"


def formatted(column: Column, value: Any) -> str | None:
    if value is None:
        return None
    kind = column.type
    if column.options:
        return column.options.get(value, str(value))
    if kind == "Money":
        return f"${value:,.2f}"
    if kind == "Integer":
        return f"{value:,}"
    if kind in ("Decimal", "Double"):
        return f"{value:,.2f}"
    if kind == "Boolean":
        return "Yes" if value else "No"
    if kind in ("DateTime", "DateOnly"):
        return _format_datetime(value)
    return None


Emit = Callable[[StoredRecord, dict[str, Any]], None]


class Renderer:
    """Pre-plans one projection (table + $select + annotations) so each row is a cheap loop."""

    def __init__(
        self,
        state: DataverseState,
        table: Table,
        columns: list[Column] | None,
        *,
        formatted_values: bool = False,
        lookup_annotations: bool = False,
    ) -> None:
        self.state = state
        self.table = table
        self.columns_count = len(table.columns)  # a plan of all columns goes stale when a column is added
        self.columns = columns if columns is not None else list(table.columns.values())
        if table.columns[table.primary_id] not in self.columns:
            self.columns = [*self.columns, table.columns[table.primary_id]]
        self.formatted_values = formatted_values
        self.lookup_annotations = lookup_annotations
        annotated = formatted_values or lookup_annotations
        # Columns rendered by a plain dict lookup (lookups too, under `_x_value`, unless annotated).
        self._plain: list[tuple[str, str]] = []
        self._system: list[tuple[str, int]] = []
        self._special: list[Column] = []
        for column in self.columns:
            needs_annotations = annotated and (
                (column.is_lookup and (lookup_annotations or formatted_values))
                or (formatted_values and formatted_kind(column))
            )
            if needs_annotations:
                self._special.append(column)
            elif column.source == SOURCE_FIELD:
                self._plain.append((column.property_name, column.name))
            else:
                self._system.append((column.property_name, column.source))

    def row(self, record: StoredRecord) -> dict[str, Any]:
        get = record.fields.get
        out: dict[str, Any] = {"@odata.etag": f'W/"{record.version}"'}
        for out_name, name in self._plain:
            out[out_name] = get(name)
        for out_name, source in self._system:
            if source == SOURCE_ID:
                out[out_name] = record.id
            elif source == SOURCE_MODIFIED:
                out[out_name] = iso_from_ms(record.modified_ms)
            elif source == SOURCE_CREATED:
                out[out_name] = iso_from_ms(record.created_ms)
            elif source == SOURCE_VERSION:
                out[out_name] = record.version
            elif source == SOURCE_CREATED_BY:
                out[out_name] = record.created_by
            else:
                out[out_name] = record.modified_by
        for column in self._special:
            self._special_value(record, column, out)
        return out

    def _special_value(self, record: StoredRecord, column: Column, out: dict[str, Any]) -> None:
        source = column.source
        if source == SOURCE_ID:
            out[column.name] = record.id
            return
        if source in (SOURCE_CREATED, SOURCE_MODIFIED):
            value: Any = iso_from_ms(record.created_ms if source == SOURCE_CREATED else record.modified_ms)
        elif source == SOURCE_VERSION:
            value = record.version
        elif source == SOURCE_CREATED_BY:
            value = record.created_by
        elif source == SOURCE_MODIFIED_BY:
            value = record.modified_by
        else:
            value = record.fields.get(column.name)
        if column.is_lookup:
            self._lookup(record, column, value, out)
            return
        if self.formatted_values and value is not None:
            text = formatted(column, value)
            if text is not None:
                out[f"{column.name}{FORMATTED}"] = text
        out[column.name] = value

    def _lookup(self, record: StoredRecord, column: Column, value: Any, out: dict[str, Any]) -> None:
        prop = column.property_name
        if value is not None and (self.formatted_values or self.lookup_annotations):
            target = lookup_target(column, record)
            if self.formatted_values:
                name = self.state.display_name(target, value)
                if name is not None:
                    out[f"{prop}{FORMATTED}"] = name
            if self.lookup_annotations:
                out[f"{prop}{NAV_ANNOTATION}"] = nav_name(self.table, column, target)
                out[f"{prop}{LOGICAL_ANNOTATION}"] = target
        out[prop] = value


def formatted_kind(column: Column) -> bool:
    return bool(column.options) or column.type in (
        "Money",
        "Integer",
        "Decimal",
        "Double",
        "Boolean",
        "DateTime",
        "DateOnly",
    )


def lookup_target(column: Column, record: StoredRecord) -> str:
    if len(column.targets) == 1:
        return column.targets[0]
    return str(record.fields.get(f"{column.name}@lt") or column.targets[0])


def nav_name(table: Table, column: Column, target: str) -> str:
    for nav, (col_name, nav_target) in table.navs.items():
        if col_name == column.name and nav_target == target:
            return nav
    return column.name
