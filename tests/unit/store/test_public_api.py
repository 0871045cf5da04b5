"""The store's public surface is curated: everything in __all__ exists and nothing else is advertised."""

from __future__ import annotations

import crmsync.store


def test_all_names_exist_and_are_sorted() -> None:
    names = crmsync.store.__all__
    assert names == sorted(names)
    assert all(hasattr(crmsync.store, name) for name in names)
    assert {"open_store", "Store", "Transaction", "NewJob", "Job", "LeaseLostError"} <= set(names)
