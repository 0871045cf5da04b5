"""Seeds the portal from the deterministic world: companies, contacts, deals and engagements, associated."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime, time
from functools import lru_cache

from crmsync.emulators.core.seed import World
from crmsync.emulators.core.store import UniqueViolation
from crmsync.emulators.hubspot.associations import AssociationType, association_type
from crmsync.emulators.hubspot.options import LIFECYCLE_STAGES
from crmsync.emulators.hubspot.pipelines import stage_flags
from crmsync.emulators.hubspot.schema import ObjectType, object_type
from crmsync.emulators.hubspot.state import Portal
from crmsync.emulators.hubspot.timefmt import iso_value

INDUSTRY = {
    "software": "COMPUTER_SOFTWARE",
    "banking": "BANKING",
    "retail": "RETAIL",
    "healthcare": "HOSPITAL_HEALTH_CARE",
    "manufacturing": "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
    "education": "EDUCATION_MANAGEMENT",
    "media": "MEDIA_PRODUCTION",
    "consulting": "MANAGEMENT_CONSULTING",
    "insurance": "INSURANCE",
    "telecommunications": "TELECOMMUNICATIONS",
    "logistics": "LOGISTICS_AND_SUPPLY_CHAIN",
    "energy": "OIL_ENERGY",
    "real_estate": "REAL_ESTATE",
    "hospitality": "HOSPITALITY",
    "biotech": "BIOTECHNOLOGY",
}
STAGE = {
    "prospecting": "appointmentscheduled",
    "qualification": "qualifiedtobuy",
    "needs_analysis": "presentationscheduled",
    "proposal": "decisionmakerboughtin",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
TASK_STATUS = {"not_started": "NOT_STARTED", "in_progress": "IN_PROGRESS", "completed": "COMPLETED"}
PRIORITY = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH"}
ENGAGEMENT_TYPES = {"task": "tasks", "call": "calls", "meeting": "meetings", "note": "notes"}
_SEED_SOURCE = "CRM:seed"


def _types(*ids: int) -> list[AssociationType]:
    return [t for t in (association_type(i) for i in ids) if t is not None]


def _ids(*ids: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(type ids, inverse type ids), each sorted: what `AssociationIndex.link` takes."""
    types = _types(*ids)
    return tuple(sorted(t.type_id for t in types)), tuple(sorted(t.inverse_id for t in types))


# Engagement kind → (type ids to contact, to company, to deal).
ENGAGEMENT_LINKS = {
    kind: (_ids(contact), _ids(company), _ids(deal))
    for kind, (contact, company, deal) in {
        "note": (202, 190, 214),
        "task": (204, 192, 216),
        "call": (194, 182, 206),
        "meeting": (200, 188, 212),
    }.items()
}
# A record's properties in insertion order; blank (None or "") values are left out.
_COMPANY_FIELDS = (
    "lifecyclestage",
    "hs_object_source",
    "name",
    "domain",
    "website",
    "industry",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "numberofemployees",
    "annualrevenue",
    "description",
)
_CONTACT_FIELDS = (
    "lifecyclestage",
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "jobtitle",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "associatedcompanyid",
)
_LIFECYCLES = frozenset(LIFECYCLE_STAGES)
_FREEZE_FROM = 50_000


def _text(value: float | None) -> str | None:
    return None if value is None else str(value)


def _ot(name: str) -> ObjectType:
    found = object_type(name)
    assert found is not None
    return found


def seed_portal(portal: Portal, seed: int, records: int) -> dict[str, int]:
    """Insert the world's HubSpot share without firing webhooks; returns counts per object type."""
    collecting = gc.isenabled()
    # Seeding makes millions of long-lived objects: cycle collections in the middle of it would re-scan them
    # over and over (a fifth of the time at a million records) and find nothing, as records hold no cycles.
    gc.disable()
    try:
        counts = _seed(portal, seed, records)
    finally:
        if collecting:
            gc.enable()
    if records >= _FREEZE_FROM:
        gc.freeze()  # and keep later collections from walking the seeded portal while it serves
    return counts


