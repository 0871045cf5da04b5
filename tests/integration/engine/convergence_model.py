"""The convergence test's world: a small vocabulary, each vendor's spelling of an edit, and the convergence oracle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.reentry import REENTRY_RESOLVER
from crmsync.engine.state import gone_from
from crmsync.engine.tombstones import DELETE_RESOLVER, DELETED_FIELD
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Conflict, GoldenRecord, SyncError
from crmsync.store.tables import links as links_table
from crmsync.store.tables import records as records_table
from crmsync.testing.sandbox import OBJECTS, Sandbox
from tests.integration.engine.conftest import Crm

VENDORS: tuple[VendorName, ...] = VENDOR_NAMES
KINDS: tuple[ObjectKind, ...] = ("company", "contact")
OBJECTS_YAML = "company:\ncontact:"
"""Companies and contacts only: deals and activities would only slow every sync down here."""

# Few values, so that two people pick the same one often: collisions are the point.
EMAILS = ("ada@example.com", "grace@example.com", "marie@example.com", "alan@example.com")
LAST_NAMES = ("Lovelace", "Hopper", "Curie")
COMPANIES = (("Acme", "acme.example"), ("Globex", "globex.example"), ("Initech", "initech.example"))
VOCABULARY: Mapping[str, tuple[str | None, ...]] = {
    "title": (None, "CEO", "CTO", "Engineer"),
    # One number three ways, and another: equal numbers must compare equal (S10).
    # 'ask' is no number: kept as it is and reported while a CRM holds it (S20).
    "phone": (None, "(415) 555-0100", "+1 415 555 0100", "415.555.0199", "ask"),
    "email": ("ada@example.com", "Grace@Example.com", "MARIE@EXAMPLE.COM", "alan@example.com"),
}
EDITABLE = tuple(VOCABULARY)


def word(name: str, index: int) -> str | None:
    """One of a field's words: `index` modulo their number, so that one strategy draws for every field."""
    words = VOCABULARY[name]
    return words[index % len(words)]


CASES = ("lower", "upper", "title")

# Canonical field -> each vendor's field, for the fields the test writes (contacts and companies share phone).
FIELDS: Mapping[VendorName, Mapping[str, str]] = {
    "salesforce": {
        "last_name": "LastName",
        "email": "Email",
        "title": "Title",
        "phone": "Phone",
        "name": "Name",
        "domain": "Website",
    },
    "hubspot": {
        "last_name": "lastname",
        "email": "email",
        "title": "jobtitle",
        "phone": "phone",
        "name": "name",
        "domain": "domain",
    },
    "dynamics": {
        "last_name": "lastname",
        "email": "emailaddress1",
        "title": "jobtitle",
        "phone": "telephone1",
        "name": "name",
        "domain": "websiteurl",
    },
}
# Engine bugs the machine found, by name. All are fixed, each with a `test_fixed_` repro in
# test_convergence_repros.py, and test_convergence.KNOWN_BUGS is empty; should one come back, naming it there
# (beside a strict xfail repro) makes the machine step around it or the oracle pass over its traces while it is
# worked on.
FULL_SYNC_DROPS_DATAVERSE_DELETES = "full sync drops Dataverse deletes"
"""A Dataverse delete made since the last sync is lost by a full sync."""
STRANDED_DUPLICATES = "stranded duplicates"
"""In-system duplicates stay linked to a record whose delete was propagated to their survivor."""
MERGED_INTO_GONE = "merged into gone"
"""A vendor merge links a counterpart into a connection the kept record is gone from; it is never written."""
DUPLICATE_REPORTS_CLEARED = "duplicate reports cleared"
"""A successful write to a record clears the DUPLICATE report of its in-system duplicates."""
MERGED_THEN_ARCHIVED_IN_HUBSPOT = "HubSpot merge archived before a sync"
"""Contacts merged in HubSpot whose merged record is archived before a sync live on everywhere else."""
HUBSPOT_SAME_STAMP_EDIT_SKIPPED = "HubSpot same-stamp edit skipped"
"""A HubSpot edit stamped like the last read of that record is never read."""
DUPLICATES_OUT_OF_ORDER = "duplicates met out of order"
"""In-system duplicates met in one page newest first get links but no golden record, and sync nowhere."""
OPPOSITE_MERGES = "opposite merges"
"""The same people merged in two CRMs between two syncs, with different survivors: each merge deletes the other's."""
MERGE_RELINK_RESETS_AGE = "merge relink resets link age"
"""A vendor merge re-links counterparts as new links, so a duplicate linked earlier in the run becomes the survivor."""
MERGE_KEEPS_THE_MERGED_SIDES_DUPLICATES = "merge keeps the merged side's duplicates"
"""A vendor merge deletes the merged side's counterpart elsewhere but keeps that counterpart's in-system duplicates."""
STALE_DUPLICATE_REPORTS = "stale duplicate reports"
"""A DUPLICATE report outlives its subject: merged away, or now the record crmsync syncs."""
PERSON = "convergence test"
"""Who resolves conflicts in the test, as a person would from the CLI."""
RESOLVERS = frozenset({PERSON, "crmsync (settled)", "crmsync (vendor merge)", DELETE_RESOLVER, REENTRY_RESOLVER})
"""Who may close a conflict: a person, reconcile once the sides agree, a vendor merge of the record, its
delete reaching every CRM, or the record entered again where it was deleted."""


