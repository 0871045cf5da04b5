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


PARSE_CACHE = 16_384
"""Numbers remembered per cache. Parsing costs ~50 µs and the same numbers come back on every read, but a
full sync meets every number of the org: the caches keep formatted strings (not phonenumbers objects, ~1 kB
each) and a bounded count of them, so memory stays flat in the number of records."""


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


@functools.lru_cache(maxsize=PARSE_CACHE)
def _e164(text: str, region: str) -> str | None:
    """E.164 of a possible number, else None."""
    number = _parse(text, region)
    return None if number is None else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=PARSE_CACHE)
def _formatted(text: str, region: str, output: PhoneFormat) -> str | None:
    """An E.164 number in the vendor's format, or None when it is not one crmsync can read."""
    number = _parse(text, region)
    if number is None:
        return None
    fmt = _FORMATS[output]
    if fmt == phonenumbers.PhoneNumberFormat.NATIONAL and number.country_code != phonenumbers.country_code_for_region(
        region
    ):
        # A foreign number written nationally would read back as a home-region number.
        fmt = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def to_e164(value: Any, region: str) -> str | None:
    """E.164 when the number parses (national numbers read in `region`); otherwise the trimmed text, kept."""
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    number = _e164(cleaned, region)
    return cleaned if number is None else number


def phone(region: str = "US", output: PhoneFormat = "e164") -> Scalar:
    def inbound(value: Any) -> CanonicalValue:
        return to_e164(value, region)

    def outbound(value: CanonicalValue) -> Any:
        text = str(value)
        # Only a number we normalised ourselves is reformatted: anything else goes back untouched.
        formatted = _formatted(text, region, output) if text.startswith("+") else None
        return text if formatted is None else formatted

    def check(value: CanonicalValue) -> str | None:
        text = str(value)
        if text.startswith("+") and _e164(text, region) is not None:
            return None
        return f"{text!r} is not a phone number crmsync can read (default region {region})"

    return Scalar("phone", inbound, outbound, check)


def known_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
