"""Reconcile at the level of one record, named after the scenarios it decides (SCENARIOS.md S02, S04-S10)."""

from __future__ import annotations

import itertools

import pytest

from crmsync.engine.merge import Choice, reconcile, resolve_conflict
from crmsync.engine.reconcile_types import AuditEntry, ConnectionState, TargetDelta
from crmsync.model.golden import ConflictSide, GoldenField, GoldenRecord
from crmsync.model.rules import Direction, Policy, SyncRules
from crmsync.model.values import CanonicalValue
from tests.unit.engine.sim import Sim, at

CONNS = ("dynamics", "hubspot", "salesforce")
BASE: dict[str, CanonicalValue] = {"email": "jo@acme.com", "phone": "+14155550100", "title": "CEO"}


def converged(rules: SyncRules | None = None) -> Sim:
    sim = Sim(rules or SyncRules(CONNS))
    for connection in CONNS:
        sim.add(connection, BASE, minute=0)
    first = sim.sync()
    assert first.writes == 0 and not first.resolved
    return sim


def updates(delta: TargetDelta | None) -> dict[str, CanonicalValue]:
    assert delta is not None and delta.kind == "update"
    return dict(delta.fields)


def assert_quiet(sim: Sim) -> None:
    """Echo suppression: reading every connection again after the writes landed changes nothing."""
    again = sim.reconcile()
    assert again.writes == 0 and again.audit == () and again.parked == () and again.resolved == ()


def test_s04_one_edit_reaches_the_others_and_nothing_else_is_written() -> None:
    sim = converged()
    sim.edit("salesforce", "phone", "+14155550199", minute=10)
    result = sim.sync(read=["salesforce"])
    assert [d.connection for d in result.deltas] == ["dynamics", "hubspot"]
    assert updates(result.delta_for("dynamics")) == {"phone": "+14155550199"}
    assert updates(result.delta_for("hubspot")) == {"phone": "+14155550199"}
    assert result.resolved == () and result.parked == ()
    (entry,) = result.audit
    assert (entry.field, entry.old, entry.new, entry.source, entry.rule) == (
        "phone",
        "+14155550100",
        "+14155550199",
        "salesforce",
        "change",
    )
    assert result.golden.fields["phone"] == GoldenField("+14155550199", "salesforce", at(10))
    assert_quiet(sim)


def test_s05_different_fields_concurrently_both_land_without_conflict() -> None:
    sim = converged()
    sim.edit("hubspot", "email", "jo@new.com", minute=10)
    sim.edit("dynamics", "title", "CTO", minute=11)
    result = sim.sync()
    assert updates(result.delta_for("salesforce")) == {"email": "jo@new.com", "title": "CTO"}
    assert updates(result.delta_for("hubspot")) == {"title": "CTO"}
    assert updates(result.delta_for("dynamics")) == {"email": "jo@new.com"}
    assert result.resolved == () and result.parked == ()
    assert {(e.field, e.source) for e in result.audit} == {("email", "hubspot"), ("title", "dynamics")}
    assert_quiet(sim)


def test_s06_same_field_last_writer_wins_and_audit_names_the_loser() -> None:
    sim = converged()
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("dynamics", "title", "VP", minute=10)
    result = sim.sync()
    assert result.golden.value("title") == "CTO"
    assert updates(result.delta_for("dynamics")) == {"title": "CTO"}
    assert updates(result.delta_for("salesforce")) == {"title": "CTO"}
    assert result.delta_for("hubspot") is None
    (resolution,) = result.resolved
    assert resolution.rule == "last_writer_wins"
    assert resolution.winner == ConflictSide("hubspot", "CTO", at(20))
    assert resolution.losers == (ConflictSide("dynamics", "VP", at(10)),)
    assert_quiet(sim)


def test_s06_last_writer_wins_uses_field_time_over_record_time() -> None:
    rules = SyncRules(CONNS)
    base = {c: dict(BASE) for c in CONNS}
    # HubSpot's record was touched last (minute 30), but its title changed before Dynamics' did.
    states = [
        ConnectionState("hubspot", {**BASE, "title": "CTO"}, base["hubspot"], at(30), {"title": at(5)}),
        ConnectionState("dynamics", {**BASE, "title": "VP"}, base["dynamics"], at(10)),
        ConnectionState("salesforce", None, base["salesforce"], at(0)),
    ]
    golden = GoldenRecord({k: GoldenField(v, "salesforce", at(0)) for k, v in BASE.items()})
    assert reconcile(golden, states, rules).golden.value("title") == "VP"