def spelled(email: str, case: str) -> str:
    """The address as a person might type it: the engine matches addresses whatever their case (S02)."""
    if case == "upper":
        return email.upper()
    if case == "title":
        local, _, domain = email.partition("@")
        return f"{local.capitalize()}@{domain.capitalize()}"
    return email


def vendor_fields(vendor: VendorName, values: Mapping[str, str | None]) -> dict[str, Any]:
    """Canonical field -> value as the vendor's API takes it (HubSpot clears a property with "", not null)."""
    blank = "" if vendor == "hubspot" else None
    return {FIELDS[vendor][name]: blank if value is None else value for name, value in values.items()}


async def live_ids(sb: Sandbox, vendor: VendorName, kind: ObjectKind) -> list[str]:
    """Every live record of a kind in one CRM (Dataverse's merged subordinates are not live), in a stable order."""
    obj = OBJECTS[vendor][kind]
    if vendor == "salesforce":
        rows = await sb.salesforce.query(f"SELECT Id FROM {obj}")
        return sorted(str(row["Id"]) for row in rows)
    if vendor == "hubspot":
        found = await sb.hubspot.search(obj, {"properties": ["hs_object_id"]})
        return sorted((str(row["id"]) for row in found), key=int)
    primary = f"{obj}id"
    found = await sb.dynamics.rows(obj, {"$select": primary, "$filter": "_masterid_value eq null"})
    return sorted(str(row[primary]) for row in found)


async def companies_of(sb: Sandbox, vendor: VendorName, contact: str) -> list[str]:
    return await sb.user(vendor).associated("contact", contact, "company")


async def set_company(sb: Sandbox, vendor: VendorName, contact: str, company: str | None) -> None:
    """Move a contact to a company (None: to none) the way each CRM's user does it."""
    if vendor == "salesforce":
        await sb.salesforce.update("contact", contact, {"AccountId": company})
        return
    user = sb.user(vendor)
    for old in await user.associated("contact", contact, "company"):
        if old != company:
            await user.dissociate("contact", contact, "company", old)
    if company is not None:
        await user.associate("contact", contact, "company", company)


@dataclass
class StoreView:
    """The engine's state as the oracle needs it: links by canonical id, golden records, errors, conflicts."""

    links: dict[str, dict[str, list[str]]]  # canonical id -> connection -> remote ids, oldest link first
    canonical_of: dict[tuple[str, str], str]  # (connection, remote id) -> canonical id
    golden: dict[str, GoldenRecord]
    kinds: dict[str, ObjectKind]
    errors: list[SyncError]
    conflicts: list[Conflict]  # open and resolved

    def open_conflicts(self, canonical_id: str | None = None) -> list[Conflict]:
        return [c for c in self.conflicts if not c.resolved and canonical_id in (None, c.canonical_id)]

    def live(self, kind: ObjectKind) -> list[str]:
        return sorted(c for c, g in self.golden.items() if self.kinds[c] == kind and not g.deleted)


