"""Find canonical records the way an operator asks: by email, by name, or by any system's id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import GoldenRecord, Link, Store
from crmsync.store.tables import links, records

DEFAULT_LIMIT = 50
SCAN_LIMIT = 2_000
"""Text matches are found by a scan of the stored values; this many candidates are looked at, at most."""
_TEXT_FIELDS = ("email", "first_name", "last_name", "name", "subject", "domain")

MatchedOn = Literal["id", "email", "name"]


@dataclass(frozen=True, slots=True)
class RecordHit:
    """One canonical record found: what it is, a human label, and where it is linked."""

    canonical_id: str
    kind: ObjectKind
    label: str
    email: str | None
    deleted: bool
    links: tuple[Link, ...]
    matched_on: MatchedOn


def record_label(fields: Mapping[str, CanonicalValue], fallback: str) -> str:
    """A person's full name, else a company's or deal's name, an activity's subject, a domain or email."""
    person = " ".join(str(fields[n]) for n in ("first_name", "last_name") if fields.get(n))
    for candidate in (person, fields.get("name"), fields.get("subject"), fields.get("domain"), fields.get("email")):
        if candidate:
            return str(candidate)
    return fallback


async def search_records(store: Store, query: str, *, limit: int = DEFAULT_LIMIT) -> tuple[RecordHit, ...]:
    """Records whose canonical id or any remote id equals `query`, then those whose email or name contains it.

    Text matching is case-insensitive; ids match exactly (they are what an operator copies from a CRM).
    """
    text = query.strip()
    if not text:
        return ()
    found: dict[str, MatchedOn] = {}
    async with store.read() as tx:
        db = tx.connection
        by_id = sa.union(
            sa.select(records.c.canonical_id).where(records.c.canonical_id == text),
            sa.select(links.c.canonical_id).where(links.c.remote_id == text),
        )
        for (canonical_id,) in await db.execute(by_id):
            found.setdefault(canonical_id, "id")
        needle = text.lower()
        stored = sa.func.lower(sa.cast(records.c.fields, sa.Text))
        candidates = (
            sa.select(records.c.canonical_id)
            .where(*(stored.like(_contains(word), escape="\\") for word in needle.split()))
            .order_by(records.c.deleted, records.c.updated_at.desc())
            .limit(SCAN_LIMIT)
        )
        candidate_ids = [row.canonical_id for row in await db.execute(candidates)]
        goldens = await tx.records.get_many(sorted({*found, *candidate_ids}))
        for canonical_id in candidate_ids:
            golden = goldens.get(canonical_id)
            if golden is not None and canonical_id not in found:
                matched = _text_match(golden, needle)
                if matched is not None:
                    found[canonical_id] = matched
        chosen = list(found)[:limit]
        record_links = await tx.links.links_of(chosen)
    hits = []
    for canonical_id in chosen:
        golden = goldens.get(canonical_id)
        its_links = tuple(sorted(record_links.get(canonical_id, []), key=lambda link: link.connection))
        hit = _hit(canonical_id, golden, its_links, found[canonical_id])
        if hit is not None:
            hits.append(hit)
    return tuple(hits)


def _contains(word: str) -> str:
    """A LIKE pattern for `word` anywhere, its wildcards taken literally."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_match(golden: GoldenRecord, needle: str) -> MatchedOn | None:
    """Email when the email contains the query; name when every word of it is in the record's names."""
    fields = golden.record.fields
    email = fields.get("email")
    if isinstance(email, str) and needle in email.lower():
        return "email"
    names = " ".join(str(fields[name]).lower() for name in _TEXT_FIELDS if name != "email" and fields.get(name))
    if all(word in names for word in needle.split()):
        return "name"
    return None


def _hit(
    canonical_id: str, golden: GoldenRecord | None, its_links: tuple[Link, ...], matched: MatchedOn
) -> RecordHit | None:
    if golden is None:
        if not its_links:
            return None
        # Linked but not stored yet (a record between its read and its reconcile): still worth showing.
        return RecordHit(canonical_id, its_links[0].kind, canonical_id, None, False, its_links, matched)
    fields = golden.record.fields
    email = fields.get("email")
    return RecordHit(
        canonical_id=canonical_id,
        kind=golden.record.kind,
        label=record_label(fields, canonical_id),
        email=email if isinstance(email, str) else None,
        deleted=golden.deleted,
        links=its_links,
        matched_on=matched,
    )


__all__ = ["DEFAULT_LIMIT", "RecordHit", "record_label", "search_records"]