def test_s06_tied_times_give_the_same_winner_in_any_input_order() -> None:
    golden = GoldenRecord({k: GoldenField(v, "salesforce", at(0)) for k, v in BASE.items()})
    states = [
        ConnectionState(c, {**BASE, "title": t}, dict(BASE), at(7))
        for c, t in (("salesforce", "VP"), ("hubspot", "CTO"), ("dynamics", "COO"))
    ]
    first = reconcile(golden, states, SyncRules(CONNS))
    for permutation in itertools.permutations(states):
        assert reconcile(golden, list(permutation), SyncRules(CONNS)) == first
    assert first.golden.value("title") == "COO"  # "dynamics" sorts first


def test_s06_prefer_salesforce_wins_even_when_older() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.preferring("salesforce")))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "VP", minute=10)
    result = sim.sync()
    assert result.golden.value("title") == "VP"
    assert result.resolved[0].rule == "prefer"
    assert {d.connection for d in result.deltas} == {"dynamics", "hubspot"}
    assert_quiet(sim)


def test_s06_prefer_lets_a_lone_change_from_elsewhere_through() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.preferring("salesforce")))
    sim.edit("hubspot", "title", "CTO", minute=20)
    result = sim.sync()
    assert result.golden.value("title") == "CTO" and result.resolved == ()
    assert updates(result.delta_for("salesforce")) == {"title": "CTO"}


def test_s06_manual_parks_overwrites_nothing_and_the_choice_reaches_everywhere() -> None:
    sim = converged(SyncRules(CONNS, field_policies={"title": Policy.manual()}))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("dynamics", "title", "VP", minute=10)
    sim.edit("dynamics", "phone", "+14155550199", minute=10)
    result = sim.sync()
    (conflict,) = result.parked
    assert conflict.field == "title" and conflict.base == "CEO" and conflict.has_base
    assert conflict.sides == (ConflictSide("dynamics", "VP", at(10)), ConflictSide("hubspot", "CTO", at(20)))
    assert result.golden.value("title") == "CEO"
    # The other field still flows; the conflicted one is written nowhere.
    assert all("title" not in d.fields for d in result.deltas)
    assert updates(result.delta_for("salesforce")) == {"phone": "+14155550199"}
    assert (sim.value("hubspot", "title"), sim.value("dynamics", "title")) == ("CTO", "VP")
    assert_quiet(sim)  # still parked, not re-reported

    chosen = resolve_conflict(
        sim.golden, conflict, Choice.side(conflict, "hubspot"), sim.states(read=()), sim.rules, at=at(30)
    )
    assert chosen.closed == ("title",)
    assert updates(chosen.delta_for("dynamics")) == {"title": "CTO"}
    assert updates(chosen.delta_for("salesforce")) == {"title": "CTO"}
    assert chosen.delta_for("hubspot") is None
    assert chosen.audit[0].rule == "manual" and (chosen.audit[0].old, chosen.audit[0].new) == ("CEO", "CTO")
    sim.apply(chosen)
    assert {sim.value(c, "title") for c in CONNS} == {"CTO"}
    assert not sim.parked
    assert_quiet(sim)


def test_s06_manual_choice_of_a_typed_value_is_written_everywhere() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "VP", minute=10)
    (conflict,) = sim.sync().parked
    chosen = resolve_conflict(sim.golden, conflict, Choice("Chief"), sim.states(), sim.rules, at=at(30))
    assert {d.connection for d in chosen.deltas} == set(CONNS)
    assert chosen.golden.fields["title"] == GoldenField("Chief", None, at(30))
    with pytest.raises(ValueError, match="no side from 'dynamics'"):
        Choice.side(conflict, "dynamics")


