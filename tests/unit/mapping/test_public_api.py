"""The mapping package's public surface is curated: everything in `__all__` exists, nothing else is promised."""

from __future__ import annotations

import crmsync.mapping as mapping


def test_all_names_exist_and_are_sorted() -> None:
    assert all(hasattr(mapping, name) for name in mapping.__all__)
    assert sorted(mapping.__all__) == sorted(set(mapping.__all__))
    assert {"default_mappings", "load_mappings", "Mappings", "MappingProblem", "MappingConfigError"} <= set(
        mapping.__all__
    )
