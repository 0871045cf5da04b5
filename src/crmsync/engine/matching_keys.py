"""Match keys: how a record's canonical fields and parents' links become the key it meets its twins by (DESIGN §6).

Pure functions. A kind has an ordered list of key specs; the first spec whose every part is usable
gives the record's key ("domain, else name"). A blank part makes a spec unusable, so blanks never
match anything. Mapping already canonicalises values (lower-cased emails, E.164 phones); the
normalisers here are the matching-only equivalences on top (whitespace, case, legal suffixes).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from crmsync.model.quick import quick_init
from crmsync.model.values import OBJECT_KINDS, CanonicalValue, Fields, ObjectKind

Normaliser = Literal["email", "domain", "name", "text", "date", "value"]
NORMALISERS: tuple[Normaliser, ...] = ("email", "domain", "name", "text", "date", "value")

# Trailing tokens that say a company's legal form, not who it is ("Acme Inc." and "ACME, LLC" are one company).
LEGAL_SUFFIXES = frozenset(
    "inc incorporated llc llp lp ltd limited corp corporation co company plc gmbh ag kg ohg ug mbh sa sas sarl "
    "srl spa bv nv pty pte oy ab as aps kk sl".split()
)
_JOINING = re.compile(r"[.'’`]")  # dropped, not spaced: "L.L.C." is "llc", "O'Brien" is "obrien"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _text(value: CanonicalValue) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, tuple):
        value = " ".join(value)
    text = " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())
    return text or None


def normalise_email(value: CanonicalValue) -> str | None:
    """Trimmed and case-folded; blank is None (S02: ` Ann@X.com ` and `ann@x.com` are one person)."""
    if not isinstance(value, str):
        return None
    email = unicodedata.normalize("NFKC", value).strip().casefold()
    return email or None


def normalise_domain(value: CanonicalValue) -> str | None:
    """A bare host name: no scheme, `www.`, port, path or trailing dot; case-folded."""
    if not isinstance(value, str):
        return None
    host = _SCHEME.sub("", unicodedata.normalize("NFKC", value).strip().casefold())
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    host = host.removeprefix("www.")
    return host or None


def normalise_name(value: CanonicalValue) -> str | None:
    """An organisation's name without case, punctuation or trailing legal suffixes (`Acme, Inc.` is `acme`).

    The last remaining word is never dropped, so a company called "Limited" still has a key.
    """
    text = _text(value)
    if text is None:
        return None
    text = _JOINING.sub("", text)
    words = "".join(c if c.isalnum() else " " for c in text).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words) or None


def normalise_text(value: CanonicalValue) -> str | None:
    """Case-folded with whitespace collapsed (deal names, activity subjects)."""
    return _text(value)


def normalise_date(value: CanonicalValue) -> str | None:
    """The calendar day: a date-time and a date on the same (UTC) day match."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        return text[:10] if text else None
    return None


def normalise_value(value: CanonicalValue) -> str | None:
    """Any value as its exact text; blank (None, empty text or empty list) is None."""
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, tuple):
        return "\x1e".join(value)
    return str(value)


_FUNCTIONS: Mapping[Normaliser, Callable[[CanonicalValue], str | None]] = {
    "email": normalise_email,
    "domain": normalise_domain,
    "name": normalise_name,
    "text": normalise_text,
    "date": normalise_date,
    "value": normalise_value,
}


@quick_init
@dataclass(frozen=True, slots=True)
class FieldPart:
    """A canonical field's value, normalised."""

    field: str
    normaliser: Normaliser = "text"

    def __post_init__(self) -> None:
        if self.normaliser not in _FUNCTIONS:
            raise ValueError(f"unknown normaliser {self.normaliser!r} (one of: {', '.join(NORMALISERS)})")


@quick_init
@dataclass(frozen=True, slots=True)
class LinkPart:
    """The canonical ids of the record's parents in one role (`company`, `contact`, `deal`)."""

    role: str


KeyPart = FieldPart | LinkPart


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One way records of a kind meet: every part must be usable (non-blank, parents resolved)."""

    name: str
    parts: tuple[KeyPart, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"match key {self.name!r} has no parts")

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(p.role for p in self.parts if isinstance(p, LinkPart))


@quick_init
@dataclass(frozen=True, slots=True, order=True)
class MatchKey:
    """A record's match key: records of one kind with equal keys are the same real-world entity."""

    kind: ObjectKind
    spec: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        """A stable text form (for deterministic ids and reports)."""
        return f"{self.kind}/{self.spec}/" + "\x1f".join(self.parts)


