"""Shared helpers of the config tests: parse text with an injected environment, collect the issues."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from crmsync.config import ConfigFileError, SyncConfig, parse_config

HUBSPOT_ONLY = """\
connections:
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
"""
ENV = {"HS_TOKEN": "pat-na1-very-secret-token"}


def parse(text: str, environ: Mapping[str, str] | None = None, base_dir: Path | None = None) -> SyncConfig:
    return parse_config(text, "crmsync.yaml", environ=ENV if environ is None else environ, base_dir=base_dir)


def issues_of(text: str, environ: Mapping[str, str] | None = None, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        parse(text, environ, base_dir)
    return [str(issue) for issue in caught.value.issues]
