"""Relationships: Dataverse lookups (`_x_value` + lookuplogicalname) ↔ crmsync link roles, and `@odata.bind` writes.

Roles per table (what `RemoteRecord.links` carries and `WriteOp.links` accepts):

- contact: ``company`` — `parentcustomerid` when it points at an account.
- opportunity: ``company`` — `customerid` (account) else `parentaccountid`; ``contact`` — `parentcontactid`
  else `customerid` (contact). Writes bind `customerid_account` and `parentcontactid`.
- task / phonecall / appointment: one `regardingobjectid` — ``deal`` (opportunity), ``company`` (account) or
  ``contact``. Dataverse holds one regarding row, so a write with several roles keeps the first of deal,
  company, contact.
- annotation (notes): `objectid`, the same roles and rule as activities.
- account: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync.errors import VendorResponseError

LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
ROLE_OF_TABLE = {"account": "company", "contact": "contact", "opportunity": "deal"}
TABLE_OF_ROLE = {role: table for table, role in ROLE_OF_TABLE.items()}
ENTITY_SET = {"account": "accounts", "contact": "contacts", "opportunity": "opportunities"}
_SINGLE_PARENT = ("deal", "company", "contact")  # preference when a table holds one parent lookup

LINK_ROLES: dict[str, tuple[str, ...]] = {
    "account": (),
    "contact": ("company",),
    "opportunity": ("company", "contact"),
    "task": ("deal", "company", "contact"),
    "phonecall": ("deal", "company", "contact"),
    "appointment": ("deal", "company", "contact"),
    "annotation": ("deal", "company", "contact"),
}
"""The link roles each table supports."""

# Lookup read properties selected for links, and whether they are polymorphic (need lookuplogicalname).
LOOKUPS: dict[str, tuple[tuple[str, bool], ...]] = {
    "account": (),
    "contact": (("_parentcustomerid_value", True),),
    "opportunity": (("_customerid_value", True), ("_parentaccountid_value", False), ("_parentcontactid_value", False)),
    "task": (("_regardingobjectid_value", True),),
    "phonecall": (("_regardingobjectid_value", True),),
    "appointment": (("_regardingobjectid_value", True),),
    "annotation": (("_objectid_value", True),),
}
_FIXED_TARGET = {"_parentaccountid_value": "account", "_parentcontactid_value": "contact"}


def needs_annotations(table: str) -> bool:
    return any(polymorphic for _, polymorphic in LOOKUPS.get(table, ()))


# Per table: (read property, its lookuplogicalname annotation key, the fixed target or None), precomputed
# because links are read for every row of every page.
_SPECS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    table: tuple((prop, prop + LOGICAL, _FIXED_TARGET.get(prop)) for prop, _ in lookups)
    for table, lookups in LOOKUPS.items()
}


def read_links(table: str, row: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Links of one row, by role; ids in a role are distinct and in lookup order (VendorResponseError if malformed)."""
    links: dict[str, tuple[str, ...]] = {}
    for prop, logical_key, fixed in _SPECS.get(table, ()):
        value = row.get(prop)
        if value is None:
            continue
        target = fixed or row.get(logical_key)
        if not isinstance(value, str) or not isinstance(target, str):
            raise VendorResponseError(f"{prop} is not a GUID with a lookuplogicalname annotation")
        role = ROLE_OF_TABLE.get(target)
        if role is None:
            continue
        if table == "opportunity" and (
            (prop == "_parentaccountid_value" and "company" in links)  # the customer account wins
            or (prop == "_customerid_value" and role == "contact" and row.get("_parentcontactid_value"))
        ):
            continue
        ids = links.get(role)
        if ids is None:
            links[role] = (value,)
        elif value not in ids:
            links[role] = (*ids, value)
    return links


@dataclass(slots=True)
class LinkWrites:
    """What one op's links become: body `@odata.bind` entries and navigation properties to clear by `$ref`."""

    binds: dict[str, str] = field(default_factory=dict)
    clears: list[str] = field(default_factory=list)
    error: str | None = None


def write_links(table: str, links: Mapping[str, str | None]) -> LinkWrites:
    out = LinkWrites()
    if not links:
        return out
    supported = LINK_ROLES.get(table, ())
    unknown = [role for role in links if role not in supported]
    if unknown:
        out.error = f"{table} has no link role(s) {', '.join(sorted(unknown))}; supported: {', '.join(supported)}"
        return out
    if table == "contact":
        _one(out, "parentcustomerid_account", "account", links["company"])
    elif table == "opportunity":
        if "company" in links:
            _one(out, "customerid_account", "account", links["company"])
        if "contact" in links:
            _one(out, "parentcontactid", "contact", links["contact"])
    else:
        prefix = "regardingobjectid" if table != "annotation" else "objectid"
        suffix = f"_{table}" if table != "annotation" else ""
        chosen = next((role for role in _SINGLE_PARENT if links.get(role)), None)
        if chosen is not None:
            target = TABLE_OF_ROLE[chosen]
            value = links[chosen]
            assert value is not None
            out.binds[f"{prefix}_{target}{suffix}@odata.bind"] = f"/{ENTITY_SET[target]}({value})"
        else:
            # Every role given is None: the one parent lookup is cleared (whichever table it points at).
            target = TABLE_OF_ROLE[next(role for role in _SINGLE_PARENT if role in links)]
            out.clears.append(f"{prefix}_{target}{suffix}")
    return out


def _one(out: LinkWrites, nav: str, target: str, value: str | None) -> None:
    if value is None:
        out.clears.append(nav)
    else:
        out.binds[f"{nav}@odata.bind"] = f"/{ENTITY_SET[target]}({value})"
