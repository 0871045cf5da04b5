"""Text transforms: trimmed strings, emails, web domains, person names and joined keys."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crmsync.mapping.problems import TransformError
from crmsync.mapping.transform import Scalar, blank
from crmsync.model.values import CanonicalValue


def clean_text(value: Any) -> str | None:
    """Trimmed, NFC-normalised text; blank → None (so `José` typed two ways compares equal)."""
    if type(value) is str:  # the common case, without blank()'s checks; ASCII is already NFC
        trimmed = value.strip()
        if not trimmed:
            return None
        return trimmed if trimmed.isascii() else unicodedata.normalize("NFC", trimmed)
    if blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    return unicodedata.normalize("NFC", text.strip())


def _vendor_text(value: CanonicalValue) -> Any:
    return value


def text() -> Scalar:
    return Scalar("text", clean_text, _vendor_text)


def _identity_in(value: Any) -> CanonicalValue:
    if blank(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value.strip() if isinstance(value, str) else value
    raise TransformError(f"{value!r} is not a plain value")


def identity() -> Scalar:
    """Values pass unchanged (option-set codes before a value map, ids); blank → None."""
    return Scalar("identity", _identity_in, _vendor_text)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def normalise_email(value: Any) -> str | None:
    cleaned = clean_text(value)
    return None if cleaned is None else cleaned.lower()


def _email_flag(value: CanonicalValue) -> str | None:
    if isinstance(value, str) and _EMAIL.match(value):
        return None
    return f"{value!r} is not a valid email address"


def email() -> Scalar:
    """Trimmed and lower-cased; an invalid address is kept as it is and flagged."""
    return Scalar("email", normalise_email, _vendor_text, _email_flag)


def normalise_domain(value: Any) -> str | None:
    """`https://www.ACME.com/about` → `acme.com`: lower-case, no scheme, `www.`, port, path or trailing dot."""
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    lowered = cleaned.lower()
    parsed = urlsplit(lowered if "://" in lowered else f"//{lowered}")
    host = parsed.hostname or ""
    host = host.rstrip(".").removeprefix("www.")
    if not host:
        raise TransformError(f"{cleaned!r} has no web domain")
    if "xn--" in host:
        # Internationalised domains compare in their unicode form whatever the vendor stored.
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    return host


def domain(output: str = "domain") -> Scalar:
    def to_vendor(value: CanonicalValue) -> Any:
        return f"https://{value}" if output == "url" else value

    return Scalar("domain", normalise_domain, to_vendor)


def split_name(full: str) -> tuple[str | None, str]:
    """The last word is the last name (Salesforce and Dataverse require one); the rest is the first name."""
    words = full.split()
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]


def join_name(first: CanonicalValue, last: CanonicalValue) -> str | None:
    parts = [str(part) for part in (first, last) if part is not None]
    return " ".join(parts) or None


@dataclass(frozen=True, slots=True)
class NameSplit:
    """One vendor full-name field ↔ canonical (first name, last name)."""

    name: str = "name_split"
    vendor_arity: int = 1
    canonical_arity: int = 2

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        full = clean_text(raw[0])
        if full is None:
            return (None, None)
        return split_name(" ".join(full.split()))

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        return (join_name(values[0], values[1]),)

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class NameJoin:
    """Vendor (first name, last name) ↔ one canonical full name."""

    name: str = "name_join"
    vendor_arity: int = 2
    canonical_arity: int = 1

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        first, last = clean_text(raw[0]), clean_text(raw[1])
        return (join_name(first, last),)

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        full = values[0]
        if full is None:
            return (None, None)
        return split_name(str(full))

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class Join:
    """Several vendor fields ↔ one canonical key such as `default:closedwon` (HubSpot pipeline and stage).

    A blank part is an empty segment; with `ints`, numeric segments go back to the vendor as integers
    (Dataverse `statecode:statuscode`).
    """

    vendor_arity: int
    separator: str = ":"
    ints: bool = False
    name: str = "join"
    canonical_arity: int = 1

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        parts = ["" if blank(part) else str(clean_text(part)) for part in raw]
        if not any(parts):
            return (None,)
        if any(self.separator in part for part in parts):
            raise TransformError(f"{parts!r}: a part contains the separator {self.separator!r}")
        return (self.separator.join(parts),)

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        key = values[0]
        if key is None:
            return (None,) * self.vendor_arity
        parts = str(key).split(self.separator)
        if len(parts) != self.vendor_arity:
            raise TransformError(f"{key!r} does not have {self.vendor_arity} parts separated by {self.separator!r}")
        return tuple(self._part(part) for part in parts)

    def _part(self, part: str) -> Any:
        if not part:
            return None
        if self.ints and part.lstrip("-").isdigit():
            return int(part)
        return part

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        return None
