"""Mistakes a new user makes, as the CLI answers them: one clear `error:` line and a consistent exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crmsync.cli.main import app
from crmsync.config import load_config
from crmsync.store import Store
from tests.e2e.test_cli_operator import CONFIG, SECRETS, with_store


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


def test_an_unsupported_state_database_is_a_config_mistake_with_its_place(folder: Path) -> None:
    for command in (("sync",), ("status",), ("check",)):
        result = crmsync(with_state_url(folder, "mysql://db/crmsync"), *command)
        assert result.exit_code == 2, result.output
        assert "crmsync.yaml:2:3: state.url: unsupported state database 'mysql'" in result.stderr


def test_unknown_ids_are_errors_with_exit_code_1(folder: Path) -> None:
    config_file = with_state_url(folder, "sqlite:///state.db")
    assert crmsync(config_file, "sync", "--dry-run", "--object", "nothing").exit_code == 2  # a usage mistake
    with_store(load_config(config_file, environ={}), empty)  # an empty state database
    for args in (
        ("errors", "retry", "E9999"),
        ("errors", "retry", "J9999"),
        ("conflicts", "resolve", "9999", "--take", "sf"),
        ("explain", "contact", "9999"),
    ):
        result = crmsync(config_file, *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and "9999" in result.stderr, (args, result.stderr)


async def empty(_: Store) -> None:
    return None


def test_the_help_documents_the_exit_codes() -> None:
    text = " ".join(CliRunner().invoke(app, ["--help"], env={"COLUMNS": "250"}).output.split())
    assert "Exit codes: 0 done; 1 the work failed or was refused" in text
    assert "2 a usage or configuration mistake" in text


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("worker",), ("status",)])
def test_a_state_database_that_does_not_answer_is_one_error_line(folder: Path, command: tuple[str, ...]) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://crmsync:pw-0f-db@127.0.0.1:{port}/crmsync"
    config_file = with_state_url(folder, "{env: CRMSYNC_STATE_URL}")
    result = CliRunner().invoke(
        app, [*command, "--config", str(config_file)], env={"COLUMNS": "250", "CRMSYNC_STATE_URL": url}
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"error: cannot use the state database at postgresql://crmsync:***@127.0.0.1:{port}"
    )
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "pw-0f-db" not in result.output and "serving on" not in result.output


def test_serve_on_a_port_in_use_is_one_error_line_before_anything_starts(folder: Path) -> None:
    config_file = with_state_url(folder, "sqlite:///state.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = crmsync(config_file, "serve", "--port", str(port))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: address already in use;")
    assert "--port" in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert not (folder / "state.db").exists()  # nothing registered, polled or stored before the refusal
