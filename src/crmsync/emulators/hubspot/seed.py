"""Seeds the portal from the deterministic world: companies, contacts, deals and engagements, associated."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

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


ENGAGEMENT_LINKS = {
    kind: (_types(contact), _types(company), _types(deal))
    for kind, (contact, company, deal) in {
        "note": (202, 190, 214),
        "task": (204, 192, 216),
        "call": (194, 182, 206),
        "meeting": (200, 188, 212),
    }.items()
}


def _put(fields: dict[str, str], name: str, value: Any) -> None:
    if value is not None and value != "":
        fields[name] = value if isinstance(value, str) else str(value)


def _ot(name: str) -> ObjectType:
    found = object_type(name)
    assert found is not None
    return found


def seed_portal(portal: Portal, seed: int, records: int) -> dict[str, int]:
    """Insert the world's HubSpot share without firing webhooks; returns counts per object type."""
    world = World(seed).system("hubspot", records)
    contacts, companies, deals = _ot("contacts"), _ot("companies"), _ot("deals")
    assoc = portal.associations
    next_id = portal.ids.next
    company_ids: dict[int, str] = {}
    person_ids: dict[int, str] = {}
    deal_ids: dict[int, str] = {}
    counts = {"companies": 0, "contacts": 0, "deals": 0, "tasks": 0, "calls": 0, "meetings": 0, "notes": 0}
    coll = portal.collection(companies)
    for c in world.companies():
        fields = {"lifecyclestage": "customer", "hs_object_source": "IMPORT"}
        _put(fields, "name", c.name)
        _put(fields, "domain", c.domain)
        _put(fields, "website", c.website)
        _put(fields, "industry", INDUSTRY.get(c.industry or ""))
        _put(fields, "phone", c.phone)
        _put(fields, "address", c.street)
        _put(fields, "city", c.city)
        _put(fields, "state", c.state)
        _put(fields, "zip", c.postal_code)
        _put(fields, "country", c.country)
        _put(fields, "numberofemployees", c.employees)
        _put(fields, "annualrevenue", c.annual_revenue)
        _put(fields, "description", c.description)
        record_id = next_id()
        coll.insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        company_ids[c.key] = record_id
        counts["companies"] += 1
    coll = portal.collection(contacts)
    contact_company = _types(279, 1)
    for p in world.people():
        fields = {"lifecyclestage": p.lifecycle if p.lifecycle in LIFECYCLE_STAGES else "lead"}
        _put(fields, "firstname", p.first_name)
        _put(fields, "lastname", p.last_name)
        _put(fields, "email", p.email)
        _put(fields, "phone", p.phone)
        _put(fields, "mobilephone", p.mobile)
        _put(fields, "jobtitle", p.title)
        _put(fields, "address", p.street)
        _put(fields, "city", p.city)
        _put(fields, "state", p.state)
        _put(fields, "zip", p.postal_code)
        _put(fields, "country", p.country)
        company_id = company_ids.get(p.company_key) if p.company_key is not None else None
        _put(fields, "associatedcompanyid", company_id)
        record_id = next_id()
        try:
            coll.insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        except UniqueViolation:
            # HubSpot never holds two contacts with one email: a duplicate person lands without it.
            del fields["email"]
            coll.insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        if p.key not in person_ids:
            person_ids[p.key] = record_id
        if company_id is not None:
            assoc.add(contacts, record_id, companies, company_id, contact_company)
        counts["contacts"] += 1
    coll = portal.collection(deals)
    deal_company, deal_contact = _types(341, 5), _types(3)
    for d in world.deals():
        stage = STAGE.get(d.stage, "appointmentscheduled")
        closes = int(datetime.combine(d.close_date, time(), tzinfo=UTC).timestamp() * 1000)
        fields = {
            "pipeline": "default",
            "dealstage": stage,
            "closedate": iso_value(closes),
            **stage_flags(stage),
        }
        _put(fields, "dealname", d.name)
        _put(fields, "amount", d.amount)
        kind = (d.deal_type or "").lower()
        _put(fields, "dealtype", "newbusiness" if "new" in kind else "existingbusiness" if kind else None)
        record_id = next_id()
        coll.insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        deal_ids[d.key] = record_id
        if d.company_key in company_ids:
            assoc.add(deals, record_id, companies, company_ids[d.company_key], deal_company)
        if d.contact_key in person_ids:
            assoc.add(deals, record_id, contacts, person_ids[d.contact_key], deal_contact)
        counts["deals"] += 1
    for a in world.activities():
        name = ENGAGEMENT_TYPES[a.kind]
        ot = _ot(name)
        due_ms = int(a.due.timestamp() * 1000)
        fields = {"hs_timestamp": iso_value(due_ms)}
        if a.kind == "task":
            fields |= {"hs_task_status": TASK_STATUS[a.status], "hs_task_priority": PRIORITY[a.priority]}
            fields["hs_task_type"] = "TODO"
            _put(fields, "hs_task_subject", a.subject)
            _put(fields, "hs_task_body", a.body)
        elif a.kind == "call":
            _put(fields, "hs_call_title", a.subject)
            _put(fields, "hs_call_body", a.body)
            _put(fields, "hs_call_duration", (a.duration_minutes or 0) * 60_000 or None)
            fields["hs_call_status"] = "COMPLETED"
        elif a.kind == "meeting":
            _put(fields, "hs_meeting_title", a.subject)
            _put(fields, "hs_meeting_body", a.body)
            fields["hs_meeting_start_time"] = fields["hs_timestamp"]
            end = due_ms + (a.duration_minutes or 30) * 60_000
            fields["hs_meeting_end_time"] = iso_value(end)
        else:
            _put(fields, "hs_note_body", a.body or a.subject)
        record_id = next_id()
        portal.collection(ot).insert(record_id, fields, source=_SEED_SOURCE, emit=False)
        to_contact, to_company, to_deal = ENGAGEMENT_LINKS[a.kind]
        if a.contact_key in person_ids:
            assoc.add(ot, record_id, contacts, person_ids[a.contact_key], to_contact)
        if a.company_key in company_ids:
            assoc.add(ot, record_id, companies, company_ids[a.company_key], to_company)
        if a.deal_key in deal_ids:
            assoc.add(ot, record_id, deals, deal_ids[a.deal_key], to_deal)
        counts[name] += 1
    for ot_name in counts:
        portal.writes[ot_name] += 1
    return counts
