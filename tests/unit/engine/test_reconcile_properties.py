"""Property tests of reconcile: echo suppression, convergence, deterministic and order-independent results."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.engine.merge import Choice, reconcile, resolve_conflict
from crmsync.engine.reconcile_types import ConnectionState
from crmsync.engine.targets import target_deltas
from crmsync.model.golden import GoldenField, GoldenRecord
from crmsync.model.rules import Direction, Policy, SyncRules
from crmsync.model.values import CanonicalValue
from tests.unit.engine.sim import Sim, at

CONNS = ("dynamics", "hubspot", "salesforce")
FIELDS = ("email", "phone", "title", "tags")
VALUES: dict[str, list[CanonicalValue]] = {
    "email": [None, "a@x.com", "b@x.com"],
    "phone": [None, "+1555", "+1666", "+1777"],
    "title": [None, "CEO", "CTO", "VP"],
    "tags": [None, ("x",), ("x", "y")],
}


def policies() -> st.SearchStrategy[Policy]:
    prefer = st.permutations(CONNS).flatmap(lambda p: st.integers(1, len(p)).map(lambda n: tuple(p[:n])))
    return st.one_of(
        st.builds(Policy.last_writer_wins, unless_blank=st.booleans()),
        st.builds(lambda p, b: Policy.preferring(*p, unless_blank=b), prefer, st.booleans()),
        st.builds(Policy.manual, unless_blank=st.booleans()),
    )


def directions() -> st.SearchStrategy[Direction]:
    return st.one_of(
        st.just(Direction.both()),
        st.sampled_from(CONNS).map(Direction.to),
        st.sampled_from(CONNS).map(Direction.from_),
        st.just(Direction.none()),
    )


@st.composite
def sync_rules(draw: st.DrawFn) -> SyncRules:
    return SyncRules(
        CONNS,
        policy=draw(policies()),
        field_policies=draw(st.dictionaries(st.sampled_from(FIELDS), policies(), max_size=2)),
        directions=draw(st.dictionaries(st.sampled_from(FIELDS), directions(), max_size=2)),
        # Every connection maps email; the others at random (not every CRM has every field).
        connection_fields={
            c: frozenset({"email", *draw(st.sets(st.sampled_from(FIELDS)), label=f"{c} maps")}) for c in CONNS
        },
    )


def record_values() -> st.SearchStrategy[dict[str, CanonicalValue]]:
    return st.fixed_dictionaries({name: st.sampled_from(pool) for name, pool in VALUES.items()})


def edits() -> st.SearchStrategy[list[tuple[str, str, CanonicalValue]]]:
    edit = st.sampled_from(FIELDS).flatmap(
        lambda f: st.tuples(st.sampled_from(CONNS), st.just(f), st.sampled_from(VALUES[f]))
    )
    return st.lists(edit, max_size=5)


def assert_settled(sim: Sim) -> None:
    """Echo: reading everything again writes nothing; convergence: every receiver holds the golden value."""
    again = sim.reconcile()
    assert again.writes == 0, again.deltas
    assert (again.audit, again.parked, again.closed, again.resolved) == ((), (), (), ())
    assert sim.golden is not None
    for connection, remote in sim.remotes.items():
        for name in FIELDS:
            if name in sim.parked or not sim.rules.direction_for(name).writes_to(connection):
                continue
            if not sim.rules.maps(connection, name):
                continue
            want = sim.golden.value(name)
            if want is None and sim.rules.policy_for(name).unless_blank:
                continue  # a blank golden value never clears a receiver's value
            assert remote.values.get(name) == want, (connection, name)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), rules=sync_rules(), field_times=st.booleans())
def test_random_edits_converge_and_a_second_reconcile_writes_nothing(
    data: st.DataObject, rules: SyncRules, field_times: bool
) -> None:
    sim = Sim(rules, field_times=field_times, schema=FIELDS)
    holders = data.draw(st.lists(st.sampled_from(CONNS), min_size=1, max_size=3, unique=True), label="holders")
    for connection in holders:
        sim.add(connection, data.draw(record_values(), label=connection), minute=data.draw(st.integers(0, 3)))
    sim.clock = 4
    sim.sync()
    assert_settled(sim)
    assert set(sim.remotes) == set(CONNS)  # every synced connection now holds the record
    for _ in range(data.draw(st.integers(1, 4), label="rounds")):
        sim.clock += data.draw(st.integers(0, 2))  # zero: ties between edits in several systems
        edited = set()
        for connection, name, value in data.draw(edits(), label="edits"):
            sim.edit(connection, name, value)
            edited.add(connection)
        read = edited | data.draw(st.sets(st.sampled_from(CONNS)), label="also read")
        parked_before = set(sim.parked)
        result = sim.sync(read=read)
        still_parked = parked_before - set(result.closed) | {c.field for c in result.parked}
        assert still_parked == set(sim.parked)  # no parked conflict is lost
        assert all(not set(d.fields) & still_parked for d in result.deltas)  # parked fields are never written
        assert_settled(sim)
    # A person settles every parked conflict with one side's value: the choice reaches every receiver.
    for conflict in sorted(sim.parked.values(), key=lambda c: c.field):
        pick = data.draw(st.sampled_from(conflict.sides), label=f"choice for {conflict.field}")
        chosen = resolve_conflict(
            sim.golden,
            conflict,
            Choice(pick.value, pick.connection),
            sim.states(),
            sim.rules,
            parked=sim.parked.values(),
            at=at(sim.clock),
        )
        sim.apply(chosen)
        assert conflict.field not in sim.parked and sim.golden is not None
        assert sim.golden.value(conflict.field) == pick.value
        assert_settled(sim)


@st.composite
def connection_states(draw: st.DrawFn) -> list[ConnectionState]:
    holders = draw(st.lists(st.sampled_from(CONNS), min_size=1, max_size=3, unique=True))
    states = []
    for connection in holders:
        shadow = draw(st.none() | record_values())
        current = record_values() if shadow is None else st.none() | record_values()
        minute = draw(st.integers(0, 2))  # few distinct times: plenty of ties
        states.append(ConnectionState(connection, draw(current), shadow, at(minute)))
    return states


@settings(max_examples=100, deadline=None)
@given(
    rules=sync_rules(),
    states=connection_states(),
    golden=st.none() | record_values(),
    seed=st.integers(0, 2**32 - 1),
)
def test_result_does_not_depend_on_input_order(
    rules: SyncRules, states: list[ConnectionState], golden: dict[str, CanonicalValue] | None, seed: int
) -> None:
    record = None
    if golden is not None:
        record = GoldenRecord({k: GoldenField(v, "salesforce", at(1)) for k, v in golden.items()})
    shuffled = list(states)
    random.Random(seed).shuffle(shuffled)
    assert reconcile(record, shuffled, rules) == reconcile(record, states, rules)


@settings(max_examples=100, deadline=None)
@given(
    rules=sync_rules(),
    states=connection_states(),
    golden=record_values(),
    withheld=st.sets(st.sampled_from(FIELDS), max_size=2),
)
def test_the_delta_of_one_connection_is_that_connections_share_of_all_of_them(
    rules: SyncRules, states: list[ConnectionState], golden: dict[str, CanonicalValue], withheld: set[str]
) -> None:
    every = target_deltas(golden, states, rules, withheld)
    for connection in CONNS:
        mine = tuple(d for d in every if d.connection == connection)
        assert target_deltas(golden, states, rules, withheld, only=connection) == mine
