"""While more writes wait, a delivery round gives back each write kind's part-filled vendor batch (minimum calls)."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.connectors.base import WriteKind, WriteOp
from crmsync.engine import deliver
from crmsync.engine.delivery_types import Planned
from crmsync.engine.outbox import WriteTarget
from crmsync.store import Job

AT = datetime(2026, 1, 2, tzinfo=UTC)


def _planned(number: int, kind: WriteKind | None) -> Planned:
    job = Job(number, f"sf/c{number}", "write:contact:sf", {}, "running", 0, 1, AT, "w", AT, None, AT)
    op = WriteOp(kind, f"c{number}") if kind is not None else None
    return Planned(job, WriteTarget("contact", f"c{number}", "sf"), op)


def _round(upserts: int, updates: int, nothing: int) -> list[Planned]:
    upsert: list[WriteKind | None] = ["upsert"]
    update: list[WriteKind | None] = ["update"]
    kinds = upsert * upserts + update * updates + [None] * nothing
    return [_planned(n, kind) for n, kind in enumerate(kinds)]


def test_a_round_with_more_waiting_keeps_whole_vendor_batches_and_gives_back_each_kinds_tail() -> None:
    planned = _round(750, 250, 40)
    kept, put_back = deliver._without_tails(planned, 200, drained=False)
    kept_kinds = [item.op.kind for item in kept if item.op is not None]
    assert (kept_kinds.count("upsert"), kept_kinds.count("update")) == (600, 200)
    assert len([item for item in kept if item.op is None]) == 40  # jobs with nothing to write settle as before
    assert sorted(item.job.id for item in put_back) == list(range(600, 750)) + list(range(950, 1000))


def test_a_round_that_drained_the_outbox_is_the_last_and_sends_everything() -> None:
    planned = _round(150, 130, 0)
    assert deliver._without_tails(planned, 100, drained=True) == (planned, [])


def test_a_kind_with_less_than_one_vendor_batch_waits_for_more_while_more_wait() -> None:
    # The few updates among a first sync's creates: sent with every round, each made a call of its own.
    planned = _round(990, 10, 0)
    kept, put_back = deliver._without_tails(planned, 200, drained=False)
    assert sorted(item.job.id for item in put_back) == list(range(800, 1000))
    assert [item.op.kind for item in kept if item.op is not None] == ["upsert"] * 800


def test_a_round_of_tails_only_is_sent_rather_than_given_back_forever() -> None:
    planned = _round(150, 30, 0)
    assert deliver._without_tails(planned, 200, drained=False) == (planned, [])


def test_a_round_of_tails_and_jobs_with_nothing_to_write_gives_the_tails_back() -> None:
    planned = _round(150, 0, 5)  # the five jobs settle, so the round makes progress
    kept, put_back = deliver._without_tails(planned, 200, drained=False)
    assert [item.job.id for item in put_back] == list(range(150))
    assert all(item.op is None for item in kept) and len(kept) == 5


def test_a_vendor_batch_that_mixes_kinds_has_one_tail_per_round() -> None:
    planned = _round(700, 350, 0)  # Dataverse: creates and updates share a `$batch`
    kept, put_back = deliver._without_tails(planned, 1000, drained=False, mixed=True)
    assert len(kept) == 1000
    assert [item.job.id for item in put_back] == list(range(1000, 1050))


def test_a_tail_that_waited_long_enough_is_sent_part_filled() -> None:
    planned = _round(990, 10, 0)
    overdue = {995}  # an update given back `TAIL_WAIT` ago: a steady stream of creates must not hold it forever
    kept, put_back = deliver._without_tails(planned, 200, drained=False, overdue=overdue)
    assert [item.job.id for item in put_back] == list(range(800, 990))
    assert sum(1 for item in kept if item.op is not None and item.op.kind == "update") == 10


def test_a_connector_that_does_not_say_its_batch_size_is_sent_as_claimed() -> None:
    planned = _round(1000, 0, 0)
    assert deliver._without_tails(planned, None, drained=False) == (planned, [])
