"""`crmsync init` as a user runs it: the written crmsync.yaml loads cleanly with crmsync's own loader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crmsync.config import load_config
from crmsync.model.values import OBJECT_KINDS


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "crmsync.yaml"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "init", str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {target}" in result.stdout
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# crmsync configuration.")
    config = load_config(target, environ={})
    assert config.kinds == OBJECT_KINDS
    assert set(config.connections) == {"salesforce", "hubspot", "dynamics"}
    assert config.state_url == f"sqlite:///{tmp_path / 'crmsync.db'}"
    # The dashboard is never open: init configures an operator token, read from a fresh owner-only file.
    token_file = tmp_path / "secrets" / "dashboard_token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    (token,) = config.service.dashboard.tokens
    assert (token.name, token.role) == ("admin", "operator")
    assert token.token.get_secret_value() == token_file.read_text(encoding="utf-8").strip()
    assert token.token.get_secret_value() not in text
