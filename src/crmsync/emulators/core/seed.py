"""A deterministic world of companies, people, deals and activities that the three emulators share.

The same `(seed, key)` always yields the same entity, so emulators in separate processes hold
overlapping data without talking to each other. Membership is decided per company ("household"):
a company and its people, deals and activities live in the same set of systems, so references
never dangle. Each system sees its own variant of a shared entity (email case and spaces, phone
format, domain case, the odd conflicting title or blank), a few in-system duplicates, and
unicode names — what a real multi-CRM company looks like on day one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from crmsync.emulators.core.seed_pools import (
    ACTIVITY_KINDS,
    ACTIVITY_SUBJECTS,
    CITIES,
    CJK_NAMES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    DEAL_TYPES,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LEAD_SOURCES,
    LIFECYCLES,
    PRIORITIES,
    STAGES,
    STATUSES,
    STREETS,
    TITLES,
)

SystemName = Literal["salesforce", "hubspot", "dynamics"]
SYSTEMS: tuple[SystemName, ...] = ("salesforce", "hubspot", "dynamics")

# Which systems hold company k: cycle through this pattern (S=salesforce, H=hubspot, D=dynamics).
# Every system appears in 5 of 10 slots and shares 3 of its 5 with another system: ~60 % overlap.
_MEMBERSHIP = ("SHD", "SH", "SD", "HD", "S", "H", "D", "S", "H", "D")
_LETTER = {"salesforce": "S", "hubspot": "H", "dynamics": "D"}

PEOPLE_PER_COMPANY = 5
# Per two companies: 3 deals and 5 activities, so records split 10 % / 50 % / 15 % / 25 %.
_DEALS_PER_PAIR = 3
_ACTIVITIES_PER_PAIR = 5
_RECORDS_PER_PAIR = 2 + 2 * PEOPLE_PER_COMPANY + _DEALS_PER_PAIR + _ACTIVITIES_PER_PAIR


_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_MASK = (1 << 64) - 1


def _mix(*values: int) -> int:
    """splitmix64 over the inputs: a fast, well-spread, deterministic hash."""
    x = 0x9E3779B97F4A7C15
    for value in values:
        x = (x ^ (value & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 31
    return x


def _mix1(x: int, a: int) -> int:
    """One more input into a running `_mix` state."""
    x = (x ^ (a & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


def _mix2(x: int, a: int, b: int) -> int:
    """`_mix(seed, a, b)` given `x = _mix(seed)`, unrolled: it runs several times for every seeded record."""
    x = (x ^ (a & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    x ^= x >> 31
    x = (x ^ (b & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True, slots=True)
class SeedCompany:
    key: int
    name: str
    domain: str | None
    website: str | None
    industry: str | None
    phone: str | None
    street: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    employees: int | None
    annual_revenue: float | None
    description: str | None


@dataclass(frozen=True, slots=True)
class SeedPerson:
    key: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    mobile: str | None
    title: str | None
    company_key: int | None
    street: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    lead_source: str | None
    lifecycle: str
    duplicate_of: int | None = None


@dataclass(frozen=True, slots=True)
class SeedDeal:
    key: int
    name: str
    amount: float | None
    close_date: date
    stage: str
    company_key: int | None
    contact_key: int | None
    deal_type: str | None


@dataclass(frozen=True, slots=True)
class SeedActivity:
    key: int
    kind: Literal["task", "call", "meeting", "note"]
    subject: str
    body: str | None
    due: datetime
    status: Literal["not_started", "in_progress", "completed"]
    priority: Literal["low", "normal", "high"]
    contact_key: int | None
    company_key: int | None
    deal_key: int | None
    duration_minutes: int | None


# A person's fields in SeedPerson order (key ... lifecycle, duplicate_of).
_PersonValues = tuple[
    int, str | None, str | None, str | None, str | None, str | None, str | None, int | None,
    str | None, str | None, str | None, str | None, str | None, str | None, str, int | None,
]  # fmt: skip


@lru_cache(maxsize=8192)
def _street(number: int, name: str) -> str:
    # 999 numbers x 8 streets: cached, seeded records share these strings instead of holding a copy each.
    return f"{number} {name}"


@lru_cache(maxsize=1024)
def _day(offset: int) -> date:
    return (_EPOCH + timedelta(days=offset)).date()


@lru_cache(maxsize=8192)
def _slug(text: str) -> str:
    out = []
    for char in text.lower():
        if char.isascii() and char.isalnum():
            out.append(char)
        elif char in "äàáâãå":
            out.append("a")
        elif char in "öòóôõøœ":
            out.append("o")
        elif char in "üùúû":
            out.append("u")
        elif char in "éèêë":
            out.append("e")
        elif char in "ñ":
            out.append("n")
        elif char in "çć":
            out.append("c")
        elif char in "ł":
            out.append("l")
        elif char in "ß":
            out.append("ss")
        elif char in "ō":
            out.append("o")
    return "".join(out)


class World:
    """The universe of entities for one seed; `system()` gives one CRM's share of it."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self._x = _mix(seed)  # every hash starts with the seed: mix it in once

    def members(self, company_key: int) -> str:
        return _MEMBERSHIP[_mix2(self._x, company_key, 1) % len(_MEMBERSHIP)]

    def system(self, name: SystemName, records: int) -> SystemSeed:
        return SystemSeed(self, name, records)

    # ---- canonical entities (the "truth" before each system's variations) -------------------
    def company_name(self, key: int) -> str:
        h = _mix2(self._x, key, 2)
        word = COMPANY_WORDS[h % len(COMPANY_WORDS)]
        suffix = COMPANY_SUFFIXES[(h >> 8) % len(COMPANY_SUFFIXES)]
        return f"{word} {suffix} {key}" if key >= len(COMPANY_WORDS) else f"{word} {suffix}"

    def company_domain(self, key: int) -> str | None:
        """`company(key).domain` without building the rest of the company."""
        h = _mix2(self._x, key, 2)
        if (h >> 40) % 20 == 0:
            return None
        return f"{_slug(COMPANY_WORDS[h % len(COMPANY_WORDS)])}{key}.example.com"

    def company(self, key: int) -> SeedCompany:
        h = _mix2(self._x, key, 2)
        word = COMPANY_WORDS[h % len(COMPANY_WORDS)]
        suffix = COMPANY_SUFFIXES[(h >> 8) % len(COMPANY_SUFFIXES)]
        name = f"{word} {suffix} {key}" if key >= len(COMPANY_WORDS) else f"{word} {suffix}"
        domain = f"{_slug(word)}{key}.example.com"
        city, state, postal, country, area = CITIES[(h >> 16) % len(CITIES)]
        phone = self._phone(h >> 20, area, country)
        blank = (h >> 40) % 20
        return SeedCompany(
            key=key,
            name=name,
            domain=None if blank == 0 else domain,
            website=None if blank in (0, 1) else f"https://www.{domain}",
            industry=None if blank == 2 else INDUSTRIES[(h >> 24) % len(INDUSTRIES)],
            phone=None if blank == 3 else phone,
            street=_street((h >> 28) % 999 + 1, STREETS[(h >> 32) % len(STREETS)]),
            city=city,
            state=state,
            postal_code=postal,
            country=country,
            employees=None if blank == 4 else 10 * ((h >> 36) % 500 + 1),
            annual_revenue=None if blank == 5 else float(((h >> 44) % 9000 + 100) * 10_000),
            description=None if blank < 12 else f"{word} is a {INDUSTRIES[(h >> 24) % len(INDUSTRIES)]} company.",
        )

    def person(self, key: int, company: SeedCompany | None = None) -> SeedPerson:
        domain = company.domain if company is not None else self.company_domain(key // PEOPLE_PER_COMPANY)
        return SeedPerson(*self._person_values(key, domain))

    def _person_values(self, key: int, domain: str | None) -> _PersonValues:
        """A person's fields in `SeedPerson` order, given its company's domain (built once per person)."""
        h = _mix2(self._x, key, 3)
        if h % 97 == 0:
            first, last = CJK_NAMES[(h >> 8) % len(CJK_NAMES)]
            email_local = f"user{key}"
        else:
            first = FIRST_NAMES[(h >> 8) % len(FIRST_NAMES)]
            last = LAST_NAMES[(h >> 16) % len(LAST_NAMES)]
            email_local = f"{_slug(first)}.{_slug(last)}{key}"
        city, state, postal, country, area = CITIES[(h >> 24) % len(CITIES)]
        blank = (h >> 40) % 25
        phone_area = area or "415"
        return (
            key,
            None if blank == 0 else first,
            last,
            None if blank == 1 else f"{email_local}@{domain or 'mail.example.org'}",
            None if blank == 2 else self._phone(h >> 28, phone_area, country),
            None if blank < 12 else self._phone(h >> 32, phone_area, country),
            None if blank == 3 else TITLES[(h >> 36) % len(TITLES)],
            None if blank == 4 else key // PEOPLE_PER_COMPANY,
            _street((h >> 44) % 999 + 1, STREETS[(h >> 52) % len(STREETS)]),
            city,
            state,
            postal,
            country,
            None if blank == 5 else LEAD_SOURCES[(h >> 48) % len(LEAD_SOURCES)],
            LIFECYCLES[(h >> 56) % len(LIFECYCLES)],
            None,
        )

    def deal(self, key: int, company_name: str | None = None) -> SeedDeal:
        h = _mix2(self._x, key, 4)
        company_key = (key * 2) // _DEALS_PER_PAIR
        contact_key = company_key * PEOPLE_PER_COMPANY + h % PEOPLE_PER_COMPANY
        if company_name is None:
            company_name = self.company_name(company_key)
        stage = STAGES[(h >> 8) % len(STAGES)]
        return SeedDeal(
            key=key,
            name=f"{company_name} - {('Expansion', 'Renewal', 'New Logo', 'Pilot')[(h >> 12) % 4]} {key}",
            amount=None if h % 31 == 0 else float(((h >> 16) % 500 + 1) * 1000),
            close_date=_day(int((h >> 24) % 900)),
            stage=stage,
            company_key=company_key,
            contact_key=None if h % 11 == 0 else contact_key,
            deal_type=DEAL_TYPES[(h >> 32) % len(DEAL_TYPES)],
        )

    def activity(self, key: int) -> SeedActivity:
        h = _mix2(self._x, key, 5)
        company_key = (key * 2) // _ACTIVITIES_PER_PAIR
        kind = ACTIVITY_KINDS[h % len(ACTIVITY_KINDS)]
        deal_key = (company_key * _DEALS_PER_PAIR + 1) // 2  # the company's first deal
        return SeedActivity(
            key=key,
            kind=kind,
            subject=ACTIVITY_SUBJECTS[(h >> 8) % len(ACTIVITY_SUBJECTS)],
            body=None if (h >> 12) % 3 == 0 else "Notes: discussed next steps and timeline.",
            due=_EPOCH + timedelta(minutes=int((h >> 16) % (900 * 24 * 60))),
            status=STATUSES[(h >> 40) % len(STATUSES)],
            priority=PRIORITIES[(h >> 44) % len(PRIORITIES)],
            contact_key=company_key * PEOPLE_PER_COMPANY + (h >> 48) % PEOPLE_PER_COMPANY,
            company_key=company_key,
            deal_key=deal_key if (h >> 52) % 2 == 0 else None,
            duration_minutes=(15, 30, 45, 60)[(h >> 56) % 4] if kind in ("call", "meeting") else None,
        )

    @staticmethod
    def _phone(h: int, area: str | None, country: str | None) -> str:
        number = f"555{h % 10000:04d}"
        if area is None:
            return f"+44 20 7946 {h % 10000:04d}" if country == "United Kingdom" else f"+49 30 {h % 10_000_000:07d}"
        return f"+1{area}{number}"


class SystemSeed:
    """One system's share of the world: deterministic generators, companies first.

    `records` is the total for the system, split 10 % companies, 50 % people, 15 % deals,
    25 % activities. Variants make the same entity look slightly different in each system.
    """

    def __init__(self, world: World, system: SystemName, records: int) -> None:
        self.world = world
        self.system = system
        self.letter = _LETTER[system]
        self.records = records
        pairs, rest = divmod(records, _RECORDS_PER_PAIR)
        self.company_count = 2 * pairs + (1 if rest else 0)
        self._salt = SYSTEMS.index(system) + 11
        self._keys: list[int] | None = None

    def company_keys(self) -> Iterator[int]:
        # Worked out once: every generator walks the same companies, and membership costs a hash per key.
        if self._keys is None:
            keys: list[int] = []
            world, letter, count = self.world, self.letter, self.company_count
            key = 0
            while len(keys) < count:
                if letter in world.members(key):
                    keys.append(key)
                key += 1
            self._keys = keys
        return iter(self._keys)

    def companies(self) -> Iterator[SeedCompany]:
        for key in self.company_keys():
            yield self._vary_company(self.world.company(key))

    def people(self) -> Iterator[SeedPerson]:
        world = self.world
        x, salt = world._x, self._salt
        for company_key in self.company_keys():
            domain = world.company_domain(company_key)
            for offset in range(PEOPLE_PER_COMPANY):
                key = company_key * PEOPLE_PER_COMPANY + offset
                h = _mix2(x, key, salt)
                person = SeedPerson(*self._vary_values(world._person_values(key, domain), h))
                yield person
                if _mix1(h, 9) % 50 == 0:  # = _mix(seed, key, salt, 9)
                    yield self._duplicate(person)

    def deals(self) -> Iterator[SeedDeal]:
        world = self.world
        for company_key in self.company_keys():
            first = (company_key * _DEALS_PER_PAIR + 1) // 2
            last = ((company_key + 1) * _DEALS_PER_PAIR + 1) // 2
            name = world.company_name(company_key) if last > first else None
            for key in range(first, last):
                yield world.deal(key, name)

    def activities(self) -> Iterator[SeedActivity]:
        for company_key in self.company_keys():
            first = (company_key * _ACTIVITIES_PER_PAIR + 1) // 2
            last = ((company_key + 1) * _ACTIVITIES_PER_PAIR + 1) // 2
            for key in range(first, last):
                yield self.world.activity(key)

    # ---- per-system variations -------------------------------------------------------------
    def _vary_company(self, company: SeedCompany) -> SeedCompany:
        h = _mix2(self.world._x, company.key, self._salt)
        domain = company.domain
        if domain is not None and h % 7 == 0:
            domain = domain.upper() if h % 2 else domain.replace(".example.com", ".EXAMPLE.com")
        phone = _format_phone(company.phone, self.system)
        name = company.name
        if h % 23 == 0:
            name = name + (" Incorporated" if self.system == "dynamics" else "")
        c = company  # built directly rather than with dataclasses.replace: this runs once per seeded company
        return SeedCompany(
            c.key, name, domain, c.website, c.industry, phone, c.street, c.city, c.state, c.postal_code, c.country,
            c.employees, c.annual_revenue, c.description,
        )  # fmt: skip

    def _vary_person(self, person: SeedPerson) -> SeedPerson:
        h = _mix2(self.world._x, person.key, self._salt)
        values: _PersonValues = (
            person.key, person.first_name, person.last_name, person.email, person.phone, person.mobile,
            person.title, person.company_key, person.street, person.city, person.state, person.postal_code,
            person.country, person.lead_source, person.lifecycle, person.duplicate_of,
        )  # fmt: skip
        return SeedPerson(*self._vary_values(values, h))

    def _vary_values(self, values: _PersonValues, h: int) -> _PersonValues:
        """This system's variant of a person's values; `h` is `_mix(seed, key, salt)`.

        Works on the value tuple so a seeded person is built once (a frozen dataclass is slow to build)."""
        (key, first, last, email, phone, mobile, title, company_key, street, city, state, postal, country, source,
         lifecycle, duplicate_of) = values  # fmt: skip
        if email is not None and self.system != "hubspot" and h % 9 == 0:
            email = f" {email[0].upper()}{email[1:]} " if h % 2 else email.upper()
        if h % 10 == 0:
            title = TITLES[(h >> 8) % len(TITLES)]  # this system's copy disagrees
        elif h % 41 == 0:
            title = None
        system = self.system
        return (
            key, first, last, email, _format_phone(phone, system), _format_phone(mobile, system), title,
            company_key, street, city, state, postal, country, source, lifecycle, duplicate_of,
        )  # fmt: skip

    def _duplicate(self, person: SeedPerson) -> SeedPerson:
        email = person.email
        if email is not None and self.system == "hubspot":
            email = email.replace("@", "+dup@")  # HubSpot refuses a second contact with the same email
        return replace(
            person, email=email, title=None, first_name=person.first_name, duplicate_of=person.key, mobile=None
        )


def _format_phone(phone: str | None, system: SystemName) -> str | None:
    """The same number, written the way each system's users tend to type it."""
    if phone is None or not phone.startswith("+1") or len(phone) != 12:
        return phone
    area, prefix, line = phone[2:5], phone[5:8], phone[8:]
    if system == "salesforce":
        return f"({area}) {prefix}-{line}"
    if system == "dynamics":
        return f"{area}-{prefix}-{line}"
    return phone
