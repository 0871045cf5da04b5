"""Relationships in Salesforce's form: foreign keys on the child, polymorphic Who/What, OpportunityContactRole rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Key prefixes of the objects a role can point at.
ROLE_PREFIXES: dict[str, str] = {"company": "001", "contact": "003", "deal": "006"}

# object -> role -> foreign-key field. Activities are polymorphic: WhatId holds a company or a deal.
LINK_FIELDS: dict[str, dict[str, str]] = {
    "Contact": {"company": "AccountId"},
    "Opportunity": {"company": "AccountId"},
    "Task": {"contact": "WhoId", "company": "WhatId", "deal": "WhatId"},
    "Event": {"contact": "WhoId", "company": "WhatId", "deal": "WhatId"},
}
JUNCTION = "OpportunityContactRole"  # deal <-> contact, read into the deal's `contact` links


def supported_roles(obj: str) -> tuple[str, ...]:
    roles = tuple(LINK_FIELDS.get(obj, {}))
    return (*roles, "contact") if obj == "Opportunity" else roles


def link_fields(obj: str) -> tuple[str, ...]:
    """The foreign keys a read must select so links can be filled."""
    return tuple(dict.fromkeys(LINK_FIELDS.get(obj, {}).values()))


def read_links(obj: str, fields: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Links from a record's foreign keys; every supported role is present, empty when unset."""
    roles = LINK_FIELDS.get(obj)
    if not roles:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for role, field in roles.items():
        value = fields.get(field)
        prefix = ROLE_PREFIXES[role]
        out[role] = (value,) if isinstance(value, str) and value.startswith(prefix) else ()
    return out


class LinkWriteError(ValueError):
    """A WriteOp's links cannot be expressed on this object (unknown role, wrong kind of id)."""


def write_link_fields(obj: str, links: Mapping[str, str | None]) -> dict[str, str | None]:
    """Foreign-key values for a write; the deal's `contact` role is handled through OpportunityContactRole."""
    roles = LINK_FIELDS.get(obj, {})
    out: dict[str, str | None] = {}
    for role, target in links.items():
        if obj == "Opportunity" and role == "contact":
            continue
        field = roles.get(role)
        if field is None:
            raise LinkWriteError(f"{obj} has no '{role}' link (supported: {', '.join(supported_roles(obj)) or 'none'})")
        if target is not None and not target.startswith(ROLE_PREFIXES[role]):
            raise LinkWriteError(f"'{role}' link of {obj} must be a {ROLE_PREFIXES[role]}… id, got {target!r}")
        if field in out and out[field] is not None and target is None:
            continue  # WhatId: setting a deal while clearing the company keeps the deal
        if field in out and out[field] is not None and target is not None:
            raise LinkWriteError(f"{obj}.{field} holds one record: cannot link both a company and a deal")
        out[field] = target
    return out


def deal_contact(links: Mapping[str, str | None]) -> tuple[bool, str | None]:
    """(given, contact id) of a deal write's `contact` link: an id adds a role row, None removes them all."""
    if "contact" not in links:
        return False, None
    target = links["contact"]
    if target is not None and not target.startswith(ROLE_PREFIXES["contact"]):
        raise LinkWriteError(f"'contact' link of Opportunity must be a 003… id, got {target!r}")
    return True, target
