"""Turns stored records into Salesforce JSON: field getters (system and compound fields) and row rendering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.salesforce.formats import format_ms
from crmsync.emulators.salesforce.schema import FieldDef, ObjectDef

Getter = Callable[[StoredRecord], Any]

_ADDRESS_PARTS = (
    ("city", "City"),
    ("country", "Country"),
    ("countryCode", "CountryCode"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("postalCode", "PostalCode"),
    ("state", "State"),
    ("stateCode", "StateCode"),
    ("street", "Street"),
)


def _address_getter(prefix: str) -> Getter:
    keys = tuple(key for key, _ in _ADDRESS_PARTS)
    names = tuple(prefix + suffix for _, suffix in _ADDRESS_PARTS)

    def get(record: StoredRecord) -> Any:
        values = list(map(record.fields.get, names))
        if values.count(None) == len(values):
            return None
        return dict(zip(keys, values, strict=True))

    return get


def _stored(name: str) -> Getter:
    def get(record: StoredRecord) -> Any:
        return record.fields.get(name)

    get.stored_field = name  # type: ignore[attr-defined]  # lets renderers read the field inline
    return get


def stored_field(getter: Getter) -> str | None:
    """The field a getter reads as stored, if it is a plain stored field (rendered without a call)."""
    name = getattr(getter, "stored_field", None)
    return name if isinstance(name, str) else None


def _contact_name(record: StoredRecord) -> Any:
    fields = record.fields
    first = fields.get("FirstName")
    last = fields.get("LastName") or ""
    return f"{first} {last}" if first else last


def _photo_url(record: StoredRecord) -> Any:
    return f"/services/images/photo/{record.id}"


_SYSTEM: dict[str, Getter] = {
    "Id": lambda r: r.id,
    "IsDeleted": lambda r: r.deleted_ms is not None,
    "MasterRecordId": lambda r: r.merged_into,
    "CreatedDate": lambda r: format_ms(r.created_ms),
    "CreatedById": lambda r: r.created_by,
    "LastModifiedDate": lambda r: format_ms(r.modified_ms),
    "LastModifiedById": lambda r: r.modified_by,
    "SystemModstamp": lambda r: format_ms(r.modified_ms),
    "IsEmailBounced": lambda r: r.fields.get("EmailBouncedDate") is not None,
    "PhotoUrl": _photo_url,
}


def _expected_revenue(record: StoredRecord) -> Any:
    amount = record.fields.get("Amount")
    probability = record.fields.get("Probability")
    if amount is None or probability is None:
        return None
    return round(amount * probability / 100, 2)


def _fiscal(part: str) -> Getter:
    def get(record: StoredRecord) -> Any:
        close = record.fields.get("CloseDate")
        if not close:
            return None
        year, month = int(close[:4]), int(close[5:7])
        quarter = (month - 1) // 3 + 1
        if part == "year":
            return year
        if part == "quarter":
            return quarter
        return f"{year} {quarter}"

    return get


def getter(obj: ObjectDef, fdef: FieldDef) -> Getter:
    """How to read one field of a stored record (system fields come from the record's bookkeeping)."""
    name = fdef.name
    if fdef.type == "address":
        return _address_getter(name.removesuffix("Address"))
    if name in _SYSTEM and (fdef.computed or name == "Id"):
        return _SYSTEM[name]
    if obj.name in {"Contact", "User"} and name == "Name" and fdef.computed:
        return _contact_name
    if obj.name == "Opportunity":
        if name == "ExpectedRevenue":
            return _expected_revenue
        if name in {"FiscalYear", "FiscalQuarter", "Fiscal"}:
            return _fiscal({"FiscalYear": "year", "FiscalQuarter": "quarter"}.get(name, "period"))
    return _stored(name)


# (output key, the stored field it reads or None, getter) per field of a row
RowPlan = list[tuple[str, str | None, Getter]]


def row_plan(getters: list[tuple[str, Getter]]) -> RowPlan:
    return [(key, stored_field(get), get) for key, get in getters]


def render_row(plan: RowPlan, row: dict[str, Any], record: StoredRecord) -> dict[str, Any]:
    """Fills `row` in key order, reading plain stored fields inline (no call per field): this runs for every
    record of every page and every read."""
    fields = record.fields
    for key, stored, get in plan:
        row[key] = fields.get(stored) if stored is not None else get(record)
    return row


class RowRenderer:
    """Renders full rows of one object (GET by id) with precomputed getters, shared by every request."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.getters: list[tuple[str, Getter]] = [(f.name, getter(obj, f)) for f in obj.fields.values()]
        self.by_name: dict[str, Getter] = dict(self.getters)
        self._plan = row_plan(self.getters)

    def attributes(self, record_id: str, version: str) -> dict[str, str]:
        return {"type": self.obj.name, "url": f"/services/data/{version}/sobjects/{self.obj.name}/{record_id}"}

    def full(self, record: StoredRecord, version: str) -> dict[str, Any]:
        return render_row(self._plan, {"attributes": self.attributes(record.id, version)}, record)

    def subset(self, record: StoredRecord, version: str, names: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"attributes": self.attributes(record.id, version)}
        by_name = self.by_name
        for name in names:
            row[name] = by_name[name](record)
        return row
