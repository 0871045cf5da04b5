"""A full delivery round gives back the part-filled last vendor batch of each write kind (API calls at the minimum)."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.connectors.base import WriteKind, WriteOp
from crmsync.engine import deliver
from crmsync.engine.outbox import WriteTarget
from crmsync.store import Job

AT = datetime(2026, 1, 2, tzinfo=UTC)


def _planned(number: int, kind: WriteKind | None) -> deliver._Planned:
    job = Job(number, f"sf/c{number}", "write:contact:sf", {}, "running", 0, 1, AT, "w", AT, None, AT)
    op = WriteOp(kind, f"c{number}") if kind is not None else None
    return deliver._Planned(job, WriteTarget("contact", f"c{number}", "sf"), op)


def _round(upserts: int, updates: int, nothing: int) -> list[deliver._Planned]:
    upsert: list[WriteKind | None] = ["upsert"]
    update: list[WriteKind | None] = ["update"]
    kinds = upsert * upserts + update * updates + [None] * nothing
    return [_planned(n, kind) for n, kind in enumerate(kinds)]


def test_a_full_round_keeps_whole_vendor_batches_and_gives_back_each_kinds_tail() -> None:
    planned = _round(750, 250, 40)  # 1,000 writes: a full round, so more writes wait
    kept, put_back = deliver._without_tails(planned, 200)
    kept_kinds = [item.op.kind for item in kept if item.op is not None]
    assert (kept_kinds.count("upsert"), kept_kinds.count("update")) == (600, 200)
    assert len([item for item in kept if item.op is None]) == 40  # jobs with nothing to write settle as before
    assert sorted(item.job.id for item in put_back) == list(range(600, 750)) + list(range(950, 1000))


def test_a_round_that_is_not_full_is_the_last_and_sends_everything() -> None:
    planned = _round(150, 130, 0)
    assert deliver._without_tails(planned, 100) == (planned, [])


def test_a_kind_with_less_than_one_vendor_batch_is_kept_whole() -> None:
    planned = _round(990, 10, 0)
    kept, put_back = deliver._without_tails(planned, 200)
    assert [item.job.id for item in put_back] == list(range(800, 990))
    assert sum(1 for item in kept if item.op is not None and item.op.kind == "update") == 10


def test_a_connector_that_does_not_say_its_batch_size_is_sent_as_claimed() -> None:
    planned = _round(1000, 0, 0)
    assert deliver._without_tails(planned, None) == (planned, [])
