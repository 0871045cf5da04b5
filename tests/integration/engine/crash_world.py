"""The world S23's crash tests build in the three CRMs, and the check that every CRM holds it in full."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.model.values import ObjectKind
from crmsync.store import Store
from crmsync.testing.sandbox import EXTERNAL_ID_FIELDS, OBJECTS, Sandbox

KINDS: tuple[ObjectKind, ...] = ("company", "contact")
COMPANIES = 8  # per CRM, plus one shared by Salesforce and HubSpot
PEOPLE = 6  # per company
SHARED = 3  # people of each CRM who also exist in the next one (email differs in case)

FIELDS: dict[VendorName, dict[str, str]] = {
    "salesforce": {
        "email": "Email",
        "first": "FirstName",
        "last": "LastName",
        "title": "Title",
        "city": "MailingCity",
        "name": "Name",
        "domain": "Website",
        "phone": "Phone",
    },
    "hubspot": {
        "email": "email",
        "first": "firstname",
        "last": "lastname",
        "title": "jobtitle",
        "city": "city",
        "name": "name",
        "domain": "domain",
        "phone": "phone",
    },
    "dynamics": {
        "email": "emailaddress1",
        "first": "firstname",
        "last": "lastname",
        "title": "jobtitle",
        "city": "address1_city",
        "name": "name",
        "domain": "websiteurl",
        "phone": "telephone1",
    },
}
NEXT: dict[VendorName, VendorName] = {"salesforce": "hubspot", "hubspot": "dynamics", "dynamics": "salesforce"}


class NotConverged(AssertionError):
    """A rerun after a kill did not bring every CRM up to date (a lost update or an undelivered write)."""


# ---- the world ----------------------------------------------------------------------------------
@dataclass
class Person:
    email: str
    home: VendorName
    company: str  # company name (in the home CRM)
    title: str
    city: str
    also_in: VendorName | None = None


@dataclass
class Company:
    name: str
    domain: str
    phone: str
    holders: tuple[VendorName, ...]


@dataclass
class World:
    """What every CRM must hold once the sync converged, keyed by email (people) and name (companies)."""

    companies: dict[str, Company] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    duplicates: Counter[tuple[VendorName, str]] = field(default_factory=Counter)  # in-system duplicate emails
    ids: dict[tuple[VendorName, str], str] = field(default_factory=dict)  # (vendor, email or name) -> remote id


@dataclass(frozen=True)
class Row:
    """One record as a CRM holds it, in the vendor-neutral words of this test."""

    id: str
    key: str  # lower-case email (contact) or name (company)
    values: dict[str, str | None]
    external_id: str | None
    company: str | None = None  # contacts: the remote id of the company


async def bulk_create(sb: Sandbox, vendor: VendorName, kind: ObjectKind, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Create records with the vendor's batch API where it has one (HubSpot's ten-second limit is shared)."""
    if not rows:
        return []
    if vendor == "salesforce":
        ids: list[str] = []
        for start in range(0, len(rows), 200):
            chunk = [{"attributes": {"type": OBJECTS[vendor][kind]}, **r} for r in rows[start : start + 200]]
            body = {"allOrNone": True, "records": chunk}
            answer = await sb.salesforce.session.send("POST", "/services/data/v60.0/composite/sobjects", json=body)
            ids += [str(item["id"]) for item in answer.json()]
        return ids
    if vendor == "hubspot":
        obj = OBJECTS[vendor][kind]
        key = "email" if kind == "contact" else "name"
        found: dict[str, str] = {}
        for start in range(0, len(rows), 100):
            inputs = []
            for r in rows[start : start + 100]:
                properties = {k: v for k, v in r.items() if k != "associations"}
                inputs.append({"properties": properties, "associations": r.get("associations", [])})
            answer = await sb.hubspot.session.send(
                "POST", f"/crm/v3/objects/{obj}/batch/create", json={"inputs": inputs}
            )
            for item in answer.json()["results"]:
                found[str(item["properties"][key]).lower()] = str(item["id"])
        return [found[str(r[key]).lower()] for r in rows]
    created: list[str] = []
    for start in range(0, len(rows), 10):
        created += await asyncio.gather(*(sb.dynamics.create(kind, r) for r in rows[start : start + 10]))
    return created


