"""merged_ids on change pages: survivors collect the victims whose Tombstone(merged_into) the stream delivers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.salesforce.read import with_merged_ids

Change = RemoteRecord | Tombstone


class MergeTracker:
    """The merge victims one changes() call delivered, held until their survivor is delivered too.

    A Salesforce merge marks the victims deleted with MasterRecordId and updates the master in the same
    transaction, so in the SystemModstamp-ordered queryAll the victims come at or just before the
    master's new stamp: pairing them costs no API call. What is left at the end of the stream are
    survivors the stream passed before their victims showed up (a page or cursor boundary between rows
    sharing a stamp); the connector re-reads those once per call (`unresolved` / `resolve`).
    """

    def __init__(self) -> None:
        self._pending: dict[str, list[str]] = {}  # survivor id -> victim ids; bounded by merges in the window

    def attach(self, changes: Sequence[Change]) -> list[Change]:
        """The page with merged_ids filled for the survivors in it (victims anywhere earlier in this call)."""
        for change in changes:
            if isinstance(change, Tombstone) and change.merged_into is not None:
                victims = self._pending.setdefault(change.merged_into, [])
                if change.id not in victims:
                    victims.append(change.id)
        out: list[Change] = []
        for change in changes:
            victims = self._pending.pop(change.id, [])
            out.append(with_merged_ids(change, victims) if isinstance(change, RemoteRecord) else change)
        return out

    def unresolved(self) -> list[str]:
        """Survivors whose victims were delivered in this call but which were not delivered after them."""
        return list(self._pending)

    def resolve(self, fetched: Iterable[Change]) -> list[RemoteRecord]:
        """The re-read survivors, delivered again with merged_ids (the fetch lists every victim still in the
        recycle bin). A survivor deleted since is left out: the stream delivers that Tombstone itself."""
        out: list[RemoteRecord] = []
        for change in fetched:
            self._pending.pop(change.id, None)
            if isinstance(change, RemoteRecord):
                out.append(change)
        return out
