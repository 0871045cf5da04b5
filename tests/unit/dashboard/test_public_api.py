"""The dashboard package's public surface is curated: everything in `__all__` exists, nothing else is promised."""

from __future__ import annotations

import crmsync.dashboard as dashboard


def test_all_names_exist_and_are_unique() -> None:
    assert all(hasattr(dashboard, name) for name in dashboard.__all__)
    assert len(dashboard.__all__) == len(set(dashboard.__all__))
    assert {"Dashboard", "Access", "hash_password", "verify_password"} <= set(dashboard.__all__)
