"""Loads the shared deterministic seed world into the org: accounts, contacts, opportunities and activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.emulators.core.seed import World
from crmsync.emulators.salesforce.formats import format_ms
from crmsync.emulators.salesforce.objects import STAGES
from crmsync.emulators.salesforce.org import Org

INDUSTRY = {
    "software": "Technology", "banking": "Banking", "retail": "Retail", "healthcare": "Healthcare",
    "manufacturing": "Manufacturing", "education": "Education", "media": "Media", "consulting": "Consulting",
}  # fmt: skip
STAGE = {
    "prospecting": "Prospecting", "qualification": "Qualification", "needs_analysis": "Needs Analysis",
    "proposal": "Proposal/Price Quote", "negotiation": "Negotiation/Review", "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}  # fmt: skip
DEAL_TYPE = {"New Business": "New Customer", "Existing Business": "Existing Customer - Upgrade"}
STATUS = {"not_started": "Not Started", "in_progress": "In Progress", "completed": "Completed"}
PRIORITY = {"low": "Low", "normal": "Normal", "high": "High"}


def _defaults(org: Org, name: str) -> dict[str, Any]:
    obj = org.objects[name]
    return {f.name: f.default_value for f in obj.fields.values() if f.default_value is not None and not f.computed}


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def seed_org(org: Org, seed: int, records: int) -> dict[str, int]:
    """Insert without change events (seeding must not fire outbound messages); ids follow world keys."""
    world = World(seed).system("salesforce", records)
    user = org.user_id
    ids = org.ids
    accounts: dict[int, str] = {}
    contacts: dict[int, str] = {}
    deals: dict[int, tuple[str, str | None]] = {}
    counts = {"Account": 0, "Contact": 0, "Opportunity": 0, "OpportunityContactRole": 0, "Task": 0, "Event": 0}

    base = _defaults(org, "Account")
    for c in world.companies():
        rid = ids.next("001")
        values = dict(base)
        values.update(
            Name=c.name[:255], Website=c.website, Industry=INDUSTRY.get(c.industry or ""), Phone=c.phone,
            BillingStreet=c.street, BillingCity=c.city, BillingState=c.state, BillingPostalCode=c.postal_code,
            BillingCountry=c.country, NumberOfEmployees=c.employees, AnnualRevenue=c.annual_revenue,
            Description=c.description, OwnerId=user,
        )  # fmt: skip
        org.insert_raw("Account", rid, values)
        accounts[c.key] = rid
    counts["Account"] = len(accounts)

    base = _defaults(org, "Contact")
    for p in world.people():
        rid = ids.next("003")
        values = dict(base)
        values.update(
            FirstName=p.first_name, LastName=p.last_name or "[not provided]", Email=p.email, Phone=p.phone,
            MobilePhone=p.mobile, Title=p.title, AccountId=accounts.get(p.company_key or -1),
            MailingStreet=p.street, MailingCity=p.city, MailingState=p.state, MailingPostalCode=p.postal_code,
            MailingCountry=p.country, LeadSource=p.lead_source, OwnerId=user,
        )  # fmt: skip
        org.insert_raw("Contact", rid, values)
        contacts[p.key] = rid
    counts["Contact"] = len(contacts)

    base = _defaults(org, "Opportunity")
    role_base = _defaults(org, "OpportunityContactRole")
    for d in world.deals():
        rid = ids.next("006")
        stage_name = STAGE.get(d.stage, "Prospecting")
        stage = STAGES[stage_name]
        account = accounts.get(d.company_key or -1)
        values = dict(base)
        values.update(
            Name=d.name[:120], Amount=d.amount, CloseDate=d.close_date.isoformat(), StageName=stage_name,
            Type=DEAL_TYPE.get(d.deal_type or ""), AccountId=account, OwnerId=user, IsClosed=stage.closed,
            IsWon=stage.won, Probability=stage.probability, ForecastCategory=stage.forecast,
            ForecastCategoryName=stage.forecast_name,
        )  # fmt: skip
        org.insert_raw("Opportunity", rid, values)
        deals[d.key] = (rid, account)
        contact = contacts.get(d.contact_key or -1)
        if contact is not None:
            role = dict(role_base)
            role.update(OpportunityId=rid, ContactId=contact, Role="Decision Maker", IsPrimary=True)
            org.insert_raw("OpportunityContactRole", ids.next("00K"), role)
            counts["OpportunityContactRole"] += 1
    counts["Opportunity"] = len(deals)

    task_base, event_base = _defaults(org, "Task"), _defaults(org, "Event")
    for a in world.activities():
        who = contacts.get(a.contact_key or -1)
        deal = deals.get(a.deal_key or -1)
        what = deal[0] if deal else accounts.get(a.company_key or -1)
        account = deal[1] if deal else accounts.get(a.company_key or -1)
        if a.kind == "meeting":
            start = _ms(a.due)
            minutes = a.duration_minutes or 30
            values = dict(event_base)
            values.update(
                Subject=a.subject[:255], Description=a.body, WhoId=who, WhatId=what, AccountId=account,
                StartDateTime=format_ms(start), EndDateTime=format_ms(start + minutes * 60_000),
                DurationInMinutes=minutes, ActivityDateTime=format_ms(start),
                ActivityDate=a.due.date().isoformat(), Type="Meeting", OwnerId=user,
            )  # fmt: skip
            org.insert_raw("Event", ids.next("00U"), values)
            counts["Event"] += 1
            continue
        status = STATUS[a.status]
        priority = PRIORITY[a.priority]
        values = dict(task_base)
        values.update(
            Subject=a.subject[:255], Description=a.body, WhoId=who, WhatId=what, AccountId=account,
            ActivityDate=a.due.date().isoformat(), Status=status, Priority=priority,
            IsClosed=status == "Completed", IsHighPriority=priority == "High", OwnerId=user,
            TaskSubtype="Call" if a.kind == "call" else "Task",
        )  # fmt: skip
        if a.kind == "call" and a.duration_minutes:
            values["CallDurationInSeconds"] = a.duration_minutes * 60
        if status == "Completed":
            values["CompletedDateTime"] = format_ms(_ms(a.due + timedelta(minutes=a.duration_minutes or 0)))
        org.insert_raw("Task", ids.next("00T"), values)
        counts["Task"] += 1
    return counts
