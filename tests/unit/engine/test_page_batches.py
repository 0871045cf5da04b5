"""Which pages of a read share one transaction: small pages join, order-sensitive ones stay apart."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone
from crmsync.engine.ingest import CHUNK
from crmsync.engine.runner import _joins

_AT = datetime(2026, 11, 27, tzinfo=UTC)


def _page(*ids: str, deleted: tuple[str, ...] = ()) -> ChangePage:
    upserts = tuple(RemoteRecord("contacts", rid, {"email": f"{rid}@example.com"}, _AT) for rid in ids)
    tombstones = tuple(Tombstone("contacts", rid) for rid in deleted)
    return ChangePage(upserts, tombstones, Cursor(f"after-{ids[-1] if ids else 'none'}"), True)


def test_small_pages_join_until_a_chunk() -> None:
    batch = [_page(*(f"a{i}" for i in range(CHUNK - 100)))]
    assert _joins(batch, _page(*(f"b{i}" for i in range(100))))
    assert not _joins(batch, _page(*(f"b{i}" for i in range(101))))


def test_a_page_with_tombstones_may_close_a_batch_but_nothing_follows_it() -> None:
    assert _joins([_page("1", "2")], _page("3", deleted=("1",)))
    # Its tombstones go after every upsert of the transaction: a later page's restore of "9" would be undone.
    assert not _joins([_page("1", deleted=("9",))], _page("9"))


def test_a_record_met_again_waits_for_its_own_transaction() -> None:
    assert not _joins([_page("1", "2"), _page("3")], _page("4", "2"))