def test_s06_manual_conflict_dissolves_when_the_sides_come_to_agree() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "VP", minute=10)
    sim.sync()
    sim.edit("salesforce", "title", "CTO", minute=40)
    result = sim.sync(read=["salesforce"])
    assert result.closed == ("title",) and result.parked == ()
    assert result.audit[0].rule == "withdrawn" and result.golden.value("title") == "CTO"
    assert updates(result.delta_for("dynamics")) == {"title": "CTO"}
    assert_quiet(sim)


def test_s06_manual_conflict_side_reverting_to_base_leaves_the_other_value() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "VP", minute=10)
    sim.sync()
    sim.edit("salesforce", "title", "CEO", minute=40)
    result = sim.sync(read=["salesforce"])
    assert result.closed == ("title",) and result.golden.value("title") == "CTO"
    assert_quiet(sim)


def test_s06_manual_conflict_updated_when_a_side_changes_again() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "VP", minute=10)
    sim.sync()
    sim.edit("salesforce", "title", "SVP", minute=40)
    result = sim.sync(read=["salesforce"])
    (conflict,) = result.parked
    assert conflict.side("salesforce") == ConflictSide("salesforce", "SVP", at(40))
    assert result.writes == 0 and result.closed == ()


def test_concurrent_edit_of_a_copy_still_waiting_for_its_write_is_a_conflict() -> None:
    """HubSpot's change is decided but not yet delivered to Salesforce when Salesforce edits the same field."""
    golden = GoldenRecord({**{k: GoldenField(v, "salesforce", at(0)) for k, v in BASE.items()}})
    golden = GoldenRecord({**golden.fields, "title": GoldenField("CTO", "hubspot", at(20))})
    states = [
        ConnectionState("hubspot", None, {**BASE, "title": "CTO"}),
        ConnectionState("salesforce", {**BASE, "title": "VP"}, dict(BASE), at(10)),
    ]
    lww = reconcile(golden, states, SyncRules(("hubspot", "salesforce")))
    assert lww.golden.value("title") == "CTO"
    assert updates(lww.delta_for("salesforce")) == {"title": "CTO"}
    assert lww.resolved[0].losers == (ConflictSide("salesforce", "VP", at(10)),)
    manual = reconcile(golden, states, SyncRules(("hubspot", "salesforce"), policy=Policy.manual()))
    assert manual.parked[0].sides == (ConflictSide("hubspot", "CTO", at(20)), ConflictSide("salesforce", "VP", at(10)))
    # The base is the value both last agreed on (Salesforce's shadow), not HubSpot's value already in the golden.
    assert (manual.parked[0].base, manual.parked[0].has_base) == ("CEO", True)
    assert manual.writes == 0


def test_s07_same_value_in_two_systems_is_no_conflict_and_no_write_to_them() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    sim.edit("hubspot", "title", "CTO", minute=20)
    sim.edit("salesforce", "title", "CTO", minute=10)
    result = sim.sync()
    assert result.parked == () and result.resolved == ()
    assert [d.connection for d in result.deltas] == ["dynamics"]
    assert result.audit[0].rule == "agreed"


def test_s07_same_value_everywhere_makes_no_write_at_all() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.manual()))
    for minute, connection in enumerate(CONNS):
        sim.edit(connection, "title", "CTO", minute=10 + minute)
    result = sim.sync()
    assert result.writes == 0 and result.parked == () and result.golden.value("title") == "CTO"


def test_s08_clearing_a_field_empties_it_everywhere() -> None:
    sim = converged()
    sim.edit("salesforce", "title", None, minute=10)
    result = sim.sync(read=["salesforce"])
    assert updates(result.delta_for("dynamics")) == {"title": None}
    assert updates(result.delta_for("hubspot")) == {"title": None}
    assert result.golden.value("title") is None
    assert_quiet(sim)


def test_s08_unless_blank_never_lets_a_blank_overwrite_a_value() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.last_writer_wins(unless_blank=True)))
    sim.edit("salesforce", "title", None, minute=10)
    result = sim.sync(read=["salesforce"])
    assert result.golden.value("title") == "CEO" and result.audit == ()
    # The blank connection gets the value back, so every connection converges.
    assert [d.connection for d in result.deltas] == ["salesforce"]
    assert updates(result.delta_for("salesforce")) == {"title": "CEO"}
    (resolution,) = result.resolved
    assert resolution.rule == "unless_blank" and resolution.losers == (ConflictSide("salesforce", None, at(10)),)
    assert_quiet(sim)