async def _bulk_update(
    sb: Sandbox, vendor: VendorName, kind: ObjectKind, updates: Mapping[str, dict[str, Any]]
) -> None:
    if not updates:
        return
    items = list(updates.items())
    if vendor == "salesforce":
        for start in range(0, len(items), 200):
            chunk = [
                {"attributes": {"type": OBJECTS[vendor][kind]}, "id": i, **v} for i, v in items[start : start + 200]
            ]
            body = {"allOrNone": True, "records": chunk}
            await sb.salesforce.session.send("PATCH", "/services/data/v60.0/composite/sobjects", json=body)
        return
    if vendor == "hubspot":
        obj = OBJECTS[vendor][kind]
        for start in range(0, len(items), 100):
            inputs = [{"id": i, "properties": v} for i, v in items[start : start + 100]]
            await sb.hubspot.session.send("POST", f"/crm/v3/objects/{obj}/batch/update", json={"inputs": inputs})
        return
    for start in range(0, len(items), 10):
        await asyncio.gather(*(sb.dynamics.update(kind, i, v) for i, v in items[start : start + 10]))


def _company_fields(vendor: VendorName, company: Company) -> dict[str, Any]:
    f = FIELDS[vendor]
    domain = f"https://{company.domain}" if vendor == "dynamics" else company.domain
    return {f["name"]: company.name, f["domain"]: domain, f["phone"]: company.phone}


