"""The field-map file as pydantic models (the I/O edge): what a user may write, with its defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmsync.model.values import OBJECT_KINDS

Vendor = Literal["salesforce", "hubspot", "dynamics"]
VENDORS: tuple[Vendor, ...] = ("salesforce", "hubspot", "dynamics")
DirectionName = Literal["both", "to", "from", "none"]
Unmapped = Literal["error", "passthrough"]
PlainValue = str | int | float | bool
ValueTable = dict[PlainValue, PlainValue | list[PlainValue]]


def _field_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class VendorRule(BaseModel):
    """How one vendor holds a canonical field; anything left out comes from the field's shared settings."""

    model_config = ConfigDict(extra="forbid")

    field: list[str] = Field(min_length=1, description="vendor field name(s)")
    transform: str | None = None
    options: dict[str, Any] | None = None
    values: ValueTable | None = Field(default=None, description="vendor value -> canonical value(s)")
    unmapped: Unmapped | None = None
    blank_for: list[PlainValue] | None = Field(
        default=None, description="canonical values this vendor has no value for: written blank, without an error"
    )
    direction: DirectionName | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `salesforce: Email` and `salesforce: [FirstName, LastName]` are the one-line forms.
        if isinstance(data, str | list):
            return {"field": data}
        return data

    @field_validator("field", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _field_list(value)


class FieldEntry(BaseModel):
    """One canonical field (or a group such as first+last name) and its place in each vendor."""

    model_config = ConfigDict(extra="forbid")

    canonical: list[str] | None = Field(default=None, description="canonical fields, when not just the entry's key")
    transform: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    values: ValueTable | None = None
    unmapped: Unmapped = "error"
    direction: DirectionName = "both"
    salesforce: VendorRule | None = None
    hubspot: VendorRule | None = None
    dynamics: VendorRule | None = None

    @field_validator("canonical", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _field_list(value)


class ObjectEntry(BaseModel):
    """The field map of one canonical kind: which vendor object holds it, and its fields."""

    model_config = ConfigDict(extra="forbid")

    object: dict[Vendor, str] = Field(default_factory=dict, description="vendor -> object name")
    # Entries are validated one by one (see compile), so one bad entry does not hide mistakes in the others.
    fields: dict[str, Any] = Field(default_factory=dict)


class MappingsFile(BaseModel):
    """A whole field-map file: one section per canonical kind."""

    model_config = ConfigDict(extra="forbid")

    company: ObjectEntry | None = None
    contact: ObjectEntry | None = None
    deal: ObjectEntry | None = None
    activity: ObjectEntry | None = None


ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "file": (*OBJECT_KINDS, "<kind>.<field>"),
    "object": tuple(ObjectEntry.model_fields),
    "field": tuple(FieldEntry.model_fields),
    "vendor": tuple(VendorRule.model_fields),
    "objects": VENDORS,
}
