"""The transform contract: a pure pair of functions between vendor values and canonical values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from crmsync.model.values import CanonicalValue


class _Omit:
    """Marks a vendor field a transform chooses not to write (the vendor derives it, or it must stay)."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()


class Transform(Protocol):
    """Turns `vendor_arity` vendor values into `canonical_arity` canonical values and back.

    `inbound` and `outbound` are inverses on the canonical domain: for any canonical tuple `c` the
    transform produces, `inbound(outbound(c)) == c`. Both raise `TransformError` for a value they
    cannot convert. `flag` names a problem with a value that is kept anyway (None when fine).
    """

    @property
    def name(self) -> str: ...

    @property
    def vendor_arity(self) -> int: ...

    @property
    def canonical_arity(self) -> int: ...

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]: ...

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]: ...

    def flag(self, values: Sequence[CanonicalValue]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Scalar:
    """A one-field-to-one-field transform built from two functions (most transforms are this)."""

    name: str
    to_canonical: Callable[[Any], CanonicalValue]
    to_vendor: Callable[[CanonicalValue], Any]
    check: Callable[[CanonicalValue], str | None] | None = None
    vendor_arity: int = 1
    canonical_arity: int = 1

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        return (self.to_canonical(raw[0]),)

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        return (None if values[0] is None else self.to_vendor(values[0]),)

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        if self.check is None or values[0] is None:
            return None
        return self.check(values[0])


def blank(value: Any) -> bool:
    """None, an empty or whitespace-only string, and an empty list all mean "no value"."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not value