def _person_fields(vendor: VendorName, person: Person, email: str, company_id: str | None) -> dict[str, Any]:
    f = FIELDS[vendor]
    first, _, last = email.partition("@")[0].partition(".")
    row: dict[str, Any] = {
        f["email"]: email,
        f["first"]: first.title(),
        f["last"]: (last or first).title(),
        f["title"]: person.title,
        f["city"]: person.city,
    }
    if company_id is not None:
        if vendor == "salesforce":
            row["AccountId"] = company_id
        elif vendor == "dynamics":
            row["parentcustomerid_account@odata.bind"] = f"/accounts({company_id})"
        else:
            row["associations"] = [
                {
                    "to": {"id": company_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ]
    return row


async def _add_companies(sb: Sandbox, world: World, companies: Sequence[Company]) -> None:
    for vendor in VENDOR_NAMES:
        mine = [c for c in companies if vendor in c.holders]
        ids = await bulk_create(sb, vendor, "company", [_company_fields(vendor, c) for c in mine])
        for company, remote_id in zip(mine, ids, strict=True):
            world.ids[(vendor, company.name.lower())] = remote_id
        world.companies.update({c.name.lower(): c for c in mine})


async def _add_people(sb: Sandbox, world: World, people: Sequence[Person], *, secondary: bool = False) -> None:
    """People in their home CRM (or, with `secondary`, their copy in `also_in`, upper-cased and without company)."""
    for vendor in VENDOR_NAMES:
        if secondary:
            mine = [p for p in people if p.also_in == vendor]
            fields = [_person_fields(vendor, p, p.email.upper(), None) for p in mine]
        else:
            mine = [p for p in people if p.home == vendor]
            fields = [_person_fields(vendor, p, p.email, world.ids[(vendor, p.company.lower())]) for p in mine]
        ids = await bulk_create(sb, vendor, "contact", fields)
        for person, remote_id in zip(mine, ids, strict=True):
            world.ids[(vendor, person.email)] = remote_id
            world.people[person.email] = person


async def advance_all(sb: Sandbox, seconds: float) -> None:
    """Move every emulator's clock on: orders first meetings, and empties HubSpot's ten-second window."""
    await asyncio.gather(*(user.control.advance(seconds) for user in sb.users.values()))


async def build_world(sb: Sandbox, tag: str) -> World:
    """Companies with people in each CRM; some people also live (upper-cased) in the next CRM; one Salesforce
    person twice (an in-system duplicate). The secondary copies are older, so the home CRM's values win."""
    world = World()
    companies: list[Company] = []
    for v, vendor in enumerate(VENDOR_NAMES):
        for c in range(COMPANIES):
            name = f"{vendor[:2].upper()} {tag} Co {c}"
            companies.append(Company(name, f"{vendor[:2]}{c}-{tag}.example", f"+1415555{v}{c:03d}", (vendor,)))
    companies.append(Company(f"Shared {tag} Co", f"shared-{tag}.example", "+14155559999", ("salesforce", "hubspot")))
    people: list[Person] = []
    for company in companies:
        home = company.holders[0]
        for p in range(PEOPLE):
            email = f"{home[:2]}{len(people)}.p{p}-{tag}@example.com"
            people.append(Person(email, home, company.name, f"Title {len(people)}", f"City {len(people)}"))
    for vendor in VENDOR_NAMES:
        for person in [p for p in people if p.home == vendor][:SHARED]:
            person.also_in = NEXT[vendor]
    await _add_companies(sb, world, companies)
    # The copies first, so the home records are the most recently modified when they first meet.
    await _add_people(sb, world, people, secondary=True)
    await advance_all(sb, 5)
    await _add_people(sb, world, people)
    twin = next(p for p in people if p.home == "salesforce" and p.also_in is None)
    await bulk_create(sb, "salesforce", "contact", [_person_fields("salesforce", twin, twin.email.upper(), None)])
    world.duplicates[("salesforce", twin.email)] += 1
    await advance_all(sb, 11)
    return world


async def edit_world(sb: Sandbox, world: World, rng: random.Random, tag: str) -> None:
    """Edits in every CRM (titles and cities of people living anywhere, company phones) and new records.

    Each (person, field) is edited in one CRM only, so no edit meets a concurrent one: all must survive.
    """
    people = {vendor: {row.key: row for row in await records(sb, vendor, "contact")} for vendor in VENDOR_NAMES}
    companies = {vendor: {row.key: row for row in await records(sb, vendor, "company")} for vendor in VENDOR_NAMES}
    candidates = sorted(p.email for p in world.people.values() if not world.duplicates[("salesforce", p.email)])
    rng.shuffle(candidates)
    updates: dict[VendorName, dict[ObjectKind, dict[str, dict[str, Any]]]] = {
        v: {"contact": {}, "company": {}} for v in VENDOR_NAMES
    }
    for n, email in enumerate(candidates[:36]):
        person = world.people[email]
        vendor = VENDOR_NAMES[n % 3]
        what = "title" if n % 2 == 0 else "city"
        value = f"{what.title()} {tag} edit {n}"
        row = people[vendor][email]
        updates[vendor]["contact"].setdefault(row.id, {})[FIELDS[vendor][what]] = value
        setattr(person, what, value)
    names = sorted(world.companies)
    rng.shuffle(names)
    for n, name in enumerate(names[:9]):
        company = world.companies[name]
        vendor = VENDOR_NAMES[n % 3]
        company.phone = f"+1212555{n:04d}"
        updates[vendor]["company"][companies[vendor][name].id] = {FIELDS[vendor]["phone"]: company.phone}
    for vendor in VENDOR_NAMES:
        for kind in KINDS:
            await _bulk_update(sb, vendor, kind, updates[vendor][kind])
    fresh = [
        Company(f"{v[:2].upper()} {tag} New {c}", f"{v[:2]}new{c}-{tag}.example", f"+1646555{i}{c:03d}", (v,))
        for i, v in enumerate(VENDOR_NAMES)
        for c in range(2)
    ]
    await _add_companies(sb, world, fresh)
    newcomers = [
        Person(
            f"{c.holders[0][:2]}new{p}.{c.domain.split('.')[0]}@example.com", c.holders[0], c.name, f"New {p}", "Oslo"
        )
        for c in fresh
        for p in range(4)
    ]
    await _add_people(sb, world, newcomers)
    await advance_all(sb, 11)


# ---- what the CRMs hold -------------------------------------------------------------------------
async def records(sb: Sandbox, vendor: VendorName, kind: ObjectKind) -> list[Row]:
    """Every live record of one kind in one CRM."""
    f = FIELDS[vendor]
    ext = EXTERNAL_ID_FIELDS[vendor]
    names = ("email", "title", "city") if kind == "contact" else ("name", "domain", "phone")
    wanted = [f[n] for n in names]
    out: list[Row] = []
    if vendor == "salesforce":
        extra = ", AccountId" if kind == "contact" else ""
        soql = f"SELECT Id, {', '.join(wanted)}, {ext}{extra} FROM {OBJECTS[vendor][kind]} ORDER BY Id"
        for record in await sb.salesforce.query(soql):
            values = {n: record.get(f[n]) for n in names}
            out.append(Row(str(record["Id"]), _key(kind, values), values, record.get(ext), record.get("AccountId")))
        return out
    if vendor == "hubspot":
        obj = OBJECTS[vendor][kind]
        params: dict[str, str] = {"limit": "100", "properties": ",".join([*wanted, ext])}
        if kind == "contact":
            params["associations"] = "companies"
        while True:
            page = (await sb.hubspot.session.send("GET", f"/crm/v3/objects/{obj}", params=params)).json()
            for record in page["results"]:
                props = record["properties"]
                values = {n: props.get(f[n]) for n in names}
                linked = record.get("associations", {}).get("companies", {}).get("results", [])
                company = str(linked[0]["id"]) if linked else None
                out.append(Row(str(record["id"]), _key(kind, values), values, props.get(ext) or None, company))
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return out
            params["after"] = str(after)
    table_id = "contactid" if kind == "contact" else "accountid"
    select = [table_id, *wanted, ext] + (["_parentcustomerid_value"] if kind == "contact" else [])
    live = {"$filter": "_masterid_value eq null"}
    for record in await sb.dynamics.rows(kind, {"$select": ",".join(select), **live}):
        values = {n: record.get(f[n]) for n in names}
        company = record.get("_parentcustomerid_value") if kind == "contact" else None
        out.append(Row(str(record[table_id]), _key(kind, values), values, record.get(ext), company))
    return out


def _key(kind: ObjectKind, values: Mapping[str, str | None]) -> str:
    return str(values["email" if kind == "contact" else "name"] or "").strip().lower()


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


async def check_world(sb: Sandbox, store: Store, world: World, *, label: str) -> None:
    """Every record linked, no duplicate, every value (every edit) in every CRM; lost values raise NotConverged."""
    lost: list[str] = []
    for vendor in VENDOR_NAMES:
        names: dict[str, str] = {}
        for kind in KINDS:
            held = await records(sb, vendor, kind)
            if kind == "company":
                names = {r.id: r.key for r in held}
            externals = Counter(r.external_id for r in held if r.external_id)
            twice = {e: n for e, n in externals.items() if n > 1}
            assert not twice, f"{label}: {vendor} holds several {kind}s with one crmsync id: {twice}"
            keys = Counter(r.key for r in held)
            expected_keys = Counter(list(world.people if kind == "contact" else world.companies))
            for (dup_vendor, email), n in world.duplicates.items():
                if dup_vendor == vendor and kind == "contact":
                    expected_keys[email] += n
            extra = {k: n for k, n in keys.items() if n > expected_keys.get(k, 0)}
            assert not extra, f"{label}: {vendor} holds duplicate {kind}s (key: count): {extra}"
            missing = sorted(set(expected_keys) - set(keys))
            if missing:
                lost.append(f"{vendor} lacks {len(missing)} {kind}(s), e.g. {missing[:3]}")
            object_name = OBJECTS[vendor][kind]
            async with store.read() as tx:
                linked = await tx.links.canonical_ids(vendor, object_name, [r.id for r in held])
            unlinked = [r.key for r in held if r.id not in linked]
            if unlinked:
                lost.append(f"{vendor}: {len(unlinked)} {kind}(s) not linked, e.g. {unlinked[:3]}")
            for row in held:
                if kind == "contact":
                    person = world.people.get(row.key)
                    if person is None or (
                        world.duplicates[(vendor, row.key)] and row.id != world.ids[(vendor, row.key)]
                    ):
                        continue  # an in-system duplicate is linked to its survivor, never written
                    for name in ("title", "city"):
                        if row.values[name] != getattr(person, name):
                            lost.append(
                                f"{vendor} contact {row.key}: {name} {row.values[name]!r}, "
                                f"expected {getattr(person, name)!r}"
                            )
                    company_name = names.get(row.company or "")
                    if company_name != person.company.lower():
                        lost.append(
                            f"{vendor} contact {row.key}: company {company_name!r}, expected {person.company!r}"
                        )
                else:
                    company = world.companies.get(row.key)
                    if company is not None and _digits(row.values["phone"]) != _digits(company.phone):
                        lost.append(
                            f"{vendor} company {row.key}: phone {row.values['phone']!r}, expected {company.phone!r}"
                        )
    if lost:
        raise NotConverged(f"{label}: {len(lost)} problem(s):\n  " + "\n  ".join(lost[:25]))
