"""The config package's public surface is curated: everything in `__all__` exists, nothing else is promised."""

from __future__ import annotations

import crmsync.config as config


def test_all_names_exist_and_are_unique() -> None:
    assert all(hasattr(config, name) for name in config.__all__)
    assert len(config.__all__) == len(set(config.__all__))
    assert {"SyncConfig", "load_config", "parse_config", "ConfigFileError", "example_config"} <= set(config.__all__)
