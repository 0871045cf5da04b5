"""`state.redis_url` naming a database the Redis server does not have: one `error:` line at start, not waits later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import typer

from crmsync.cli.serve import usable_state
from crmsync.config import load_config
from tests.e2e.test_cli_operator import CONFIG, SECRETS
from tests.integration.store.redis_server import redis_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis

PASSWORD = "pw-0f-redis"  # a server without a password accepts any (redis-py drops the AUTH it refuses)
MISSING_DATABASE = 99  # Redis has 16 databases unless `databases` in redis.conf says otherwise


def with_database(url: str, database: int) -> str:
    """`url` selecting `database`, with a password in it to show that errors mask it."""
    parts = urlsplit(url)
    netloc = parts.netloc if parts.password else f":{PASSWORD}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def started(folder: Path, url: str, *command: str) -> subprocess.CompletedProcess[str]:
    """Run the command until it exits; the timeout stands for "it started and served instead of refusing"."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *command, "--config", str(folder / "crmsync.yaml")],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_REDIS_URL": url},
        cwd=folder,
        timeout=60,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    for name, secret in SECRETS.items():
        (tmp_path / "secrets" / name).write_text(secret + "\n", encoding="utf-8")
    config = CONFIG.replace(
        "  url: sqlite:///state.db\n", "  url: sqlite:///state.db\n  redis_url: {env: CRMSYNC_REDIS_URL}\n"
    )
    assert config != CONFIG
    (tmp_path / "crmsync.yaml").write_text(config, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("worker",)])
def test_a_redis_database_the_server_does_not_have_is_one_error_line(
    folder: Path,
    redis_url: str,  # noqa: F811
    command: tuple[str, ...],
) -> None:
    url = with_database(redis_url, MISSING_DATABASE)
    try:
        result = started(folder, url, *command)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`crmsync {' '.join(command)}` started with Redis database {MISSING_DATABASE}, which is missing")
    assert result.returncode == 1, result.stdout + result.stderr
    safe = url.replace(urlsplit(url).password or "", "***")
    assert result.stderr.startswith(
        f"error: state.redis_url: the Redis server at {safe} has no database {MISSING_DATABASE}"
    ), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert (urlsplit(url).password or "") not in result.stdout + result.stderr


def test_the_start_up_check_accepts_a_database_the_server_has(
    folder: Path,
    redis_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the check that refuses database 99 lets database 0 through, and refuses before any state."""
    monkeypatch.setenv("CRMSYNC_REDIS_URL", with_database(redis_url, MISSING_DATABASE))
    with pytest.raises(typer.Exit) as refused:
        usable_state(load_config(folder / "crmsync.yaml"))
    assert refused.value.exit_code == 1
    monkeypatch.setenv("CRMSYNC_REDIS_URL", with_database(redis_url, 0))
    usable_state(load_config(folder / "crmsync.yaml"))  # raises typer.Exit if it refused
    assert (folder / "state.db").exists()