async def read_store(crm: Crm) -> StoreView:
    async with crm.store.read() as tx:
        rows = await tx.connection.execute(
            sa.select(links_table).order_by(links_table.c.created_at, links_table.c.connection, links_table.c.remote_id)
        )
        links: dict[str, dict[str, list[str]]] = {}
        canonical_of: dict[tuple[str, str], str] = {}
        for row in rows:
            links.setdefault(row.canonical_id, {}).setdefault(row.connection, []).append(row.remote_id)
            canonical_of[(row.connection, row.remote_id)] = row.canonical_id
        kinds = {
            row.canonical_id: row.kind
            for row in await tx.connection.execute(sa.select(records_table.c.canonical_id, records_table.c.kind))
        }
        golden = await tx.records.get_many(sorted(kinds))
        errors = await tx.errors.list()
        conflicts = await tx.conflicts.list(include_resolved=True)
    return StoreView(links, canonical_of, golden, kinds, errors, conflicts)


@dataclass
class Excuses:
    """What the engine reported it could not do, so the oracle does not count it as divergence."""

    duplicates: set[tuple[str, str]] = field(default_factory=set)  # (connection, remote id) DUPLICATE errors
    records: set[tuple[str, str]] = field(default_factory=set)  # (connection, canonical or remote id)
    fields: set[tuple[str, str, str]] = field(default_factory=set)  # (connection, canonical or remote id, field)

    @classmethod
    def of(cls, crm: Crm, errors: Sequence[SyncError]) -> Excuses:
        excuses = cls()
        for error in errors:
            report = error.report
            if report.code == "DUPLICATE" and report.remote_id is not None:
                excuses.duplicates.add((report.connection, report.remote_id))
                continue
            ids = [i for i in (report.canonical_id, report.remote_id) if i is not None]
            if report.field is None:
                excuses.records.update((report.connection, i) for i in ids)
                continue
            names = {report.field, *_canonical_names(crm, report.connection, report.object, report.field)}
            excuses.fields.update((report.connection, i, name) for i in ids for name in names)
        return excuses

    def record(self, connection: str, *ids: str | None) -> bool:
        return any((connection, i) in self.records for i in ids if i is not None)

    def field(self, connection: str, name: str, *ids: str | None) -> bool:
        return self.record(connection, *ids) or any((connection, i, name) in self.fields for i in ids if i is not None)


def _canonical_names(crm: Crm, connection: str, vendor_object: str, vendor_field: str) -> set[str]:
    """The canonical fields a vendor field (as an error names it) is read into."""
    vendor = crm.config.connection(connection).vendor
    names: set[str] = set()
    for object_map in crm.config.mappings:
        if object_map.vendor == vendor and object_map.object == vendor_object:
            for rule in object_map.rules:
                if vendor_field in rule.vendor:
                    names.update(rule.canonical)
    return names


async def convergence_problems(crm: Crm, view: StoreView, known: frozenset[str] = frozenset()) -> list[str]:
    """Every way the CRMs and the engine's state disagree after the final sync; empty when converged.

    `known` names engine bugs (STRANDED_DUPLICATES, ...) whose traces are not reported again.
    """
    excuses = Excuses.of(crm, view.errors)
    if known & {DUPLICATE_REPORTS_CLEARED, MERGE_RELINK_RESETS_AGE, MERGE_KEEPS_THE_MERGED_SIDES_DUPLICATES}:
        excuses.duplicates |= {(c, r) for per in view.links.values() for c, ids in per.items() for r in ids[1:]}
    problems: list[str] = []
    for kind in KINDS:
        live = {vendor: await live_ids(crm.sb, vendor, kind) for vendor in VENDORS}
        problems += _identity_problems(view, excuses, kind, live, known)
        if STALE_DUPLICATE_REPORTS not in known:
            problems += _report_problems(view, kind, live)
        problems += await _error_problems(crm, view, kind, live)
        for canonical_id in view.live(kind):
            problems += await _value_problems(crm, view, excuses, kind, canonical_id, live)
    return problems


