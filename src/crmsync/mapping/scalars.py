"""Numbers (HubSpot sends them as strings), booleans and multi-select picklists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from crmsync.mapping.problems import TransformError
from crmsync.mapping.transform import Scalar, blank
from crmsync.model.values import CanonicalValue

NumberOutput = Literal["number", "string"]
BoolOutput = Literal["bool", "string"]
ListOutput = Literal["string", "list"]


def parse_number(value: Any, scale: int | None, integer: bool) -> int | float:
    """An int when the value is whole (so `1000`, `"1000"` and `1000.0` compare equal), else a float."""
    if isinstance(value, bool):
        raise TransformError(f"{value!r} is not a number")
    try:
        number = Decimal(value.strip().replace(",", "") if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError) as exc:
        raise TransformError(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise TransformError(f"{value!r} is not a number")
    if scale is not None:
        number = round(number, scale)
    if integer:
        if number != number.to_integral_value():
            raise TransformError(f"{value!r} is not a whole number")
        return int(number)
    return int(number) if number == number.to_integral_value() else float(number)


def format_number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def number(scale: int | None = None, integer: bool = False, output: NumberOutput = "number") -> Scalar:
    def inbound(value: Any) -> CanonicalValue:
        return None if blank(value) else parse_number(value, scale, integer)

    def outbound(value: CanonicalValue) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TransformError(f"{value!r} is not a number")
        return format_number(value) if output == "string" else value

    return Scalar("number", inbound, outbound)


_TRUE = frozenset({"true", "1", "yes", "y", "on", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "f"})


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise TransformError(f"{value!r} is not a yes/no value")


def boolean(output: BoolOutput = "bool") -> Scalar:
    def inbound(value: Any) -> CanonicalValue:
        return None if blank(value) else parse_bool(value)

    def outbound(value: CanonicalValue) -> Any:
        if not isinstance(value, bool):
            raise TransformError(f"{value!r} is not a yes/no value")
        return ("true" if value else "false") if output == "string" else value

    return Scalar("boolean", inbound, outbound)


@dataclass(frozen=True, slots=True)
class MultiSelect:
    """`a;b` strings (Salesforce, HubSpot) or option-set lists / `1,2` strings (Dataverse) ↔ a sorted tuple.

    Order and repeats carry no meaning in a multi-select, so the canonical form is sorted and distinct;
    an empty selection is None. With `ints`, items go back to the vendor as integers (option-set values).
    """

    separator: str = ";"
    output: ListOutput = "string"
    ints: bool = False
    name: str = "multiselect"
    vendor_arity: int = 1
    canonical_arity: int = 1

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        value = raw[0]
        if blank(value):
            return (None,)
        if isinstance(value, str):
            items = value.split(self.separator)
        elif isinstance(value, list | tuple):
            items = [str(item) for item in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [str(value)]
        else:
            raise TransformError(f"{value!r} is not a multi-select value")
        return (canonical_items(items),)

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        value = values[0]
        if value is None:
            return (None,)
        if not isinstance(value, tuple):
            raise TransformError(f"{value!r} is not a multi-select value")
        items: list[Any] = [int(str(item)) if self.ints and str(item).lstrip("-").isdigit() else item for item in value]
        if self.output == "list":
            return (items,)
        return (self.separator.join(str(item) for item in items),)

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        return None


def canonical_items(items: Sequence[Any]) -> tuple[str, ...] | None:
    cleaned = sorted({str(item).strip() for item in items if str(item).strip()})
    return tuple(cleaned) or None
