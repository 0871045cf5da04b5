"""Applying an operator's decisions to a SQLite state store: resolving a parked conflict, re-queueing failed work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmsync.config import SyncConfig
from crmsync.engine.resolution import ValueType, parse_value, resolve, value_type
from crmsync.engine.retrying import retry
from crmsync.engine.state import gone_from, with_gone
from crmsync.engine.tombstones import DELETED_FIELD
from crmsync.engine.views.common import OperatorError
from crmsync.model.rules import Policy
from crmsync.model.values import CanonicalRecord, CanonicalValue
from crmsync.store import ConflictSide, GoldenRecord, Link, Provenance, Shadow, Store, open_store
from tests.unit.engine.test_inspect import ADA, T0, T1, T2, World, make_config, seed
from tests.unit.store.helpers import FakeClock


@pytest.fixture
def config(tmp_path: Path) -> SyncConfig:
    return make_config(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(config: SyncConfig, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(config.state_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def world(store: Store) -> World:
    return await seed(store)


async def write_jobs(store: Store) -> dict[str, str]:
    """Live write jobs by key → status."""
    async with store.read() as tx:
        return {j.key: j.status for j in await tx.jobs.list() if j.kind.startswith("write:") and j.status != "done"}


async def test_taking_a_side_stores_golden_closes_conflict_audits_and_queues_writes(
    store: Store, config: SyncConfig, clock: FakeClock, world: World
) -> None:
    outcome = await resolve(store, config, world.conflict_id, choice_connection="hs", by="alice")
    assert (outcome.canonical_id, outcome.kind, outcome.field) == ("c1", "contact", "title")
    assert (outcome.previous, outcome.value, outcome.source, outcome.by) == ("Engineer", "Chief", "hs", "alice")
    # sf holds its losing side and dv the old base; hs already has the value.
    assert {w.connection: w.fields for w in outcome.writes} == {"dv": ("phone", "title"), "sf": ("title",)}
    assert outcome.version == 2
    async with store.read() as tx:
        golden = await tx.records.get("c1")
        assert golden is not None
        assert golden.record.fields["title"] == "Chief"
        assert golden.provenance["title"] == Provenance("hs", clock.now, "manual")
        assert golden.provenance["phone"] == Provenance("sf", T1, "last_writer_wins")  # untouched
        conflict = await tx.conflicts.get(world.conflict_id)
        assert conflict is not None
        assert (conflict.resolved, conflict.resolution, conflict.resolved_by) == (True, "Chief", "alice")
        entry = (await tx.audit.list("c1", "title"))[-1]
        assert (entry.old, entry.new, entry.connection, entry.reason, entry.at) == (
            "Engineer",
            "Chief",
            "alice",
            "manual",
            clock.now,
        )
    assert await write_jobs(store) == {"dv/c1": "pending", "sf/c1": "pending", "hs/c2": "dead"}


async def test_a_typed_value_is_parsed_to_the_fields_type_and_written_everywhere(
    store: Store, config: SyncConfig, world: World
) -> None:
    outcome = await resolve(store, config, world.conflict_id, value="Head of Engines")
    assert (outcome.value, outcome.source, outcome.by) == ("Head of Engines", None, "cli")
    assert {w.connection for w in outcome.writes} == {"dv", "hs", "sf"}
    async with store.read() as tx:
        golden = await tx.records.get("c1")
        assert golden is not None
        assert golden.provenance["title"].connection is None
        assert golden.provenance["title"].reason == "manual"


async def test_a_typed_number_must_be_a_number(store: Store, config: SyncConfig) -> None:
    async with store.begin() as tx:
        await tx.links.link(Link("d1", "deal", "sf", "Opportunity", "006A"))
        await tx.links.link(Link("d1", "deal", "hs", "deals", "901"))
        await tx.records.put(
            GoldenRecord(
                CanonicalRecord("d1", "deal", {"name": "Big", "amount": 100.0}), {"amount": Provenance("sf", T0)}
            )
        )
        await tx.shadows.put(Shadow("d1", "sf", {"name": "Big", "amount": 150.0}))
        await tx.shadows.put(Shadow("d1", "hs", {"name": "Big", "amount": 175.5}))
        conflict = await tx.conflicts.park(
            "d1", "amount", 100.0, [ConflictSide("hs", 175.5, T2), ConflictSide("sf", 150.0, T1)]
        )
    with pytest.raises(OperatorError, match="amount: 'lots' is not a number"):
        await resolve(store, config, conflict.id, value="lots")
    async with store.read() as tx:
        still = await tx.conflicts.get(conflict.id)
        assert still is not None and not still.resolved  # nothing was stored
    outcome = await resolve(store, config, conflict.id, value="160")
    assert outcome.value == 160.0
    # dv never held the deal: a synced connection without it gets a create.
    assert {(w.connection, w.operation) for w in outcome.writes} == {
        ("dv", "create"),
        ("hs", "update"),
        ("sf", "update"),
    }


async def test_other_open_conflicts_stay_parked_and_are_written_nowhere(
    store: Store, config: SyncConfig, world: World
) -> None:
    async with store.begin() as tx:
        other = await tx.conflicts.park(
            "c1", "email", "ada@x.io", [ConflictSide("dv", "ada@y.io", T1), ConflictSide("hs", "ada@z.io", T2)]
        )
        await tx.shadows.put(Shadow("c1", "dv", {**ADA, "email": "ada@y.io", "phone": None}))
    # The email policy is last_writer_wins now: a conflict parked under an older manual policy is settled on the way.
    outcome = await resolve(store, config, world.conflict_id, choice_connection="sf")
    assert outcome.closed == ("email",)
    async with store.read() as tx:
        settled = await tx.conflicts.get(other.id)
        assert settled is not None and (settled.resolved, settled.resolved_by) == (True, "crmsync (settled)")


async def test_a_still_manual_conflict_on_another_field_is_withheld(store: Store, config: SyncConfig) -> None:
    fields: dict[str, CanonicalValue] = {"name": "Big", "amount": 100.0, "stage": "Prospecting"}
    async with store.begin() as tx:
        await tx.links.link(Link("d1", "deal", "sf", "Opportunity", "006A"))
        await tx.links.link(Link("d1", "deal", "hs", "deals", "901"))
        await tx.records.put(GoldenRecord(CanonicalRecord("d1", "deal", fields), {}))
        await tx.shadows.put(Shadow("d1", "sf", {**fields, "amount": 150.0, "name": "Bigger"}))
        await tx.shadows.put(Shadow("d1", "hs", {**fields, "amount": 175.5}))
        amount = await tx.conflicts.park(
            "d1", "amount", 100.0, [ConflictSide("hs", 175.5, T2), ConflictSide("sf", 150.0, T1)]
        )
        name = await tx.conflicts.park(
            "d1", "name", "Big", [ConflictSide("hs", "Huge", T2), ConflictSide("sf", "Bigger", T1)]
        )
    config_manual_name = make_config_with_manual_name(config)
    outcome = await resolve(store, config_manual_name, name.id, choice_connection="sf")
    assert outcome.closed == ()
    # No copy's amount is overwritten while its conflict waits; a connection with no copy gets the golden one.
    assert all("amount" not in w.fields for w in outcome.writes if w.connection in ("sf", "hs"))
    assert all("amount" in w.fields for w in outcome.writes if w.operation == "create")
    async with store.read() as tx:
        still = await tx.conflicts.get(amount.id)
        assert still is not None and not still.resolved


def make_config_with_manual_name(config: SyncConfig) -> SyncConfig:
    deal = config.object("deal")
    rules = replace(deal.rules, field_policies={**deal.rules.field_policies, "name": Policy.manual()})
    return replace(config, objects={**config.objects, "deal": replace(deal, rules=rules)})


async def test_refuses_what_the_operator_can_fix(store: Store, config: SyncConfig, world: World) -> None:
    with pytest.raises(OperatorError, match="exactly one"):
        await resolve(store, config, world.conflict_id)
    with pytest.raises(OperatorError, match="exactly one"):
        await resolve(store, config, world.conflict_id, choice_connection="hs", value="x")
    with pytest.raises(OperatorError, match="no conflict #42"):
        await resolve(store, config, 42, choice_connection="hs")
    with pytest.raises(OperatorError, match=r"no side from 'dv' \(sides: hs, sf\)"):
        await resolve(store, config, world.conflict_id, choice_connection="dv")
    await resolve(store, config, world.conflict_id, choice_connection="sf", by="bob")
    with pytest.raises(OperatorError, match="already resolved by bob"):
        await resolve(store, config, world.conflict_id, choice_connection="hs")


async def test_taking_the_delete_side_deletes_everywhere_else(store: Store, config: SyncConfig) -> None:
    conflict_id = await park_delete_conflict(store)
    outcome = await resolve(store, config, conflict_id, choice_connection="dv", by="carol")
    assert outcome.value is True
    assert {(w.connection, w.operation) for w in outcome.writes} == {("hs", "delete"), ("sf", "delete")}
    async with store.read() as tx:
        golden = await tx.records.get("c9")
        assert golden is not None and golden.deleted
        [entry] = await tx.audit.list("c9", DELETED_FIELD)
        assert (entry.new, entry.connection, entry.reason) == (True, "carol", "manual")


async def test_taking_the_edit_side_brings_the_record_back_where_it_was_deleted(
    store: Store, config: SyncConfig
) -> None:
    conflict_id = await park_delete_conflict(store)
    outcome = await resolve(store, config, conflict_id, choice_connection="hs")
    assert outcome.value is False
    assert [(w.connection, w.operation) for w in outcome.writes] == [("dv", "create")]
    async with store.read() as tx:
        golden = await tx.records.get("c9")
        assert golden is not None and not golden.deleted
        assert gone_from(golden) == ()
    assert (await write_jobs(store))["dv/c9"] == "pending"


async def park_delete_conflict(store: Store) -> int:
    """Contact c9 deleted in dv while edited in hs: the tombstone handler's parked conflict (S13).

    The handler unlinked the deleted copy: c9 is linked in sf and hs only.
    """
    async with store.begin() as tx:
        for connection, obj, remote in (("sf", "Contact", "003Z"), ("hs", "contacts", "599")):
            await tx.links.link(Link("c9", "contact", connection, obj, remote))
        stored = await tx.records.put(
            GoldenRecord(CanonicalRecord("c9", "contact", {"email": "z@x.io"}), {"email": Provenance("hs", T1)})
        )
        await tx.records.put(with_gone(stored, "dv"))
        conflict = await tx.conflicts.park(
            "c9", DELETED_FIELD, False, [ConflictSide("dv", True, T2), ConflictSide("hs", False, T1)]
        )
    return conflict.id


async def test_retrying_a_failed_write_queues_the_write_and_keeps_the_error_until_it_settles(
    store: Store, config: SyncConfig, world: World
) -> None:
    outcome = await retry(store, config, error_ids=[world.error_id, world.duplicate_id, 77])
    [requeued] = outcome.requeued
    assert (requeued.what, requeued.id, requeued.job_kind, requeued.key) == (
        "sync_error",
        world.error_id,
        "write:contact:dv",
        "dv/c2",
    )
    reasons = {s.id: s.reason for s in outcome.skipped}
    assert reasons[77] == "no such sync error"
    assert "duplicate group" in reasons[world.duplicate_id]
    async with store.read() as tx:
        # Still listed under its id: the retried write clears it, or counts it again if it fails again.
        assert [e.id for e in await tx.errors.list()] == [world.error_id, world.duplicate_id]
        reads = {j.key for j in await tx.jobs.list("pending") if j.kind.startswith("refetch:")}
    assert (await write_jobs(store))["dv/c2"] == "pending"
    # Grace is read again where she is held (sf, hs), so a fix made at the source travels with the retried write.
    assert outcome.reads == 2
    assert reads == {"in:sf/Contact/003C", "in:hs/contacts/502"}


async def test_retrying_a_dead_job_gives_it_fresh_attempts(store: Store, config: SyncConfig, world: World) -> None:
    outcome = await retry(store, config, job_ids=[world.dead_job_id, world.pending_job_id])
    assert [(r.what, r.id, r.key, r.jobs) for r in outcome.requeued] == [("dead_job", world.dead_job_id, "hs/c2", 1)]
    assert [(s.id, s.reason) for s in outcome.skipped] == [(world.pending_job_id, "the job is pending, not dead")]
    async with store.read() as tx:
        job = await tx.jobs.get(world.dead_job_id)
        assert job is not None and (job.status, job.attempts) == ("pending", 0)


async def test_retrying_everything_takes_every_retryable_error_and_dead_job(
    store: Store, config: SyncConfig, world: World
) -> None:
    outcome = await retry(store, config, everything=True)
    assert {(r.what, r.id) for r in outcome.requeued} == {
        ("sync_error", world.error_id),
        ("dead_job", world.dead_job_id),
    }
    assert outcome.skipped == ()  # the duplicate group is simply not retryable
    # The error is still listed (nothing ran yet), but its write is queued already: --all leaves it be.
    again = await retry(store, config, everything=True)
    assert (again.requeued, again.skipped) == ((), ())
    # Named, it is queued again, into the same pending job.
    named = await retry(store, config, error_ids=[world.error_id])
    assert [(r.what, r.id) for r in named.requeued] == [("sync_error", world.error_id)]
    async with store.read() as tx:
        assert len(await tx.jobs.list("pending", key="dv/c2", kind="write:contact:dv")) == 1


def test_value_type_follows_the_values_a_field_holds() -> None:
    assert value_type(["a", None]) == "str"
    assert value_type([1, 2.5]) == "float"
    assert value_type([3, None]) == "int"
    assert value_type([True]) == "bool"
    assert value_type([date(2026, 1, 2)]) == "date"
    assert value_type([datetime(2026, 1, 2, tzinfo=UTC)]) == "datetime"
    assert value_type([("a", "b")]) == "multi"
    assert value_type([None, None]) == "str"
    with pytest.raises(OperatorError, match="several types"):
        value_type(["a", 1])


def test_parse_value_reads_each_canonical_type_and_explains_mistakes() -> None:
    assert parse_value("CTO", "str") == "CTO"
    assert parse_value("", "int") is None
    assert parse_value("  ", "str") is None
    assert parse_value("42", "int") == 42
    assert parse_value("4.5", "float") == 4.5
    assert parse_value("Yes", "bool") is True
    assert parse_value("0", "bool") is False
    assert parse_value("2026-03-01", "date") == date(2026, 3, 1)
    assert parse_value("2026-03-01T10:00:00+02:00", "datetime") == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert parse_value("2026-03-01T10:00:00", "datetime") == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_value("b; a;;a", "multi") == ("a", "b")
    mistakes: list[tuple[str, ValueType, str]] = [
        ("4.5", "int", "a whole number"),
        ("nan", "float", "a number"),
        ("maybe", "bool", "true or false"),
        ("01/03/2026", "date", "YYYY-MM-DD"),
        ("tomorrow", "datetime", "ISO 8601"),
    ]
    for text, kind, expected in mistakes:
        with pytest.raises(OperatorError, match=expected):
            parse_value(text, kind)


async def test_keeping_golden_keeps_the_value_golden_holds_now_and_writes_it_everywhere(
    store: Store, config: SyncConfig, world: World
) -> None:
    outcome = await resolve(store, config, world.conflict_id, choice_connection="golden", by="dora")
    assert (outcome.previous, outcome.value, outcome.source) == ("Engineer", "Engineer", None)
    assert {w.connection for w in outcome.writes if "title" in w.fields} == {"hs", "sf"}  # both sides lose
    async with store.read() as tx:
        golden = await tx.records.get("c1")
        assert golden is not None and golden.record.fields["title"] == "Engineer"
        conflict = await tx.conflicts.get(world.conflict_id)
        assert conflict is not None and (conflict.resolved, conflict.resolved_by) == (True, "dora")


async def test_keeping_golden_on_a_first_meeting_names_the_sides_to_take(store: Store, config: SyncConfig) -> None:
    async with store.begin() as tx:
        await tx.links.link(Link("c7", "contact", "sf", "Contact", "003F"))
        await tx.records.put(GoldenRecord(CanonicalRecord("c7", "contact", {"email": "f@x.io"}), {}))
        conflict = await tx.conflicts.park(
            "c7", "title", None, [ConflictSide("hs", "Chief", T2), ConflictSide("sf", "CTO", T1)]
        )
    with pytest.raises(OperatorError, match=r"first meeting.*none to keep; take a side \(--take hs \| --take sf\)"):
        await resolve(store, config, conflict.id, choice_connection="golden")


async def test_keeping_golden_on_a_delete_conflict_keeps_the_record(store: Store, config: SyncConfig) -> None:
    conflict_id = await park_delete_conflict(store)
    outcome = await resolve(store, config, conflict_id, choice_connection="golden")
    assert outcome.value is False
    assert [(w.connection, w.operation) for w in outcome.writes] == [("dv", "create")]


async def park_stage_conflict(store: Store) -> int:
    """Deal d5 whose stage changed differently in sf and hs (both stages of the default value maps)."""
    fields: dict[str, CanonicalValue] = {"name": "Big", "stage": "qualification"}
    async with store.begin() as tx:
        await tx.links.link(Link("d5", "deal", "sf", "Opportunity", "006S"))
        await tx.links.link(Link("d5", "deal", "hs", "deals", "905"))
        await tx.records.put(GoldenRecord(CanonicalRecord("d5", "deal", fields), {"stage": Provenance("sf", T0)}))
        await tx.shadows.put(Shadow("d5", "sf", {**fields, "stage": "proposal"}))
        await tx.shadows.put(Shadow("d5", "hs", {**fields, "stage": "negotiation"}))
        conflict = await tx.conflicts.park(
            "d5", "stage", "qualification", [ConflictSide("hs", "negotiation", T2), ConflictSide("sf", "proposal", T1)]
        )
    return conflict.id


async def test_a_typed_value_outside_the_fields_value_maps_is_refused_before_anything_is_stored(
    store: Store, config: SyncConfig
) -> None:
    conflict_id = await park_stage_conflict(store)
    with pytest.raises(OperatorError) as refused:
        await resolve(store, config, conflict_id, value="not_a_stage")
    message = str(refused.value)
    assert message.startswith("stage: 'not_a_stage' is not a value of deal.stage (no mapping to sf, hs, dv)")
    assert "allowed values: prospecting, qualification, needs_analysis," in message and "churned" in message
    async with store.read() as tx:
        still = await tx.conflicts.get(conflict_id)
        assert still is not None and not still.resolved
    outcome = await resolve(store, config, conflict_id, value="closed_won")
    assert outcome.value == "closed_won"
    # A field without a value map takes any text.
    world = await seed(store)
    assert (await resolve(store, config, world.conflict_id, value="Anything at all")).value == "Anything at all"
