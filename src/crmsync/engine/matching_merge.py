"""Vendor merges as identity decisions: re-point links to the survivor instead of deleting (DESIGN §6, S14).

A pure function over the identity map's links of the records involved. When both merged records
already stood for different canonical records, those are merged too: the older one is kept, the
other retired, and each other connection holding both counterparts gets its own merge to perform
(by the vendor's merge where it has one, else by the delete policy: the engine's choice, not ours),
unless that connection merged the same pair itself (its own merge, not yet applied, settles it there).
A link's age decides which record of a connection crmsync writes to, so the plan also names the record
each affected connection must write to afterwards: the vendor's survivor and its counterparts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class KnownLink:
    """One identity-map entry with the time it was made (a canonical record's age is its oldest link's)."""

    canonical_id: str
    connection: str
    remote_id: str
    linked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """A remote record: a connection and its id there."""

    connection: str
    remote_id: str


@dataclass(frozen=True, slots=True)
class CanonicalMerge:
    """Two canonical records turned out to be one: `retired`'s shadows, golden values, conflicts and audit
    move to `kept` (then reconcile `kept` with all its connections' states)."""

    kept: str
    retired: str


@dataclass(frozen=True, slots=True)
class CounterpartMerge:
    """In `connection`, both records now stand for one canonical record: `merged` must go into `survivor`."""

    connection: str
    survivor: str
    merged: str


@dataclass(frozen=True, slots=True)
class Repoint:
    """What a vendor merge does to the identity map (a decision; the engine executes it in one transaction).

    `canonical_id` is what the vendor's survivor stands for afterwards (None: neither record was
    linked; the survivor is then matched like any newly seen record). `unlink` removes the merged-away
    record's link; `relink` points remote records at `canonical_id` (the survivor's, when it was not
    linked yet, and every link of a retired canonical record: moved, they keep their age). `primaries`
    names, per connection, the record `canonical_id` must be written to afterwards (its oldest link
    there); any other link of it in those connections is an in-system duplicate.
    """

    connection: str
    merged_away: str
    survivor: str
    canonical_id: str | None
    unlink: tuple[RemoteRef, ...] = ()
    relink: tuple[RemoteRef, ...] = ()
    merge: CanonicalMerge | None = None
    counterparts: tuple[CounterpartMerge, ...] = ()
    primaries: tuple[RemoteRef, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        return not (self.unlink or self.relink or self.merge or self.counterparts)


def plan_vendor_merge(
    links: Iterable[KnownLink],
    merged_away_id: str,
    survivor_id: str,
    connection: str,
    pending: Mapping[RemoteRef, str] | None = None,
    deleted: Collection[RemoteRef] = (),
) -> Repoint:
    """Re-point links after `merged_away_id` was merged into `survivor_id` in `connection`.

    `links` must hold every link of the canonical records the two remote records stand for (others
    are ignored). Cases: neither linked, nothing to do; only the merged-away record linked, the
    survivor takes its place; both linked to one canonical record (an in-system duplicate merged),
    the merged-away link goes; linked to two, the canonical records merge (the older is kept).
    `pending` holds the merges other connections reported and crmsync has not applied yet
    (merged-away record -> its survivor): a connection that merged the same two people needs no
    counterpart merge from crmsync. `deleted` holds records whose deletes are read and not applied
    yet: nothing is merged into or out of a deleted record; the other one is the person's record there.
    """
    if merged_away_id == survivor_id:
        raise ValueError(f"{connection}: a record cannot be merged into itself ({survivor_id!r})")
    all_links = list(links)
    away = _canonical_of(all_links, connection, merged_away_id)
    kept_by_vendor = _canonical_of(all_links, connection, survivor_id)
    base = Repoint(connection, merged_away_id, survivor_id, kept_by_vendor)
    if away is None:
        return base
    unlink = (RemoteRef(connection, merged_away_id),)
    # The vendor's survivor is written to where it or the merged-away record was.
    replaces_primary = _primary(all_links, away, connection) == merged_away_id or (
        kept_by_vendor is not None and _primary(all_links, kept_by_vendor, connection) == survivor_id
    )
    here = (RemoteRef(connection, survivor_id),) if replaces_primary else ()
    if kept_by_vendor is None:
        relink = (RemoteRef(connection, survivor_id),)
        return Repoint(connection, merged_away_id, survivor_id, away, unlink, relink, primaries=here)
    if kept_by_vendor == away:
        return Repoint(connection, merged_away_id, survivor_id, away, unlink, primaries=here)

    kept, retired = sorted((away, kept_by_vendor), key=lambda c: _age(all_links, c))
    moved = tuple(
        sorted(
            (
                RemoteRef(link.connection, link.remote_id)
                for link in all_links
                if link.canonical_id == retired and (link.connection, link.remote_id) != (connection, merged_away_id)
            ),
            key=lambda r: (r.connection, r.remote_id),
        )
    )
    counterparts: list[CounterpartMerge] = []
    primaries = list(here)
    for other in sorted({link.connection for link in all_links} - {connection}):
        survivor = _primary(all_links, kept_by_vendor, other)
        merged = _primary(all_links, away, other)
        if survivor is None or merged is None:
            continue
        own = _merged_there(pending or {}, other, survivor, merged)
        live = [r for r in (survivor, merged) if RemoteRef(other, r) not in deleted]
        if own is not None:
            if own in (survivor, merged):
                primaries.append(RemoteRef(other, own))
        elif len(live) < 2:
            primaries += [RemoteRef(other, r) for r in live]
        else:
            counterparts.append(CounterpartMerge(other, survivor, merged))
            primaries.append(RemoteRef(other, survivor))
    return Repoint(
        connection,
        merged_away_id,
        survivor_id,
        kept,
        unlink,
        moved,
        CanonicalMerge(kept, retired),
        tuple(counterparts),
        tuple(primaries),
    )


def _merged_there(pending: Mapping[RemoteRef, str], connection: str, first: str, second: str) -> str | None:
    """The record both of two records end in through merges `connection` made itself; None if they do not."""

    def end(remote_id: str) -> str:
        seen = {remote_id}
        while (into := pending.get(RemoteRef(connection, remote_id))) is not None and into not in seen:
            seen.add(into)
            remote_id = into
        return remote_id

    ends = end(first), end(second)
    return ends[0] if ends[0] == ends[1] else None


def _canonical_of(links: list[KnownLink], connection: str, remote_id: str) -> str | None:
    found = {link.canonical_id for link in links if link.connection == connection and link.remote_id == remote_id}
    if len(found) > 1:
        raise ValueError(f"{connection} record {remote_id!r} is linked to several canonical records: {sorted(found)}")
    return next(iter(found), None)


def _age(links: list[KnownLink], canonical_id: str) -> tuple[bool, datetime | None, str]:
    times = [link.linked_at for link in links if link.canonical_id == canonical_id and link.linked_at is not None]
    oldest = min(times) if times else None
    return (oldest is None, oldest, canonical_id)


def _primary(links: list[KnownLink], canonical_id: str, connection: str) -> str | None:
    """The record a canonical record is written to in a connection: its oldest link there."""
    held = [link for link in links if link.canonical_id == canonical_id and link.connection == connection]
    if not held:
        return None
    first = min(held, key=lambda link: (link.linked_at is None, link.linked_at, link.remote_id))
    return first.remote_id


__all__ = ["CanonicalMerge", "CounterpartMerge", "KnownLink", "RemoteRef", "Repoint", "plan_vendor_merge"]
