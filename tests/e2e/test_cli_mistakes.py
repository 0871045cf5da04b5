"""Mistakes a new user makes, as the CLI answers them: one clear `error:` line and a consistent exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crmsync.cli.main import app
from tests.e2e.test_cli_operator import CONFIG, SECRETS


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    for name, secret in SECRETS.items():
        (tmp_path / "secrets" / name).write_text(secret + "\n", encoding="utf-8")
    return tmp_path


def crmsync(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config_file)], env={"COLUMNS": "250"})


def with_state_url(folder: Path, url: str) -> Path:
    path = folder / "crmsync.yaml"
    path.write_text(CONFIG.replace("url: sqlite:///state.db", f"url: {url}"), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [("sync",), ("sync", "--dry-run"), ("check",), ("status",)])
def test_a_state_database_in_a_missing_folder_is_one_config_error(folder: Path, command: tuple[str, ...]) -> None:
    result = crmsync(with_state_url(folder, "sqlite:///nodir/x.db"), *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: 1 mistake in the configuration:")
    assert (
        f"crmsync.yaml:2:3: state.url: the folder {folder / 'nodir'} of the SQLite state database x.db does not exist"
        in result.stderr
    )
    assert "Traceback" not in result.output and "OperationalError" not in result.output
    assert not (folder / "nodir").exists()
