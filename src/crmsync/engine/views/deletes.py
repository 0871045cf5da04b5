"""How a record's deletes went, for `explain` and the dashboard's record page: per delete read from a CRM, what
the delete policy made of it (spread to the other CRMs, ignored, archived, parked, recreated, or held by the
mass-delete breaker), and which of its ids were deleted there or by crmsync.

Read from what the engine leaves behind, not decided again: the `@deleted` audit entries (`tombstones`), the
archive mark's audit entry, the former ids `unlink_deleted` notes, open delete-versus-edit conflicts, and the delete
jobs still queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from crmsync.engine.reentry import ARCHIVE_RULE, DELETED_FIELD
from crmsync.engine.state import DELETED_BY_CRMSYNC, DELETED_THERE, FORMER_ID_FIELD
from crmsync.engine.tombstones import delete_job_key, delete_kind
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Conflict, Link, Transaction

DeleteHow = Literal["propagate", "delete_wins", "manual", "ignore", "archive", "recreated", "parked", "held", "back"]
"""What became of a delete: `propagate` spread to the other CRMs (`delete_wins`: over an edit elsewhere, by policy;
`manual`: a person chose the delete over an edit); `ignore` kept out of that CRM, alive in the others; `archive` the
same, with the archive field set on the others; `recreated` an edit elsewhere won (`on_edit: edit_wins`); `parked`
for a person to choose against an edit elsewhere; `held` queued, not applied: the mass-delete breaker holds it until
a run with `--allow-mass-delete` (or the run that read it is still deciding); `back` the person was entered there
again, so that CRM's delete no longer stands."""

_REASONS: dict[str, DeleteHow] = {
    "propagate": "propagate",
    "delete_wins": "delete_wins",
    "manual": "manual",
    "ignore": "ignore",
    "edit_wins (recreated)": "recreated",
}


@dataclass(frozen=True, slots=True)
class DeleteStep:
    """One delete of the record read from a CRM (or chosen by a person), and what crmsync made of it."""

    connection: str  # the CRM it was deleted in; for `manual`, who chose the delete
    how: DeleteHow
    at: datetime | None  # when it was deleted there (as the CRM says, else when crmsync read it)
    remote_id: str | None = None  # the id deleted there, when known
    archive_field: str | None = None  # `archive`: the field set on the record in the other CRMs
    archive_value: CanonicalValue = None
    deleted_by_crmsync: tuple[str, ...] = ()  # spread deletes: the CRMs crmsync deleted the record in
    still_to_delete: tuple[str, ...] = ()  # spread deletes: the CRMs still linked, their delete not written yet


async def delete_story(
    tx: Transaction,
    kind: ObjectKind,
    canonical_id: str,
    entries: Sequence[AuditEntry],
    record_links: Sequence[Link],
    conflicts: Sequence[Conflict],
) -> tuple[DeleteStep, ...]:
    """The record's deletes, oldest first: those decided (audit), parked (open conflict), and held (queued jobs)."""
    former = [e for e in entries if e.field == FORMER_ID_FIELD and e.old]
    by_crmsync = tuple(dict.fromkeys(e.connection for e in former if e.reason == DELETED_BY_CRMSYNC))
    linked = tuple(dict.fromkeys(link.connection for link in record_links))
    steps: list[DeleteStep] = []
    for entry in entries:
        if entry.field == DELETED_FIELD and entry.new is True and entry.reason in _REASONS:
            how = _REASONS[entry.reason]
            spread = how in ("propagate", "delete_wins", "manual")
            steps.append(
                DeleteStep(
                    entry.connection,
                    how,
                    entry.at,
                    _deleted_id(former, entry.connection, entry.at) if how != "manual" else None,
                    deleted_by_crmsync=by_crmsync if spread else (),
                    still_to_delete=tuple(c for c in linked if c != entry.connection) if spread else (),
                )
            )
        elif entry.field == DELETED_FIELD and entry.new is False and entry.old is True:
            steps.append(DeleteStep(entry.connection, "back", entry.at))
        elif entry.reason == ARCHIVE_RULE and not entry.field.startswith("@"):
            archived = _deleted_id(former, entry.connection, entry.at)
            steps.append(DeleteStep(entry.connection, "archive", entry.at, archived, entry.field, entry.new))
    for conflict in conflicts:
        if conflict.field == DELETED_FIELD:
            parked = [s for s in conflict.sides if s.value is True]
            steps += [DeleteStep(s.connection, "parked", s.at, _deleted_id(former, s.connection, s.at)) for s in parked]
    for link in record_links:
        for job in await tx.jobs.list(key=delete_job_key(link.connection, link.remote_id), kind=delete_kind(kind)):
            if job.status in ("pending", "running"):
                deleted_at = job.payload.get("deleted_at")
                at = datetime.fromisoformat(deleted_at) if isinstance(deleted_at, str) else job.created_at
                steps.append(DeleteStep(link.connection, "held", at, link.remote_id))
    return tuple(sorted(steps, key=lambda s: s.at.timestamp() if s.at else 0.0))


def describe(step: DeleteStep) -> str:
    """What crmsync made of a delete, in words: the record page and `crmsync explain` say the same."""
    where = step.connection
    value = "blank" if step.archive_value is None else str(step.archive_value)
    said = {
        "propagate": "propagated: deleted in the other CRMs too",
        "delete_wins": "propagated over an edit made elsewhere since (on_edit: delete_wins)",
        "manual": f"{where} chose the delete over an edit made elsewhere: propagated",
        "ignore": f"ignored by the delete policy: kept in the other CRMs, no longer written to {where}",
        "archive": f"archived: kept in the other CRMs with {step.archive_field} set to {value}, "
        f"no longer written to {where}",
        "recreated": "an edit made elsewhere won (on_edit: edit_wins): crmsync creates it there again",
        "parked": "edited elsewhere since: waiting for a person to choose (an open conflict)",
        "held": "held by the mass-delete breaker: nothing deleted yet; a run with --allow-mass-delete applies it",
        "back": "entered there again: this delete no longer stands",
    }
    return said[step.how]


def _deleted_id(former: Sequence[AuditEntry], connection: str, at: datetime | None) -> str | None:
    """The id a tombstone took away in `connection`: the former id noted with the delete, at its time."""
    for entry in former:
        if entry.connection == connection and entry.reason == DELETED_THERE and entry.at == at:
            return str(entry.old)
    return None


__all__ = ["DeleteHow", "DeleteStep", "delete_story", "describe"]
