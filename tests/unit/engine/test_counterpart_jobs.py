"""Counterpart jobs of a vendor merge (`rmerge`, `rdelete`, `rarchive`) as `status` and `errors` show them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from crmsync.engine.tombstones import rarchive_kind, rdelete_kind, rmerge_kind
from crmsync.engine.views.common import parse_job_kind
from crmsync.engine.views.errors import dead_job_view
from crmsync.model.values import ObjectKind
from crmsync.store import Job


@pytest.mark.parametrize(
    ("job_kind", "role"), [(rmerge_kind, "rmerge"), (rdelete_kind, "rdelete"), (rarchive_kind, "rarchive")]
)
def test_counterpart_job_kinds_name_their_object_and_connection(
    job_kind: Callable[[ObjectKind, str], str], role: str
) -> None:
    assert parse_job_kind(job_kind("contact", "dv")) == (role, "contact", "dv")


def test_a_dead_merge_job_shows_the_merged_record_and_the_vendors_error() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    payload = {"object": "contact", "remote_id": "victim-id", "canonical_id": "c-1", "into": "survivor-id"}
    job = Job(
        7, "rmerge:dv/victim-id", rmerge_kind("contact", "dv"), payload, "dead", 0, 5, at, None, None, "0x8004", at
    )
    view = dead_job_view(job)
    assert (view.role, view.object_kind, view.connection) == ("rmerge", "contact", "dv")
    assert (view.canonical_id, view.remote_id, view.last_error) == ("c-1", "victim-id", "0x8004")
