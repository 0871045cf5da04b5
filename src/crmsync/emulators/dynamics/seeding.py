"""Seeds the org from the shared deterministic world: accounts, contacts, opportunities, activities, notes."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

from crmsync.emulators.core.seed import SeedActivity, SeedDeal, World
from crmsync.emulators.core.store import Collection
from crmsync.emulators.dynamics.state import DataverseState

INDUSTRY_CODES = {
    "software": 6,  # Business Services
    "banking": 16,  # Financial
    "retail": 22,  # Non-Durable Merchandise Retail
    "healthcare": 11,  # Doctor's Offices and Clinics
    "manufacturing": 12,  # Durable Manufacturing
    "education": 27,  # Social Services
    "media": 3,  # Broadcasting Printing and Publishing
    "consulting": 7,  # Consulting
}
# canonical stage -> (salesstage, stepname, closeprobability, statecode, statuscode)
STAGES: dict[str, tuple[int, str, int, int, int]] = {
    "prospecting": (0, "Prospecting", 10, 0, 1),
    "qualification": (0, "Qualify", 20, 0, 1),
    "needs_analysis": (1, "Develop", 40, 0, 1),
    "proposal": (2, "Propose", 60, 0, 1),
    "negotiation": (3, "Close", 80, 0, 1),
    "closed_won": (3, "Close", 100, 1, 3),
    "closed_lost": (3, "Close", 0, 2, 4),
}
PRIORITY = {"low": 0, "normal": 1, "high": 2}
# (kind, status) -> (statecode, statuscode)
ACTIVITY_STATES: dict[tuple[str, str], tuple[int, int]] = {
    ("task", "not_started"): (0, 2),
    ("task", "in_progress"): (0, 3),
    ("task", "completed"): (1, 5),
    ("call", "not_started"): (0, 1),
    ("call", "in_progress"): (0, 1),
    ("call", "completed"): (1, 2),
    ("meeting", "not_started"): (3, 5),
    ("meeting", "in_progress"): (0, 1),
    ("meeting", "completed"): (1, 3),
}
ACTIVITY_TABLES = {"task": "task", "call": "phonecall", "meeting": "appointment"}


def _put(fields: dict[str, Any], name: str, value: Any) -> None:
    # Sparse records: absent means null, which keeps a million records within the memory budget.
    if value is not None:
        fields[name] = value


class _Seeder:
    def __init__(self, state: DataverseState) -> None:
        self.state = state
        self.user = state.config.application_user_id
        self.accounts: dict[int, str] = {}
        self.contacts: dict[int, str] = {}
        self.opportunities: dict[int, str] = {}

    def collection(self, logical: str) -> Collection:
        return self.state.collection(self.state.tables[logical])

    def insert(self, collection: Collection, fields: dict[str, Any]) -> str:
        record_id = self.state.new_id()
        fields["ownerid"] = self.user
        collection.insert(record_id, fields, source=self.user, emit=False)
        return record_id

    def run(self, seed: int, records: int) -> dict[str, int]:
        system = World(seed).system("dynamics", records)
        counts = {
            "account": 0,
            "contact": 0,
            "opportunity": 0,
            "task": 0,
            "phonecall": 0,
            "appointment": 0,
            "annotation": 0,
        }
        accounts = self.collection("account")
        keyed = "accountnumber" in accounts.unique_fields()
        for company in system.companies():
            number = f"ACC-{company.key:07d}"
            fields: dict[str, Any] = {"name": company.name, "statecode": 0, "statuscode": 1}
            if not keyed or accounts.find_unique("accountnumber", number) is None:
                fields["accountnumber"] = number  # seeding a seeded org again must not collide on the key
            _put(fields, "websiteurl", company.website)
            _put(fields, "telephone1", company.phone)
            _put(fields, "address1_line1", company.street)
            _put(fields, "address1_city", company.city)
            _put(fields, "address1_stateorprovince", company.state)
            _put(fields, "address1_postalcode", company.postal_code)
            _put(fields, "address1_country", company.country)
            _put(fields, "industrycode", INDUSTRY_CODES.get(company.industry or ""))
            _put(fields, "numberofemployees", company.employees)
            _put(fields, "revenue", company.annual_revenue)
            _put(fields, "description", company.description)
            self.accounts[company.key] = self.insert(accounts, fields)
            counts["account"] += 1
        contacts = self.collection("contact")
        for person in system.people():
            fields = {"statecode": 0, "statuscode": 1}
            _put(fields, "firstname", person.first_name)
            _put(fields, "lastname", person.last_name)
            full = f"{person.first_name or ''} {person.last_name or ''}".strip()
            _put(fields, "fullname", full or None)
            _put(fields, "emailaddress1", person.email)
            _put(fields, "telephone1", person.phone)
            _put(fields, "mobilephone", person.mobile)
            _put(fields, "jobtitle", person.title)
            _put(fields, "address1_line1", person.street)
            _put(fields, "address1_city", person.city)
            _put(fields, "address1_stateorprovince", person.state)
            _put(fields, "address1_postalcode", person.postal_code)
            _put(fields, "address1_country", person.country)
            account_id = self.accounts.get(person.company_key) if person.company_key is not None else None
            if account_id is not None:
                fields["parentcustomerid"] = account_id
                fields["parentcustomerid@lt"] = "account"
            record_id = self.insert(contacts, fields)
            self.contacts.setdefault(person.key, record_id)
            counts["contact"] += 1
        opportunities = self.collection("opportunity")
        for deal in system.deals():
            self.opportunities[deal.key] = self.insert(opportunities, self.opportunity(deal))
            counts["opportunity"] += 1
        for activity in system.activities():
            logical = ACTIVITY_TABLES.get(activity.kind, "annotation")
            self.insert(self.collection(logical), self.activity(activity, logical))
            counts[logical] += 1
        return counts

    def opportunity(self, deal: SeedDeal) -> dict[str, Any]:
        stage, step, probability, statecode, statuscode = STAGES.get(deal.stage, STAGES["prospecting"])
        fields: dict[str, Any] = {
            "name": deal.name,
            "estimatedclosedate": deal.close_date.isoformat(),
            "salesstage": stage,
            "stepname": step,
            "closeprobability": probability,
            "statecode": statecode,
            "statuscode": statuscode,
        }
        _put(fields, "estimatedvalue", deal.amount)
        if statecode != 0:
            fields["actualclosedate"] = fields["estimatedclosedate"]
            _put(fields, "actualvalue", deal.amount if statecode == 1 else None)
        account_id = self.accounts.get(deal.company_key) if deal.company_key is not None else None
        contact_id = self.contacts.get(deal.contact_key) if deal.contact_key is not None else None
        if account_id is not None:
            fields["customerid"] = account_id
            fields["customerid@lt"] = "account"
            fields["parentaccountid"] = account_id
        elif contact_id is not None:
            fields["customerid"] = contact_id
            fields["customerid@lt"] = "contact"
        if contact_id is not None:
            fields["parentcontactid"] = contact_id
        return fields

    def activity(self, activity: SeedActivity, logical: str) -> dict[str, Any]:
        due = activity.due.strftime("%Y-%m-%dT%H:%M:%SZ")
        regarding: tuple[str, str] | None = None
        if activity.deal_key is not None and activity.deal_key in self.opportunities:
            regarding = (self.opportunities[activity.deal_key], "opportunity")
        elif activity.contact_key is not None and activity.contact_key in self.contacts:
            regarding = (self.contacts[activity.contact_key], "contact")
        elif activity.company_key is not None and activity.company_key in self.accounts:
            regarding = (self.accounts[activity.company_key], "account")
        if logical == "annotation":
            fields: dict[str, Any] = {"subject": activity.subject, "isdocument": False}
            _put(fields, "notetext", activity.body)
            if regarding is not None:
                fields["objectid"], fields["objectid@lt"] = regarding
                fields["objecttypecode"] = regarding[1]
            return fields
        statecode, statuscode = ACTIVITY_STATES.get((activity.kind, activity.status), (0, 1))
        fields = {
            "subject": activity.subject,
            "activitytypecode": logical,
            "prioritycode": PRIORITY.get(activity.priority, 1),
            "statecode": statecode,
            "statuscode": statuscode,
            "scheduledend": due,
        }
        _put(fields, "description", activity.body)
        _put(fields, "actualdurationminutes", activity.duration_minutes)
        if logical == "appointment":
            fields["scheduledstart"] = due
            minutes = activity.duration_minutes or 30
            fields["scheduledend"] = (activity.due + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if logical == "phonecall":
            fields["directioncode"] = True
        if regarding is not None:
            fields["regardingobjectid"], fields["regardingobjectid@lt"] = regarding
        return fields


def seed_world(state: DataverseState, seed: int, records: int) -> dict[str, int]:
    """Load `records` records of the world's Dynamics share (without change events or webhooks)."""
    # Millions of new dicts would trigger the cyclic collector over and over; nothing here makes cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Seeder(state).run(seed, records)
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()