def test_s08_prefer_unless_blank_takes_the_other_value_when_preferred_is_blank() -> None:
    sim = converged(SyncRules(CONNS, policy=Policy.preferring("salesforce", unless_blank=True)))
    sim.edit("salesforce", "title", None, minute=20)
    sim.edit("hubspot", "title", "CTO", minute=10)
    result = sim.sync()
    assert result.golden.value("title") == "CTO"
    assert updates(result.delta_for("salesforce")) == {"title": "CTO"}
    assert_quiet(sim)


def test_s10_equal_canonical_values_never_conflict_or_write() -> None:
    values: dict[str, CanonicalValue] = {
        "name": "José Müller",
        "alias": "王小明",
        "domain": "acme.com",
        "phone": "+14155550100",
        "tags": ("a", "b"),
        "revenue": 5,
    }
    states = [
        ConnectionState(c, {**values, "revenue": 5.0} if c == "hubspot" else dict(values), None, at(i))
        for i, c in enumerate(CONNS)
    ]
    result = reconcile(None, states, SyncRules(CONNS, policy=Policy.manual()))
    assert result.writes == 0 and result.parked == () and result.resolved == ()


def test_s02_first_meeting_most_recent_record_wins_field_by_field_and_blanks_do_not_overwrite() -> None:
    sim = Sim(SyncRules(CONNS))
    sim.add("salesforce", {"email": "jo@acme.com", "title": "VP", "phone": None}, minute=20)
    sim.add("hubspot", {"email": "jo@acme.com", "title": "CEO", "phone": "+14155550100"}, minute=10)
    result = sim.sync()
    assert result.golden.values() == {"email": "jo@acme.com", "phone": "+14155550100", "title": "VP"}
    assert updates(result.delta_for("salesforce")) == {"phone": "+14155550100"}
    assert updates(result.delta_for("hubspot")) == {"title": "VP"}
    create = result.delta_for("dynamics")
    assert create is not None and create.kind == "create"
    assert dict(create.fields) == {"email": "jo@acme.com", "phone": "+14155550100", "title": "VP"}
    assert all(r.no_base for r in result.resolved) and all(e.no_base for e in result.audit)
    assert_quiet(sim)


def test_s02_first_meeting_with_manual_policy_parks_without_a_base() -> None:
    sim = Sim(SyncRules(("hubspot", "salesforce"), policy=Policy.manual()))
    sim.add("salesforce", {"email": "jo@acme.com", "title": "VP"}, minute=20)
    sim.add("hubspot", {"email": "jo@acme.com", "title": "CEO"}, minute=10)
    result = sim.sync()
    (conflict,) = result.parked
    assert (conflict.field, conflict.has_base, conflict.base) == ("title", False, None)
    assert result.writes == 0 and "title" not in result.golden.fields
    assert_quiet(sim)


def test_s02_twins_met_in_different_reads_under_manual_park_without_a_base_and_a_side_back_to_its_value_stays() -> None:
    sim = Sim(SyncRules(("hubspot", "salesforce"), policy=Policy.manual()))
    sim.add("salesforce", {"email": "jo@acme.com", "title": "VP"}, minute=10)
    sim.sync(read=["salesforce"])  # Salesforce's page first: the golden title is its own, agreed with nobody
    sim.add("hubspot", {"email": "jo@acme.com", "title": "CEO"}, minute=20)
    (conflict,) = sim.sync(read=["hubspot"]).parked
    assert (conflict.has_base, conflict.base) == (False, None)
    assert {(s.connection, s.value) for s in conflict.sides} == {("salesforce", "VP"), ("hubspot", "CEO")}
    sim.edit("salesforce", "title", "Director", minute=30)
    assert sim.sync().parked[0].sides[1].value == "Director"
    sim.edit("salesforce", "title", "VP", minute=40)  # back to its first value: still its claim, not given up
    result = sim.sync()
    assert result.closed == () and result.writes == 0
    assert {(s.connection, s.value) for s in sim.parked["title"].sides} == {("salesforce", "VP"), ("hubspot", "CEO")}