MatchKeys = Mapping[ObjectKind, tuple[KeySpec, ...]]


def _activity_keys() -> tuple[KeySpec, ...]:
    rest = (FieldPart("subject", "text"), FieldPart("due_date", "date"))
    return tuple(KeySpec(f"{role}_subject_date", (LinkPart(role), *rest)) for role in ("deal", "contact", "company"))


DEFAULT_MATCH_KEYS: MatchKeys = {
    "contact": (KeySpec("email", (FieldPart("email", "email"),)),),
    "company": (KeySpec("domain", (FieldPart("domain", "domain"),)), KeySpec("name", (FieldPart("name", "name"),))),
    "deal": (
        KeySpec("company_name", (LinkPart("company"), FieldPart("name", "text"))),
        KeySpec("contact_name", (LinkPart("contact"), FieldPart("name", "text"))),
    ),
    "activity": _activity_keys(),
}
"""DESIGN §6: contacts by email; companies by domain, else name; deals and activities by parents plus name/date."""

_DEFAULT_NORMALISER: Mapping[str, Normaliser] = {"email": "email", "domain": "domain", "website": "domain"}


def parse_key_spec(kind: ObjectKind, parts: Sequence[str], name: str | None = None) -> KeySpec:
    """A key spec from configuration text: `["email"]`, `["@company", "name"]`, `["due_date:date"]`.

    `@role` is a parent link; `field:normaliser` names the normaliser, else it follows the field
    (emails, domains; a company's `name` drops legal suffixes; anything else is compared as text).
    """
    if kind not in OBJECT_KINDS:
        raise ValueError(f"unknown object kind {kind!r}")
    parsed: list[KeyPart] = []
    for raw in parts:
        item = raw.strip()
        if item.startswith("@"):
            if not item[1:]:
                raise ValueError(f"match key part {raw!r}: a link needs a role after '@'")
            parsed.append(LinkPart(item[1:]))
            continue
        field_name, _, normaliser = item.partition(":")
        if not field_name:
            raise ValueError(f"match key part {raw!r} names no field")
        if not normaliser:
            default: Normaliser = "name" if kind == "company" and field_name == "name" else "text"
            normaliser = _DEFAULT_NORMALISER.get(field_name, default)
        if normaliser not in _FUNCTIONS:
            raise ValueError(f"match key part {raw!r}: unknown normaliser (one of: {', '.join(NORMALISERS)})")
        parsed.append(FieldPart(field_name, normaliser))  # type: ignore[arg-type]  # checked just above
    return KeySpec(name or "+".join(p.strip() for p in parts), tuple(parsed))


ParentIds = Mapping[str, tuple[str, ...] | None]
"""Role -> the parents' canonical ids; None when some parent in that role is not linked yet."""


def match_key(kind: ObjectKind, specs: Sequence[KeySpec], fields: Fields, parents: ParentIds) -> MatchKey | None:
    """The record's key from the first spec whose every part is usable; None when none is (no match)."""
    for spec in specs:
        parts = _parts(spec, fields, parents)
        if parts is not None:
            return MatchKey(kind, spec.name, parts)
    return None


def _parts(spec: KeySpec, fields: Fields, parents: ParentIds) -> tuple[str, ...] | None:
    parts: list[str] = []
    for part in spec.parts:
        if isinstance(part, LinkPart):
            ids = parents.get(part.role)
            if not ids:  # no parent in this role, or one not linked yet: the key is not usable
                return None
            parts.append(" ".join(sorted(set(ids))))
        else:
            value = _FUNCTIONS[part.normaliser](fields.get(part.field))
            if value is None:
                return None
            parts.append(value)
    return tuple(parts)


__all__ = [
    "DEFAULT_MATCH_KEYS",
    "LEGAL_SUFFIXES",
    "NORMALISERS",
    "FieldPart",
    "KeyPart",
    "KeySpec",
    "LinkPart",
    "MatchKey",
    "MatchKeys",
    "Normaliser",
    "ParentIds",
    "match_key",
    "normalise_date",
    "normalise_domain",
    "normalise_email",
    "normalise_name",
    "normalise_text",
    "normalise_value",
    "parse_key_spec",
]