def _identity_problems(
    view: StoreView,
    excuses: Excuses,
    kind: ObjectKind,
    live: Mapping[VendorName, Sequence[str]],
    known: frozenset[str],
) -> list[str]:
    """(1) Each live record linked once in every CRM, each live remote record linked, no link to a deleted one."""
    problems: list[str] = []
    for vendor in VENDORS:
        for remote_id in live[vendor]:
            canonical_id = view.canonical_of.get((vendor, remote_id))
            if canonical_id is None:
                if not excuses.record(vendor, remote_id):
                    problems.append(f"{kind} {vendor} {remote_id} is live but linked to nothing")
            elif canonical_id not in view.golden:
                if DUPLICATES_OUT_OF_ORDER not in known:
                    problems.append(f"{kind} {vendor} {remote_id} is linked to {canonical_id}, with no golden record")
            elif view.golden[canonical_id].deleted and STRANDED_DUPLICATES not in known:
                problems.append(f"{kind} {vendor} {remote_id} is live but its record {canonical_id} is deleted")
    for canonical_id in view.live(kind):
        parked_delete = any(c.field == DELETED_FIELD for c in view.open_conflicts(canonical_id))
        gone = gone_from(view.golden[canonical_id])
        for vendor in VENDORS:
            remote_ids = view.links.get(canonical_id, {}).get(vendor, [])
            if remote_ids and vendor in gone and MERGED_INTO_GONE not in known:
                problems.append(f"{kind} {canonical_id} is gone from {vendor}, yet linked to {remote_ids} there")
            vanished = [r for r in remote_ids if r not in live[vendor]]
            if vanished and not parked_delete:
                problems.append(f"{kind} {canonical_id} is linked to {vendor} {vanished}, which are gone")
            extra = [r for r in remote_ids[1:] if (vendor, r) not in excuses.duplicates]
            if extra:
                problems.append(f"{kind} {canonical_id} has {vendor} duplicates {extra} nobody reported")
            if not remote_ids and not parked_delete and vendor not in gone and not excuses.record(vendor, canonical_id):
                problems.append(f"{kind} {canonical_id} is live but has no counterpart in {vendor}")
    return problems


_VENDOR_OF: Mapping[str, VendorName] = {vendor: vendor for vendor in VENDORS}  # connections are named after vendors


def _report_problems(view: StoreView, kind: ObjectKind, live: Mapping[VendorName, Sequence[str]]) -> list[str]:
    """(1b) Each DUPLICATE report names a live record linked behind another one of its connection.

    A report tells a person to merge the record into the one crmsync syncs: about a record merged away or
    deleted, or about the synced record itself, it asks for what cannot or must not be done.
    """
    problems: list[str] = []
    for error in view.errors:
        report = error.report
        if report.code != "DUPLICATE" or report.remote_id is None or report.connection not in _VENDOR_OF:
            continue
        vendor = _VENDOR_OF[report.connection]
        if report.object != OBJECTS[vendor][kind]:
            continue
        subject = f"{kind} {vendor} {report.remote_id}"
        canonical_id = view.canonical_of.get((vendor, report.remote_id))
        if report.remote_id not in live[vendor]:
            problems.append(f"{subject} is reported as a duplicate, but it is gone")
        elif canonical_id is None:
            problems.append(f"{subject} is reported as a duplicate, but linked to nothing")
        elif view.links[canonical_id][vendor][0] == report.remote_id:
            problems.append(f"{subject} is reported as a duplicate, but it is the record {canonical_id} syncs there")
    return problems


