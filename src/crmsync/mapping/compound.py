"""Compound transforms: one structured vendor field ↔ several canonical fields, and Dataverse opportunity state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync.mapping.problems import TransformError
from crmsync.mapping.text import clean_text
from crmsync.mapping.transform import OMIT, Transform, blank
from crmsync.model.values import CanonicalValue


@dataclass(frozen=True, slots=True)
class Compound:
    """A Salesforce-style compound value (`MailingAddress`: `{"street": …, "city": …}`) ↔ one canonical field per part.

    `parts` are the keys read from the compound, in the order of the canonical fields; `part_transforms`
    (by key) normalise a part such as the country the way the single-field rules do, so a value read
    from the compound equals the same value read from its part field.
    """

    parts: tuple[str, ...]
    part_transforms: Mapping[str, Transform] = field(default_factory=dict)
    name: str = "compound"
    vendor_arity: int = 1

    @property
    def canonical_arity(self) -> int:
        return len(self.parts)

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        value = raw[0]
        if blank(value) or value == {}:
            return (None,) * len(self.parts)
        if not isinstance(value, Mapping):
            raise TransformError(f"{value!r} is not a compound value with parts {', '.join(self.parts)}")
        out: list[CanonicalValue] = []
        for part in self.parts:
            transform = self.part_transforms.get(part)
            out.append(transform.inbound([value.get(part)])[0] if transform else clean_text(value.get(part)))
        return tuple(out)

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        if all(value is None for value in values):
            return (None,)
        compound: dict[str, Any] = {}
        for part, value in zip(self.parts, values, strict=True):
            transform = self.part_transforms.get(part)
            compound[part] = transform.outbound([value])[0] if transform else value
        return (compound,)

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        for part, value in zip(self.parts, values, strict=True):
            transform = self.part_transforms.get(part)
            problem = transform.flag([value]) if transform and value is not None else None
            if problem:
                return f"{part}: {problem}"
        return None


_WON_STATUS = 3
_LOST_STATUS = 4
_CLOSE_STAGE = 3


@dataclass(frozen=True, slots=True)
class OpportunityState:
    """Dataverse opportunity (`statecode`, `statuscode`, `salesstage`) ↔ one key: `won`, `lost` or `open:<stage>`.

    Dataverse closes an opportunity through Win/LoseOpportunity (the connector turns a statecode of 1 or
    2 into that action), so closed keys carry the state and status; an open one carries the sales stage,
    and writing it leaves the status to Dataverse's default for the open state.
    """

    name: str = "opportunity_state"
    vendor_arity: int = 3
    canonical_arity: int = 1

    def inbound(self, raw: Sequence[Any]) -> tuple[CanonicalValue, ...]:
        state, _status, stage = raw
        if blank(state):
            return (None,)
        if state in (1, "1"):
            return ("won",)
        if state in (2, "2"):
            return ("lost",)
        if state in (0, "0"):
            return ("open:" + ("" if blank(stage) else str(stage)),)
        raise TransformError(f"{state!r} is not an opportunity statecode (0 open, 1 won, 2 lost)")

    def outbound(self, values: Sequence[CanonicalValue]) -> tuple[Any, ...]:
        key = values[0]
        if key is None:
            return (OMIT, OMIT, OMIT)
        if key == "won":
            return (1, _WON_STATUS, _CLOSE_STAGE)
        if key == "lost":
            return (2, _LOST_STATUS, OMIT)
        text = str(key)
        if text.startswith("open:"):
            stage = text.removeprefix("open:")
            if stage and not stage.isdigit():
                raise TransformError(f"{key!r}: the sales stage is not an option value")
            return (0, OMIT, int(stage) if stage else None)
        raise TransformError(f"{key!r} is not won, lost or open:<salesstage>")

    def flag(self, values: Sequence[CanonicalValue]) -> str | None:
        return None