def _seed(portal: Portal, seed: int, records: int) -> dict[str, int]:
    world = World(seed).system("hubspot", records)
    contacts, companies, deals = _ot("contacts"), _ot("companies"), _ot("deals")
    link = portal.associations.link
    next_id = portal.ids.next
    # Keyed by world key; None (an unlinked entity) is never a key, so `.get(None)` finds nothing.
    company_ids: dict[int | None, str] = {}
    person_ids: dict[int | None, str] = {}
    deal_ids: dict[int | None, str] = {}
    counts = {"companies": 0, "contacts": 0, "deals": 0, "tasks": 0, "calls": 0, "meetings": 0, "notes": 0}
    insert = portal.collection(companies).insert
    for c in world.companies():
        company_values = (
            "customer",
            "IMPORT",
            c.name,
            c.domain,
            c.website,
            INDUSTRY.get(c.industry or ""),
            c.phone,
            c.street,
            c.city,
            c.state,
            c.postal_code,
            c.country,
            _text(c.employees),
            _text(c.annual_revenue),
            c.description,
        )
        fields = {name: value for name, value in zip(_COMPANY_FIELDS, company_values, strict=True) if value}
        record_id = next_id()
        insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        company_ids[c.key] = record_id
    counts["companies"] = len(company_ids)
    insert = portal.collection(contacts).insert
    contact_company, contact_company_inverse = _ids(279, 1)
    for p in world.people():
        company_id = company_ids.get(p.company_key)
        values = (
            p.lifecycle if p.lifecycle in _LIFECYCLES else "lead",
            p.first_name,
            p.last_name,
            p.email,
            p.phone,
            p.mobile,
            p.title,
            p.street,
            p.city,
            p.state,
            p.postal_code,
            p.country,
            company_id,
        )
        fields = {name: value for name, value in zip(_CONTACT_FIELDS, values, strict=True) if value}
        record_id = next_id()
        try:
            insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        except UniqueViolation:
            # HubSpot never holds two contacts with one email: a duplicate person lands without it.
            del fields["email"]
            insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        person_ids.setdefault(p.key, record_id)
        if company_id is not None:
            link("contacts", record_id, "companies", company_id, contact_company, contact_company_inverse)
        counts["contacts"] += 1
    insert = portal.collection(deals).insert
    deal_company, deal_company_inverse = _ids(341, 5)
    deal_contact, deal_contact_inverse = _ids(3)
    for d in world.deals():
        stage = STAGE.get(d.stage, "appointmentscheduled")
        fields = {
            "pipeline": "default",
            "dealstage": stage,
            "closedate": _close_date(d.close_date),
            **_stage_flags(stage),
        }
        if d.name:
            fields["dealname"] = d.name
        if d.amount is not None:
            fields["amount"] = str(d.amount)
        kind = (d.deal_type or "").lower()
        if kind:
            fields["dealtype"] = "newbusiness" if "new" in kind else "existingbusiness"
        record_id = next_id()
        insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        deal_ids[d.key] = record_id
        company_id = company_ids.get(d.company_key)
        if company_id is not None:
            link("deals", record_id, "companies", company_id, deal_company, deal_company_inverse)
        contact_id = person_ids.get(d.contact_key)
        if contact_id is not None:
            link("deals", record_id, "contacts", contact_id, deal_contact, deal_contact_inverse)
    counts["deals"] = len(deal_ids)
    inserts = {kind: portal.collection(_ot(name)).insert for kind, name in ENGAGEMENT_TYPES.items()}
    for a in world.activities():
        name = ENGAGEMENT_TYPES[a.kind]
        due_ms = int(a.due.timestamp() * 1000)
        fields = {"hs_timestamp": iso_value(due_ms)}
        if a.kind == "task":
            fields["hs_task_status"] = TASK_STATUS[a.status]
            fields["hs_task_priority"] = PRIORITY[a.priority]
            fields["hs_task_type"] = "TODO"
            if a.subject:
                fields["hs_task_subject"] = a.subject
            if a.body:
                fields["hs_task_body"] = a.body
        elif a.kind == "call":
            if a.subject:
                fields["hs_call_title"] = a.subject
            if a.body:
                fields["hs_call_body"] = a.body
            if a.duration_minutes:
                fields["hs_call_duration"] = str(a.duration_minutes * 60_000)
            fields["hs_call_status"] = "COMPLETED"
        elif a.kind == "meeting":
            if a.subject:
                fields["hs_meeting_title"] = a.subject
            if a.body:
                fields["hs_meeting_body"] = a.body
            fields["hs_meeting_start_time"] = fields["hs_timestamp"]
            fields["hs_meeting_end_time"] = iso_value(due_ms + (a.duration_minutes or 30) * 60_000)
        else:
            body = a.body or a.subject
            if body:
                fields["hs_note_body"] = body
        record_id = next_id()
        inserts[a.kind](record_id, fields, source=_SEED_SOURCE, emit=False)
        (to_contact, to_contact_inv), (to_company, to_company_inv), (to_deal, to_deal_inv) = ENGAGEMENT_LINKS[a.kind]
        contact_id = person_ids.get(a.contact_key)
        if contact_id is not None:
            link(name, record_id, "contacts", contact_id, to_contact, to_contact_inv)
        company_id = company_ids.get(a.company_key)
        if company_id is not None:
            link(name, record_id, "companies", company_id, to_company, to_company_inv)
        deal_id = deal_ids.get(a.deal_key)
        if deal_id is not None:
            link(name, record_id, "deals", deal_id, to_deal, to_deal_inv)
        counts[name] += 1
    for ot_name in counts:
        portal.writes[ot_name] += 1
    return counts


@lru_cache(maxsize=4096)
def _close_date(day: date) -> str:
    return iso_value(int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000))


@lru_cache(maxsize=64)
def _stage_flags(stage: str) -> dict[str, str]:
    """Shared per stage (callers copy it into the record's own dict)."""
    return stage_flags(stage)
