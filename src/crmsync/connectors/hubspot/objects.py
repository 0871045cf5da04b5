"""The HubSpot objects the connector supports: modification property, link roles and association type ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from crmsync.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LinkRole:
    """A relationship role of an object: the target object type and the HUBSPOT_DEFINED type id (from → to)."""

    role: str
    target: str
    type_id: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    name: str
    modprop: str
    created_prop: str
    links: tuple[LinkRole, ...] = field(default_factory=tuple)

    def link(self, role: str) -> LinkRole | None:
        return next((link for link in self.links if link.role == role), None)

    def role_of_target(self, target: str) -> LinkRole | None:
        return next((link for link in self.links if link.target == target), None)


def _engagement(name: str, contact: int, company: int, deal: int) -> ObjectInfo:
    return ObjectInfo(
        name,
        "hs_lastmodifieddate",
        "hs_createdate",
        (
            LinkRole("contact", "contacts", contact),
            LinkRole("company", "companies", company),
            LinkRole("deal", "deals", deal),
        ),
    )


# Association type ids are HubSpot's documented HUBSPOT_DEFINED (unlabeled) ones: contact→company 279,
# deal→company 341, deal→contact 3, and per engagement → contact / company / deal.
OBJECT_INFO: dict[str, ObjectInfo] = {
    "contacts": ObjectInfo("contacts", "lastmodifieddate", "createdate", (LinkRole("company", "companies", 279),)),
    "companies": ObjectInfo("companies", "hs_lastmodifieddate", "createdate"),
    "deals": ObjectInfo(
        "deals",
        "hs_lastmodifieddate",
        "createdate",
        (LinkRole("company", "companies", 341), LinkRole("contact", "contacts", 3)),
    ),
    "tasks": _engagement("tasks", 204, 192, 216),
    "notes": _engagement("notes", 202, 190, 214),
    "calls": _engagement("calls", 194, 182, 206),
    "meetings": _engagement("meetings", 200, 188, 212),
}

# Webhook subscription types and association names use singular object names.
SINGULAR = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "task": "tasks",
    "note": "notes",
    "call": "calls",
    "meeting": "meetings",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
    "email": "emails",
}


def object_info(connection: str, name: str) -> ObjectInfo:
    found = OBJECT_INFO.get(name)
    if found is None:
        known = ", ".join(OBJECT_INFO)
        raise ConfigError(f"{connection}: HubSpot object {name!r} is not supported; use one of {known}")
    return found