def test_a_twin_met_later_contends_with_the_golden_value_by_time() -> None:
    sim = converged(SyncRules(("hubspot", "salesforce", "dynamics")))
    del sim.remotes["dynamics"], sim.shadows["dynamics"]
    sim.add("dynamics", {**BASE, "title": "VP", "phone": None}, minute=50)
    result = sim.sync(read=["dynamics"])
    assert result.golden.value("title") == "VP"
    assert updates(result.delta_for("dynamics")) == {"phone": "+14155550100"}
    assert updates(result.delta_for("hubspot")) == {"title": "VP"}
    assert_quiet(sim)


def test_directions_to_from_and_none() -> None:
    rules = SyncRules(
        CONNS,
        directions={
            "title": Direction.to("dynamics"),
            "phone": Direction.from_("salesforce"),
            "email": Direction.none(),
        },
    )
    sim = converged(rules)
    sim.edit("dynamics", "title", "local", minute=10)  # a mirror's own edit is not read: it is reverted
    sim.edit("hubspot", "phone", "+1999", minute=10)  # not a source for phone: reverted
    sim.edit("hubspot", "email", "x@y.com", minute=10)  # not synced at all
    result = sim.sync()
    assert result.golden.values() == {"phone": "+14155550100", "title": "CEO"}  # email is not synced
    assert updates(result.delta_for("dynamics")) == {"title": "CEO"}
    assert updates(result.delta_for("hubspot")) == {"phone": "+14155550100"}
    assert result.audit == ()  # the golden record did not change ...
    assert result.reverted == (  # ... but the edits written over are kept, with who made them and when
        AuditEntry("title", "local", "CEO", "dynamics", at(10), "reverted"),
        AuditEntry("phone", "+1999", "+14155550100", "hubspot", at(10), "reverted"),
    )
    assert_quiet(sim)
    assert sim.reconcile().reverted == ()  # once per edit: read again, the written value is no edit
    sim.edit("salesforce", "phone", "+1888", minute=20)
    sim.edit("hubspot", "title", "CTO", minute=20)
    result = sim.sync()
    assert updates(result.delta_for("dynamics")) == {"phone": "+1888", "title": "CTO"}
    assert updates(result.delta_for("hubspot")) == {"phone": "+1888"}
    assert result.delta_for("salesforce") is None  # title goes to dynamics only; phone comes from salesforce
    assert_quiet(sim)


def test_a_one_way_field_met_with_a_value_of_its_own_is_audited_as_written_over() -> None:
    rules = SyncRules(CONNS, directions={"title": Direction.from_("salesforce")})
    sim = Sim(rules)
    sim.add("salesforce", BASE, minute=0)
    sim.add("hubspot", {**BASE, "title": "Chief Executive"}, minute=5)
    sim.add("dynamics", {**BASE, "title": None}, minute=5)  # a blank it held is no value of its own
    result = sim.sync()
    assert result.golden.value("title") == "CEO"
    assert result.reverted == (
        AuditEntry("title", "Chief Executive", "CEO", "hubspot", at(5), "reverted", no_base=True),
    )


def test_connection_fields_limit_what_is_written_and_created() -> None:
    rules = SyncRules(CONNS, connection_fields={"dynamics": frozenset({"email"})})
    sim = Sim(rules)
    sim.add("salesforce", dict(BASE), minute=0)
    result = sim.sync()
    create = result.delta_for("dynamics")
    assert create is not None and dict(create.fields) == {"email": "jo@acme.com"}
    assert result.delta_for("hubspot") == TargetDelta("hubspot", "create", dict(BASE))
    assert_quiet(sim)


def test_a_connection_no_longer_synced_is_neither_read_nor_written() -> None:
    sim = converged()
    sim.rules = SyncRules(("hubspot", "salesforce"))
    sim.edit("dynamics", "title", "VP", minute=10)
    result = sim.sync()
    assert result.writes == 0 and "dynamics" not in result.shadows


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="current values or a shadow"):
        ConnectionState("hubspot")
    state = ConnectionState("hubspot", dict(BASE))
    with pytest.raises(ValueError, match="appears twice"):
        reconcile(None, [state, state], SyncRules(CONNS))
