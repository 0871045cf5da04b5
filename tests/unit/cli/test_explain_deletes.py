"""`crmsync explain`'s delete table: the same story, in the same words, as the dashboard's record page."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from crmsync.cli.explain import render_explanation
from crmsync.engine.views.deletes import describe
from crmsync.engine.views.explain import DeleteStep, RecordExplanation

AT = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_each_delete_is_told_with_the_ids_it_took_and_where_crmsync_spread_it() -> None:
    held = DeleteStep("dynamics", "held", AT, "dv-9")
    spread = DeleteStep("hubspot", "propagate", AT, "101", deleted_by_crmsync=("dynamics",), still_to_delete=("sf",))
    record = RecordExplanation("c-1", "contact", "Ada", True, True, 2, AT, (), (), (), {}, (), deletes=(held, spread))
    out = Console(record=True, width=400)
    render_explanation(out, record)
    text = out.export_text()
    lines = [line for line in text.splitlines() if "dv-9" in line or " 101 " in line]
    assert len(lines) == 2 and "held by the mass-delete breaker" in lines[0] and describe(spread) in lines[1]
    assert "deleted by crmsync in dynamics" in text and "still to delete in sf" in text
