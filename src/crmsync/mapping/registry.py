"""The transforms a field map can name, their options (validated), and how each is built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crmsync.mapping import compound, countries, phone, scalars, temporal, text
from crmsync.mapping.transform import Transform


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(_Options):
    pass


class DomainOptions(_Options):
    output: Literal["domain", "url"] = "domain"


class PhoneOptions(_Options):
    region: str = Field(default="US", description="ISO region for numbers written without a country code")
    output: phone.PhoneFormat = "e164"

    @field_validator("region")
    @classmethod
    def _known(cls, value: str) -> str:
        if not phone.known_region(value.upper()):
            raise ValueError(f"unknown phone region {value!r}; expected an ISO 3166 code such as US, GB, DE")
        return value.upper()


class CountryOptions(_Options):
    output: countries.CountryOutput = "name"


class DateOptions(_Options):
    timezone: str = "UTC"
    output: temporal.DateOutput = "date"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        temporal.zone(value)
        return value


class DatetimeOptions(_Options):
    timezone: str = Field(default="UTC", description="zone of date-times the vendor sends without an offset")
    output: temporal.DatetimeOutput = "iso"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        temporal.zone(value)
        return value


class NumberOptions(_Options):
    scale: int | None = Field(default=None, ge=0, le=12)
    integer: bool = False
    output: scalars.NumberOutput = "number"


class BooleanOptions(_Options):
    output: scalars.BoolOutput = "bool"


class MultiSelectOptions(_Options):
    separator: str = Field(default=";", min_length=1)
    output: scalars.ListOutput = "string"
    ints: bool = False


class JoinOptions(_Options):
    separator: str = Field(default=":", min_length=1)
    ints: bool = False


class CompoundOptions(_Options):
    parts: list[str] = Field(min_length=1)
    part_transforms: dict[str, str] = Field(default_factory=dict, description="part key -> a one-field transform")


Builder = Callable[[Any, int, int], Transform]


@dataclass(frozen=True, slots=True)
class Spec:
    options: type[_Options]
    build: Builder
    summary: str


def _fixed(vendor: int, canonical: int, make: Callable[[Any], Transform]) -> Builder:
    def build(options: Any, vendor_arity: int, canonical_arity: int) -> Transform:
        if (vendor_arity, canonical_arity) != (vendor, canonical):
            raise ValueError(
                f"takes {vendor} vendor field(s) and {canonical} canonical field(s), "
                f"not {vendor_arity} and {canonical_arity}"
            )
        return make(options)

    return build


def _join(options: Any, vendor_arity: int, canonical_arity: int) -> Transform:
    if vendor_arity < 2 or canonical_arity != 1:
        raise ValueError(
            f"joins 2 or more vendor fields into 1 canonical field, not {vendor_arity} into {canonical_arity}"
        )
    return text.Join(vendor_arity, options.separator, options.ints)


def _compound(options: Any, vendor_arity: int, canonical_arity: int) -> Transform:
    if vendor_arity != 1 or canonical_arity != len(options.parts):
        raise ValueError(
            f"reads 1 compound vendor field into {len(options.parts)} canonical fields (one per part), "
            f"not {vendor_arity} into {canonical_arity}"
        )
    parts: dict[str, Transform] = {}
    for part, name in options.part_transforms.items():
        if part not in options.parts:
            raise ValueError(f"part_transforms names {part!r}, which is not one of the parts")
        parts[part] = build_transform(name, {}, 1, 1)
    return compound.Compound(tuple(options.parts), parts)


TRANSFORMS: Mapping[str, Spec] = {
    "text": Spec(NoOptions, _fixed(1, 1, lambda o: text.text()), "trimmed text; blank is empty"),
    "identity": Spec(NoOptions, _fixed(1, 1, lambda o: text.identity()), "the value unchanged; blank is empty"),
    "email": Spec(NoOptions, _fixed(1, 1, lambda o: text.email()), "trimmed, lower-case; invalid ones flagged"),
    "phone": Spec(PhoneOptions, _fixed(1, 1, lambda o: phone.phone(o.region, o.output)), "E.164 phone number"),
    "country": Spec(CountryOptions, _fixed(1, 1, lambda o: countries.country(o.output)), "ISO 3166 alpha-2 code"),
    "domain": Spec(DomainOptions, _fixed(1, 1, lambda o: text.domain(o.output)), "web domain from a URL"),
    "date": Spec(DateOptions, _fixed(1, 1, lambda o: temporal.date_transform(o.timezone, o.output)), "calendar date"),
    "datetime": Spec(
        DatetimeOptions, _fixed(1, 1, lambda o: temporal.datetime_transform(o.timezone, o.output)), "UTC date-time"
    ),
    "number": Spec(NumberOptions, _fixed(1, 1, lambda o: scalars.number(o.scale, o.integer, o.output)), "number"),
    "boolean": Spec(BooleanOptions, _fixed(1, 1, lambda o: scalars.boolean(o.output)), "yes/no"),
    "multiselect": Spec(
        MultiSelectOptions,
        _fixed(1, 1, lambda o: scalars.MultiSelect(o.separator, o.output, o.ints)),
        "multi-select picklist as a sorted list",
    ),
    "name_split": Spec(NoOptions, _fixed(1, 2, lambda o: text.NameSplit()), "full name ↔ first and last name"),
    "name_join": Spec(NoOptions, _fixed(2, 1, lambda o: text.NameJoin()), "first and last name ↔ full name"),
    "join": Spec(JoinOptions, _join, "several vendor fields as one key (pipeline:stage)"),
    "compound": Spec(CompoundOptions, _compound, "a compound field's parts (Salesforce addresses)"),
    "opportunity_state": Spec(
        NoOptions,
        _fixed(3, 1, lambda o: compound.OpportunityState()),
        "Dataverse statecode/statuscode/salesstage as won, lost or open:<stage>",
    ),
}


def build_transform(name: str, options: Mapping[str, Any], vendor_arity: int, canonical_arity: int) -> Transform:
    """Build a named transform; ValueError (with what was expected) for an unknown name, bad options or arity."""
    spec = TRANSFORMS.get(name)
    if spec is None:
        raise ValueError(f"unknown transform {name!r}; expected one of: {', '.join(sorted(TRANSFORMS))}")
    try:
        parsed = spec.options.model_validate(dict(options))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"transform {name!r} options: {details}") from None
    return spec.build(parsed, vendor_arity, canonical_arity)
