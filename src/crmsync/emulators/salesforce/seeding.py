"""Loads the shared deterministic seed world into the org: accounts, contacts, opportunities and activities."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
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
    return dict(org.objects[name].defaults)


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


@lru_cache(maxsize=4096)
def _iso_day(day: date) -> str:
    # Seeded dates span a few hundred days: records share these strings rather than hold a copy each.
    return day.isoformat()


def _put(table: list[Any], key: int, value: Any) -> None:
    """World key → value in a list indexed by key: keys are dense, and a dict entry (with its int key) costs
    several times a list slot at a million records."""
    if key >= len(table):
        table.extend([None] * (key + 1 - len(table) + len(table) // 2))
    table[key] = value


def _get(table: list[Any], key: int | None) -> Any:
    return table[key] if key is not None and 0 <= key < len(table) else None


def seed_org(org: Org, seed: int, records: int) -> dict[str, int]:
    """Insert without change events (seeding must not fire outbound messages); ids follow world keys."""
    # Seeding makes millions of long-lived objects and no reference cycles: with the cyclic collector on,
    # its full passes over an ever larger heap make a million-record seed superlinear (a third of its time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _seed(org, seed, records)
    finally:
        if enabled:
            gc.enable()


def _seed(org: Org, seed: int, records: int) -> dict[str, int]:
    world = World(seed).system("salesforce", records)
    user = org.user_id
    next_id = org.ids.next
    accounts: list[str | None] = []
    contacts: list[str | None] = []
    deal_ids: list[str | None] = []
    deal_accounts: list[str | None] = []
    counts = {"Account": 0, "Contact": 0, "Opportunity": 0, "OpportunityContactRole": 0, "Task": 0, "Event": 0}

    # Dict displays below rather than dict(base).update(...): built at their final size in one step.
    load = org.loader("Account")
    base = _defaults(org, "Account")
    for c in world.companies():
        rid = next_id("001")
        load(rid, {
            **base, "Name": c.name[:255], "Website": c.website, "Industry": INDUSTRY.get(c.industry or ""),
            "Phone": c.phone, "BillingStreet": c.street, "BillingCity": c.city, "BillingState": c.state,
            "BillingPostalCode": c.postal_code, "BillingCountry": c.country, "NumberOfEmployees": c.employees,
            "AnnualRevenue": c.annual_revenue, "Description": c.description, "OwnerId": user,
        })  # fmt: skip
        _put(accounts, c.key, rid)
        counts["Account"] += 1

    load = org.loader("Contact")
    base = _defaults(org, "Contact")
    for p in world.people():
        rid = next_id("003")
        load(rid, {
            **base, "FirstName": p.first_name, "LastName": p.last_name or "[not provided]", "Email": p.email,
            "Phone": p.phone, "MobilePhone": p.mobile, "Title": p.title, "AccountId": _get(accounts, p.company_key),
            "MailingStreet": p.street, "MailingCity": p.city, "MailingState": p.state,
            "MailingPostalCode": p.postal_code, "MailingCountry": p.country, "LeadSource": p.lead_source,
            "OwnerId": user,
        })  # fmt: skip
        _put(contacts, p.key, rid)
        counts["Contact"] += 1

    load = org.loader("Opportunity")
    load_role = org.loader("OpportunityContactRole")
    base = _defaults(org, "Opportunity")
    role_base = _defaults(org, "OpportunityContactRole")
    for d in world.deals():
        rid = next_id("006")
        stage_name = STAGE.get(d.stage, "Prospecting")
        stage = STAGES[stage_name]
        account = _get(accounts, d.company_key)
        load(rid, {
            **base, "Name": d.name[:120], "Amount": d.amount, "CloseDate": _iso_day(d.close_date),
            "StageName": stage_name, "Type": DEAL_TYPE.get(d.deal_type or ""), "AccountId": account, "OwnerId": user,
            "IsClosed": stage.closed, "IsWon": stage.won, "Probability": stage.probability,
            "ForecastCategory": stage.forecast, "ForecastCategoryName": stage.forecast_name,
        })  # fmt: skip
        _put(deal_ids, d.key, rid)
        _put(deal_accounts, d.key, account)
        counts["Opportunity"] += 1
        contact = _get(contacts, d.contact_key)
        if contact is not None:
            load_role(
                next_id("00K"),
                {**role_base, "OpportunityId": rid, "ContactId": contact, "Role": "Decision Maker", "IsPrimary": True},
            )
            counts["OpportunityContactRole"] += 1

    load_task, load_event = org.loader("Task"), org.loader("Event")
    task_base, event_base = _defaults(org, "Task"), _defaults(org, "Event")
    for a in world.activities():
        who = _get(contacts, a.contact_key)
        deal = _get(deal_ids, a.deal_key)
        what = deal if deal is not None else _get(accounts, a.company_key)
        account = _get(deal_accounts, a.deal_key) if deal is not None else _get(accounts, a.company_key)
        day = _iso_day(a.due.date())
        if a.kind == "meeting":
            start = _ms(a.due)
            minutes = a.duration_minutes or 30
            start_text = format_ms(start)
            load_event(next_id("00U"), {
                **event_base, "Subject": a.subject[:255], "Description": a.body, "WhoId": who, "WhatId": what,
                "AccountId": account, "StartDateTime": start_text, "EndDateTime": format_ms(start + minutes * 60_000),
                "DurationInMinutes": minutes, "ActivityDateTime": start_text, "ActivityDate": day, "Type": "Meeting",
                "OwnerId": user,
            })  # fmt: skip
            counts["Event"] += 1
            continue
        status = STATUS[a.status]
        priority = PRIORITY[a.priority]
        values = {
            **task_base, "Subject": a.subject[:255], "Description": a.body, "WhoId": who, "WhatId": what,
            "AccountId": account, "ActivityDate": day, "Status": status, "Priority": priority,
            "IsClosed": status == "Completed", "IsHighPriority": priority == "High", "OwnerId": user,
            "TaskSubtype": "Call" if a.kind == "call" else "Task",
        }  # fmt: skip
        if a.kind == "call" and a.duration_minutes:
            values["CallDurationInSeconds"] = a.duration_minutes * 60
        if status == "Completed":
            values["CompletedDateTime"] = format_ms(_ms(a.due + timedelta(minutes=a.duration_minutes or 0)))
        load_task(next_id("00T"), values)
        counts["Task"] += 1
    return counts
