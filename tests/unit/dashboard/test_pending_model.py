"""The overview API carries the link waits held by a parent's failed write, as `crmsync status` lists them."""

from __future__ import annotations

from crmsync.dashboard.models import PendingModel
from crmsync.engine.views.status import BlockedWait, pending_work


def test_the_pending_model_names_each_blocked_wait_and_the_error_that_holds_it() -> None:
    blocked = BlockedWait("contact", "c-1", "salesforce", "co-9", "E12", retrying=False)
    model = PendingModel.model_validate(pending_work([], [blocked]))
    assert model.model_dump()["blocked"] == [
        {
            "kind": "contact",
            "canonical_id": "c-1",
            "connection": "salesforce",
            "parent": "co-9",
            "error": "E12",
            "retrying": False,
        }
    ]


def test_the_pending_model_has_no_blocked_waits_when_nothing_failed() -> None:
    assert PendingModel.model_validate(pending_work([])).blocked == []
