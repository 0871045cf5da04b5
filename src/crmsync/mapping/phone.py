"""Phone numbers: any vendor spelling ↔ E.164 (`+14155550100`), back in the vendor's preferred format."""

from __future__ import annotations

import functools
from typing import Any, Literal

import phonenumbers

from crmsync.mapping.text import clean_text
from crmsync.mapping.transform import Scalar
from crmsync.model.values import CanonicalValue

PhoneFormat = Literal["e164", "international", "national"]
_FORMATS = {
    "e164": phonenumbers.PhoneNumberFormat.E164,
    "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
}


@functools.lru_cache(maxsize=65_536)
def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    # Parsing costs ~50 µs and the same numbers come back on every read: cache them (results are only formatted).
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def to_e164(value: Any, region: str) -> str | None:
    """E.164 when the number parses (national numbers read in `region`); otherwise the trimmed text, kept."""
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    number = _parse(cleaned, region)
    if number is None:
        return cleaned
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone(region: str = "US", output: PhoneFormat = "e164") -> Scalar:
    fmt = _FORMATS[output]
    home = phonenumbers.country_code_for_region(region)

    def inbound(value: Any) -> CanonicalValue:
        return to_e164(value, region)

    def outbound(value: CanonicalValue) -> Any:
        text = str(value)
        # Only a number we normalised ourselves is reformatted: anything else goes back untouched.
        number = _parse(text, region) if text.startswith("+") else None
        if number is None:
            return text
        if fmt == phonenumbers.PhoneNumberFormat.NATIONAL and number.country_code != home:
            # A foreign number written nationally would read back as a home-region number.
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        return phonenumbers.format_number(number, fmt)

    def check(value: CanonicalValue) -> str | None:
        text = str(value)
        if text.startswith("+") and _parse(text, region) is not None:
            return None
        return f"{text!r} is not a phone number crmsync can read (default region {region})"

    return Scalar("phone", inbound, outbound, check)


def known_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
