"""The "from · rule · when" cell of `crmsync explain`: a golden value's origin, or a dash where none was agreed."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.cli.explain import provenance_cell
from crmsync.engine.views.explain import FieldExplanation

AT = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def _field(*, in_golden: bool, source: str | None, rule: str) -> FieldExplanation:
    return FieldExplanation("title", "CEO" if in_golden else None, in_golden, source, AT, rule, (), (), ())


def test_a_golden_value_names_its_connection_rule_and_time() -> None:
    cell = provenance_cell(_field(in_golden=True, source="hubspot", rule="last_writer_wins")).plain
    assert cell == "hubspot · last_writer_wins\n2026-11-28 12:00:00Z"


def test_a_value_a_person_chose_names_the_person() -> None:
    assert provenance_cell(_field(in_golden=True, source=None, rule="manual")).plain.startswith("a person · manual")


def test_a_field_no_value_was_agreed_for_shows_a_dash_not_question_marks() -> None:
    assert provenance_cell(_field(in_golden=False, source=None, rule="")).plain == "—"
