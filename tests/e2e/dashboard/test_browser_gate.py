"""The browser tests' gate: a machine without Chromium skips them with a reason, unless CI=true makes them fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.dashboard import conftest


def test_a_missing_chromium_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "chromium")
    assert conftest._missing() == f"{tmp_path / 'chromium'} is missing (apt-get install chromium)"


def test_chromium_and_playwright_present_is_no_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.touch()
    monkeypatch.setattr(conftest, "CHROMIUM", fake)
    assert conftest._missing() is None
