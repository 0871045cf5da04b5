"""What a delivery round passes from planning to settling: each job's planned write, and the counts of the writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from crmsync.connectors.base import WriteOp
from crmsync.engine.outbox import WriteTarget
from crmsync.engine.reconcile_types import TargetDelta
from crmsync.mapping import MappingProblem
from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue
from crmsync.store import Job


@dataclass
class DeliveryOutcome:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    retrying: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class Planned:
    """One claimed job turned into a write (or into nothing)."""

    job: Job
    target: WriteTarget
    op: WriteOp | None
    delta: TargetDelta | None = None
    written: Mapping[str, CanonicalValue] = field(default_factory=dict)
    shadow: Mapping[str, CanonicalValue] | None = None
    remote_id: str | None = None
    problems: tuple[MappingProblem, ...] = ()
    link_waits: tuple[str, ...] = ()
    """The parents (canonical ids) whose links were left out: they are not in the target yet (`link_wait_job`)."""
    held: bool = False
    """A create that waits for the reads of its CRM queued or under way (`deliver.READS_WAIT`): given back, not sent."""


__all__ = ["DeliveryOutcome", "Planned"]
