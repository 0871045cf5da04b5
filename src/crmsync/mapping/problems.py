"""What mapping reports instead of raising: a value it could not map, or one it kept but flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from crmsync.model.quick import quick_init

ProblemCode = Literal["unmapped_value", "invalid_value", "flagged", "parent_kept_out", "parent_deleted"]
"""The last two: a parent a record read names that will never be linked in its CRM (`engine.orphans`)."""


class TransformError(ValueError):
    """A transform cannot turn this value into the other side's form; the field is skipped and reported."""

    def __init__(self, message: str, *, code: ProblemCode = "invalid_value") -> None:
        super().__init__(message)
        self.code: ProblemCode = code


@quick_init
@dataclass(frozen=True, slots=True)
class MappingProblem:
    """One field of one record that did not map cleanly.

    `skipped` says the field was left out of the result (unmapped or invalid); a `flagged` value was
    kept as it is (an invalid email address, an unparseable phone number) so nothing is lost, but
    the engine may report it.
    """

    code: ProblemCode
    vendor: str
    kind: str
    field: str  # canonical field name(s), comma-joined for compound rules
    vendor_field: str  # vendor field name(s), comma-joined
    value: Any
    message: str
    direction: Literal["in", "out"]

    @property
    def skipped(self) -> bool:
        return self.code != "flagged"

    def __str__(self) -> str:
        return self.message
