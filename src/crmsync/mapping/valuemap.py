"""Value maps between vendor picklist values (stages, industries, statuses) and canonical values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync.mapping.problems import TransformError
from crmsync.model.values import CanonicalValue

Scalar = str | int | float | bool


def value_key(value: Any) -> str:
    """Vendor values compare as text: Dataverse's option value 6 and `"6"` from a multi-select are one key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class ValueMap:
    """vendor value → canonical value, and canonical value → the vendor value written for it.

    Several vendor values may map to one canonical value, and one vendor value may stand for several
    canonical values (the first is read). A canonical value is written as the first vendor value that
    reads back as it, else the first that lists it. A value with no entry is
    `unmapped`: it raises `TransformError(code="unmapped_value")` so the rule skips the field and reports
    it (scenario S20), unless `passthrough` lets unknown values through unchanged.

    `blank_for` lists canonical values the vendor has no value for (HubSpot's industries have no
    "Other"): they are written blank, on purpose, instead of failing, and never as a vendor value that
    merely reads as them.
    """

    to_canonical_map: Mapping[str, Scalar]
    to_vendor_map: Mapping[Scalar, Any]
    folded: Mapping[str, Scalar]
    passthrough: bool = False
    blank_for: frozenset[Scalar] = frozenset()

    @classmethod
    def build(
        cls,
        pairs: Iterable[tuple[Any, Scalar | list[Scalar]]],
        *,
        passthrough: bool = False,
        blank_for: Iterable[Scalar] = (),
    ) -> ValueMap:
        listed = [(vendor, canonical if isinstance(canonical, list) else [canonical]) for vendor, canonical in pairs]
        inbound: dict[str, Scalar] = {}
        outbound: dict[Scalar, Any] = {}
        for vendor_value, canonicals in listed:
            inbound.setdefault(value_key(vendor_value), canonicals[0])
            # A canonical value is written as a vendor value that reads back as it, when there is one, so
            # every value read survives a round trip (`13: [hospitality, food_beverage]` then `17: food_beverage`
            # writes food_beverage as 17).
            outbound.setdefault(canonicals[0], vendor_value)
        for vendor_value, canonicals in listed:
            for each in canonicals[1:]:
                outbound.setdefault(each, vendor_value)
        blank = frozenset(blank_for)
        for value in blank:
            # Read from some vendor values, but written as none of them: `LAW_PRACTICE: other` must not
            # turn every "Other" industry into a law practice.
            outbound.pop(value, None)
        folded: dict[str, Scalar] = {}
        for key, canonical in inbound.items():
            folded.setdefault(key.casefold(), canonical)
        return cls(inbound, outbound, folded, passthrough, blank)

    def read(self, value: CanonicalValue) -> CanonicalValue:
        """A vendor-side value (after its transform) as its canonical value; tuples item by item."""
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(sorted({str(self._read_one(item)) for item in value})) or None
        return self._read_one(value)

    def _read_one(self, value: Any) -> Scalar:
        key = value_key(value)
        found = self.to_canonical_map.get(key)
        if found is None:
            # Picklist values are matched case-insensitively by the vendors themselves.
            found = self.folded.get(key.casefold())
        if found is not None:
            return found
        if self.passthrough:
            return value  # type: ignore[no-any-return]
        raise TransformError(f"vendor value {value!r} has no mapping", code="unmapped_value")

    def write(self, value: CanonicalValue) -> Any:
        """A canonical value as the vendor-side value its transform then writes; tuples item by item."""
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(written for item in value if (written := self._write_one(item)) is not None) or None
        return self._write_one(value)

    def _write_one(self, value: Any) -> Any:
        if value in self.blank_for:
            return None
        if value in self.to_vendor_map:
            return self.to_vendor_map[value]
        if self.passthrough:
            return value
        raise TransformError(f"canonical value {value!r} has no mapping", code="unmapped_value")

    @property
    def canonical_values(self) -> tuple[Scalar, ...]:
        return tuple(self.to_vendor_map)

    @property
    def vendor_values(self) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(self.to_vendor_map.values()))
