"""Fields mapped since a connection's object was last read: their values already held are read in full once.

An incremental read lists only the records changed since the cursor, so a field added to `mappings:` after the
first sync would be read only as records change. The runner compares what a read selects with the set stored by
the last complete read (`ReadFields`) and reads that one connection's object in full when the set grew.
"""

from __future__ import annotations

from collections.abc import Iterable

from crmsync.model.values import ObjectKind


def newly_mapped(known: frozenset[str] | None, fields: Iterable[str], *, cursor: str | None) -> tuple[str, ...]:
    """The fields of `fields` that the last read (`known`) did not select, sorted; empty when nothing calls for a
    read in full.

    No cursor: the read lists everything anyway. No stored set with a cursor: the state predates schema 10 and
    what was read before is unknown; the set is taken as it is (reading every object in full after an upgrade
    would surprise more than it helps). A field no longer mapped needs nothing.
    """
    if cursor is None or known is None:
        return ()
    return tuple(sorted(set(fields) - known))


def read_in_full_note(connection: str, kind: ObjectKind, added: Iterable[str]) -> str:
    """The run report's line saying why a connection's object was read in full (a long sync otherwise surprises)."""
    return f"{connection} {kind}: fields newly mapped ({', '.join(added)}): read in full"


__all__ = ["newly_mapped", "read_in_full_note"]
