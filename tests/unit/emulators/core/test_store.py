"""The versioned store: monotonic stamps, change log order, tombstones, unique indexes."""

from __future__ import annotations

import pytest

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.store import ChangeEvent, Store, UniqueViolation


def frozen_store(resolution_ms: int = 1) -> Store:
    clock = EmulatorClock(now=lambda: 1_700_000_000.0)
    clock.freeze()
    return Store(clock, stamp_resolution_ms=resolution_ms)


def test_stamps_never_go_backwards_when_the_clock_does() -> None:
    store = frozen_store()
    people = store.collection("people")
    first = people.insert("a", {"n": 1}, source="t")
    store.clock.advance(-60_000)
    second = people.insert("b", {"n": 2}, source="t")
    assert second.modified_ms == first.modified_ms
    assert second.version > first.version


def test_stamp_resolution_truncates_to_whole_seconds() -> None:
    store = frozen_store(resolution_ms=1000)
    store.clock.set(1_700_000_000_789)
    record = store.collection("c").insert("a", {}, source="t")
    assert record.modified_ms == 1_700_000_000_000


def test_changed_since_yields_each_record_once_in_stamp_order_with_tombstones() -> None:
    store = frozen_store()
    coll = store.collection("c")
    coll.insert("a", {"v": 1}, source="t")
    store.clock.advance(10)
    coll.insert("b", {"v": 1}, source="t")
    store.clock.advance(10)
    coll.update("a", {"v": 2}, source="t")
    store.clock.advance(10)
    coll.delete("b", source="t")
    since = store.clock.now_ms() - 25
    changed = list(coll.changed_since(since))
    assert [r.id for r in changed] == ["a", "b"]
    assert changed[1].deleted
    assert [r.id for r in coll.changed_since(0)] == ["a", "b"]


def test_changed_since_is_inclusive_of_records_sharing_the_boundary_stamp() -> None:
    store = frozen_store(resolution_ms=1000)
    coll = store.collection("c")
    for i in range(5):
        coll.insert(f"r{i}", {}, source="t")
    stamp = coll.records["r0"].modified_ms
    assert len(list(coll.changed_since(stamp))) == 5
    assert list(coll.changed_since(stamp, inclusive=False)) == []


def test_unique_index_rejects_duplicates_and_frees_values_on_delete_and_update() -> None:
    store = frozen_store()
    coll = store.collection("contacts")
    coll.declare_unique("email", lambda v: str(v).strip().lower())
    coll.insert("1", {"email": "A@x.com"}, source="t")
    with pytest.raises(UniqueViolation) as caught:
        coll.insert("2", {"email": " a@X.com"}, source="t")
    assert caught.value.existing_id == "1"
    coll.update("1", {"email": "b@x.com"}, source="t")
    coll.insert("2", {"email": "a@x.com"}, source="t")
    found = coll.find_unique("email", "B@X.COM")
    assert found is not None
    assert found.id == "1"
    coll.delete("1", source="t")
    assert coll.find_unique("email", "b@x.com") is None


def test_events_describe_each_write() -> None:
    store = frozen_store()
    events: list[ChangeEvent] = []
    store.subscribe(events.append)
    coll = store.collection("c")
    coll.insert("a", {"x": 1, "y": 2}, source="api")
    coll.update("a", {"x": 1, "y": 3}, source="ui")
    coll.delete("a", source="api", merged_into="b", kind="merge")
    coll.insert("z", {}, source="seed", emit=False)
    assert [(e.kind, e.changed, e.source) for e in events] == [
        ("create", ("x", "y"), "api"),
        ("update", ("y",), "ui"),
        ("merge", (), "api"),
    ]
    assert events[2].extra == {"merged_into": "b"}


def test_scan_from_gives_stable_positions_and_skips_deleted() -> None:
    store = frozen_store()
    coll = store.collection("c")
    for i in range(6):
        coll.insert(str(i), {}, source="t")
    coll.delete("2", source="t")
    positions = [(pos, rec.id) for pos, rec in coll.scan_from(1)]
    assert positions == [(1, "1"), (3, "3"), (4, "4"), (5, "5")]
    assert len(coll) == 5
    assert coll.get("2") is None
    assert coll.get("2", include_deleted=True) is not None


def test_restore_brings_a_record_back_with_a_new_stamp() -> None:
    store = frozen_store()
    coll = store.collection("c")
    coll.insert("a", {}, source="t")
    deleted = coll.delete("a", source="t")
    version = deleted.version
    restored = coll.restore("a", source="t")
    assert not restored.deleted
    assert restored.version > version


def test_log_compaction_keeps_change_feed_correct_under_many_updates() -> None:
    store = frozen_store()
    coll = store.collection("c")
    coll.insert("a", {"n": 0}, source="t")
    coll.insert("b", {"n": 0}, source="t")
    for n in range(10_000):
        coll.update("a", {"n": n}, source="t")
    assert [r.id for r in coll.changed_since(0)] == ["b", "a"]
    assert coll.log_size() < 10_000


def test_clear_keeps_unique_definitions() -> None:
    store = frozen_store()
    coll = store.collection("c")
    coll.declare_unique("k")
    coll.insert("a", {"k": 1}, source="t")
    store.clear()
    fresh = store.collection("c")
    fresh.insert("a", {"k": 1}, source="t")
    with pytest.raises(UniqueViolation):
        fresh.insert("b", {"k": 1}, source="t")
