"""Unit tests of the field-level policy decision: winners, fallbacks, blanks, parking, determinism."""

from __future__ import annotations

import itertools

import pytest

from crmsync.engine.policy import decide, latest
from crmsync.model.golden import ConflictSide
from crmsync.model.rules import Direction, Policy, SyncRules
from tests.unit.engine.sim import at

LWW = Policy.last_writer_wins()


def side(connection: str, value: str | None, minute: int | None) -> ConflictSide:
    return ConflictSide(connection, value, None if minute is None else at(minute))


def test_single_change_is_set_without_conflict() -> None:
    decision = decide([side("hubspot", "CTO", 1)], LWW)
    assert (decision.kind, decision.rule, decision.contested) == ("set", "change", False)
    assert decision.winner == side("hubspot", "CTO", 1)


def test_same_value_from_several_is_agreed_not_a_conflict() -> None:
    decision = decide([side("hubspot", "CTO", 1), side("salesforce", "CTO", 2)], Policy.manual())
    assert (decision.kind, decision.rule, decision.contested) == ("set", "agreed", False)
    assert decision.winner is not None and decision.winner.connection == "salesforce"


def test_last_writer_wins_takes_latest_and_names_losers() -> None:
    decision = decide([side("hubspot", "CTO", 2), side("salesforce", "VP", 1), side("dynamics", "CTO", 1)], LWW)
    assert decision.winner == side("hubspot", "CTO", 2)
    assert decision.losers == (side("salesforce", "VP", 1),)
    assert decision.rule == "last_writer_wins"


def test_ties_are_broken_by_connection_name_whatever_the_order() -> None:
    sides = [side("salesforce", "VP", 1), side("hubspot", "CTO", 1), side("dynamics", "CEO", 1)]
    winners = {decide(list(p), LWW).winner for p in itertools.permutations(sides)}
    assert winners == {side("dynamics", "CEO", 1)}


def test_unknown_time_loses_to_a_known_one() -> None:
    assert latest([side("a", "x", None), side("b", "y", 0)]) == side("b", "y", 0)


def test_prefer_picks_first_preferred_that_changed() -> None:
    policy = Policy.preferring("salesforce", "hubspot")
    decision = decide([side("hubspot", "CTO", 5), side("salesforce", "VP", 1), side("dynamics", "CEO", 9)], policy)
    assert decision.winner == side("salesforce", "VP", 1)
    assert decision.rule == "prefer"


def test_prefer_falls_back_to_last_writer_when_no_preferred_changed() -> None:
    policy = Policy.preferring("salesforce")
    decision = decide([side("hubspot", "CTO", 5), side("dynamics", "CEO", 9)], policy)
    assert decision.winner == side("dynamics", "CEO", 9)
    assert decision.rule == "last_writer_wins"


def test_unless_blank_skips_a_blank_preferred_value() -> None:
    policy = Policy.preferring("salesforce", unless_blank=True)
    decision = decide([side("salesforce", None, 5), side("hubspot", "CTO", 1)], policy)
    assert decision.winner == side("hubspot", "CTO", 1)
    assert decision.losers == (side("salesforce", None, 5),)
    assert decision.contested


def test_unless_blank_alone_keeps_the_base() -> None:
    decision = decide([side("salesforce", None, 5)], Policy.last_writer_wins(unless_blank=True))
    assert (decision.kind, decision.rule, decision.winner) == ("keep", "unless_blank", None)
    assert decision.losers == (side("salesforce", None, 5),)


def test_blank_is_a_value_without_unless_blank() -> None:
    decision = decide([side("salesforce", None, 5), side("hubspot", "CTO", 1)], LWW)
    assert decision.winner == side("salesforce", None, 5)


def test_manual_parks_differing_values() -> None:
    decision = decide([side("salesforce", "VP", 5), side("hubspot", "CTO", 1)], Policy.manual())
    assert decision.kind == "park"
    assert decision.losers == (side("hubspot", "CTO", 1), side("salesforce", "VP", 5))


def test_no_candidates_keeps_the_base() -> None:
    assert decide([], LWW).kind == "keep"


def test_policy_and_direction_validation() -> None:
    with pytest.raises(ValueError, match="at least one connection"):
        Policy("prefer")
    with pytest.raises(ValueError, match="only a `prefer` policy"):
        Policy("manual", ("salesforce",))
    with pytest.raises(ValueError, match="direction `to`"):
        Direction("to")


def test_directions_read_and_write() -> None:
    to_dv, from_sf, none = Direction.to("dynamics"), Direction.from_("salesforce"), Direction.none()
    assert (to_dv.reads_from("dynamics"), to_dv.writes_to("dynamics")) == (False, True)
    assert (to_dv.reads_from("hubspot"), to_dv.writes_to("hubspot")) == (True, False)
    assert (from_sf.reads_from("salesforce"), from_sf.writes_to("salesforce")) == (True, False)
    assert (from_sf.reads_from("hubspot"), from_sf.writes_to("hubspot")) == (False, True)
    assert not none.reads_from("hubspot") and not none.writes_to("hubspot")


def test_rules_resolve_field_overrides() -> None:
    rules = SyncRules(
        ("hubspot", "salesforce"),
        policy=Policy.manual(),
        field_policies={"title": LWW},
        directions={"email": Direction.none()},
        connection_fields={"hubspot": frozenset({"email"})},
    )
    assert rules.policy_for("title") == LWW and rules.policy_for("phone") == Policy.manual()
    assert rules.direction_for("email") == Direction.none() and rules.direction_for("x") == Direction.both()
    assert rules.maps("hubspot", "email") and not rules.maps("hubspot", "title", {"title": "x"})
    assert rules.maps("salesforce", "title", {"title": "x"}) and not rules.maps("salesforce", "y", {"title": "x"})