async def _error_problems(
    crm: Crm, view: StoreView, kind: ObjectKind, live: Mapping[VendorName, Sequence[str]]
) -> list[str]:
    """(1c) Each sync error is about a record still there, and a read error about a value its CRM still holds.

    An error about a record deleted, merged away or fixed asks a person to mend what needs no mending.
    """
    problems: list[str] = []
    for error in view.errors:
        report = error.report
        if report.code == "DUPLICATE" or report.connection not in _VENDOR_OF:
            continue
        vendor = _VENDOR_OF[report.connection]
        if report.object != OBJECTS[vendor][kind]:
            continue
        subject = f"{kind} {report.operation} error {report.canonical_id}/{vendor} {report.remote_id} {report.field}"
        golden = view.golden.get(report.canonical_id) if report.canonical_id is not None else None
        if report.remote_id is not None and report.remote_id not in live[vendor]:
            problems.append(f"{subject}: the record is gone from {vendor}")
        elif report.operation != "delete" and report.canonical_id is not None and (golden is None or golden.deleted):
            problems.append(f"{subject}: the canonical record is deleted")
        elif report.operation == "read" and report.remote_id is not None and report.canonical_id is not None:
            synced = view.links.get(report.canonical_id, {}).get(vendor, [])
            if not synced or synced[0] != report.remote_id:
                problems.append(f"{subject}: not the record {report.canonical_id} reads there ({synced})")
                continue
            row = await crm.sb.user(vendor).get(kind, report.remote_id)
            assert row is not None
            met = {p.field for p in crm.config.mappings.map_in(vendor, kind, row).problems}
            if report.field not in met:
                problems.append(f"{subject}: its value reads fine now")
    return problems


async def _value_problems(
    crm: Crm,
    view: StoreView,
    excuses: Excuses,
    kind: ObjectKind,
    canonical_id: str,
    live: Mapping[VendorName, Sequence[str]],
) -> list[str]:
    """(2) Linked records agree field by field in canonical form, with the golden record, and on their company."""
    golden = view.golden[canonical_id].record.fields
    parked = {c.field for c in view.open_conflicts(canonical_id)}
    gone = gone_from(view.golden[canonical_id])  # the engine neither reads nor writes these on purpose
    sides: dict[str, tuple[str, dict[str, object]]] = {}
    for vendor in VENDORS:
        remote_ids = view.links.get(canonical_id, {}).get(vendor, [])
        if not remote_ids or remote_ids[0] not in live[vendor] or vendor in gone:
            continue
        if excuses.record(vendor, canonical_id, remote_ids[0]):
            continue
        row = await crm.sb.user(vendor).get(kind, remote_ids[0])
        assert row is not None
        mapped: dict[str, object] = crm.config.mappings.map_in(vendor, kind, row).fields
        if kind == "contact":
            parents = [view.canonical_of.get((vendor, c)) for c in await companies_of(crm.sb, vendor, remote_ids[0])]
            # HubSpot keeps every company of two merged contacts; the engine reads the primary one.
            mapped["@company"] = parents[0] if len(parents) == 1 else (set(parents) if parents else None)
        sides[vendor] = (remote_ids[0], mapped)
    problems: list[str] = []
    names = sorted({name for _, mapped in sides.values() for name in mapped} | set(golden))
    for name in names:
        if name in parked:
            continue
        values = {
            vendor: mapped[name]
            for vendor, (remote_id, mapped) in sides.items()
            if name in mapped and not excuses.field(vendor, name, canonical_id, remote_id)
        }
        want = golden.get(name)
        wrong = {v: value for v, value in values.items() if not _agrees(value, want)}
        if wrong:
            problems.append(f"{kind} {canonical_id}.{name}: golden {want!r}, but {wrong!r} (all: {values!r})")
    return problems


def _agrees(value: object, golden: CanonicalValue) -> bool:
    if isinstance(value, set):
        return golden in value
    return value == golden


def lost_conflicts(seen: Mapping[int, Conflict], view: StoreView) -> list[str]:
    """(3) Conflicts once parked are still open, or closed by a person or by a rule that says why."""
    now = {c.id: c for c in view.conflicts}
    problems: list[str] = []
    for conflict_id, before in sorted(seen.items()):
        after = now.get(conflict_id)
        if after is None:
            problems.append(f"conflict {conflict_id} on {before.canonical_id}.{before.field} vanished")
        elif after.resolved and after.resolved_by not in RESOLVERS:
            problems.append(
                f"conflict {conflict_id} on {before.canonical_id}.{before.field} closed by {after.resolved_by!r}"
            )
    return problems
