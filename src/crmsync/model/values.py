"""Canonical values: what a field holds once mapped out of a vendor's shape, comparable across CRMs.

Mapping turns vendor values into these (E.164 phones, lower-cased emails and domains, ISO country
codes, UTC datetimes, sorted tuples for multi-select picklists), so equal facts compare equal and
an equivalent rewrite never causes a write (scenario S10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from crmsync.model.quick import quick_init

CanonicalValue = str | int | float | bool | date | datetime | tuple[str, ...] | None
"""None is blank: an empty string, an empty multi-select and a missing value all map to None."""

ObjectKind = Literal["company", "contact", "deal", "activity"]
OBJECT_KINDS: tuple[ObjectKind, ...] = ("company", "contact", "deal", "activity")
"""Dependency order: a parent kind comes before its children (writes follow it)."""

Fields = Mapping[str, CanonicalValue]


@quick_init
@dataclass(frozen=True, slots=True)
class CanonicalRecord:
    """One real-world entity as crmsync holds it: canonical field values and links to other records."""

    id: str
    kind: ObjectKind
    fields: Fields
    # role ("company", "contact", "deal") -> canonical ids of the linked records
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
