"""`service.dashboard` in crmsync.yaml: secrets only by reference, mistakes located by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import parse_config
from crmsync.config.problems import ConfigFileError
from crmsync.service.logs import configured_secrets

TOKEN = "tok-0123456789abcdefghij"
HASH = "scrypt$32768$8$1$c2FsdA$aGFzaA"


CONNECTIONS = "connections:\n  hubspot: {vendor: hubspot, access_token: {env: HS_TOKEN}}\n"


def config_text(dashboard: str) -> str:
    body = "".join(f"    {line}\n" for line in dashboard.strip().splitlines())
    return "service:\n  dashboard:\n" + body + CONNECTIONS


def env(**values: str) -> dict[str, str]:
    return {"HS_TOKEN": "pat-na1-test", **values}


def test_tokens_users_and_session_key_are_read_from_env_and_files(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "ops").write_text(TOKEN + "\n")
    text = config_text(
        """
tokens:
  - {name: ops, role: operator, token: {file: secrets/ops}}
  - {name: ro, token: {env: RO_TOKEN}}
users:
  - {username: ada, password_hash: {env: ADA_HASH}}
session_secret: {env: SESSION_KEY}
"""
    )
    environ = env(RO_TOKEN="ro-0123456789abcdefghij", ADA_HASH=HASH, SESSION_KEY="session-key-material")
    config = parse_config(text, "crmsync.yaml", environ=environ, base_dir=tmp_path)
    dashboard = config.service.dashboard
    assert dashboard.configured
    assert [(t.name, t.role, t.token.get_secret_value()) for t in dashboard.tokens] == [
        ("ops", "operator", TOKEN),
        ("ro", "viewer", "ro-0123456789abcdefghij"),
    ]
    assert dashboard.users[0].role == "viewer"  # the least privilege unless told otherwise
    assert TOKEN not in repr(config)
    secrets = configured_secrets(config)
    assert {TOKEN, "ro-0123456789abcdefghij", HASH, "session-key-material"} <= set(secrets)


def test_no_dashboard_section_configures_nobody() -> None:
    assert not parse_config("service: {}\n" + CONNECTIONS, environ=env()).service.dashboard.configured


def test_an_inline_token_is_refused_with_its_place_and_never_echoed() -> None:
    text = config_text(f"tokens:\n  - name: ops\n    role: operator\n    token: {TOKEN}")
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, "crmsync.yaml", environ=env())
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.key) == ("crmsync.yaml", 6, "service.dashboard.tokens.0.token")
    assert "cannot be written in the file" in issue.message and "{env: VARIABLE}" in issue.message
    assert TOKEN not in str(caught.value)


def test_an_inline_password_hash_and_session_secret_are_refused() -> None:
    text = config_text(f"users:\n  - {{username: ada, password_hash: '{HASH}'}}\nsession_secret: inline-key-material")
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, "crmsync.yaml", environ=env())
    keys = [issue.key for issue in caught.value.issues]
    assert keys == ["service.dashboard.users.0.password_hash", "service.dashboard.session_secret"]
    assert HASH not in str(caught.value) and "inline-key-material" not in str(caught.value)


def test_mistakes_are_listed_together_without_secrets() -> None:
    text = config_text(
        """
tokens:
  - {name: ops, role: admin, token: {env: OPS}}
  - {name: ops, token: {env: SHORT}}
  - {name: ro, token: {env: MISSING}}
users:
  - {username: ada, password_hash: {env: PLAIN}}
colour: blue
"""
    )
    environ = env(OPS=TOKEN, SHORT="short", PLAIN="not-a-hash-at-all")
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, "crmsync.yaml", environ=environ)
    found = {issue.key: issue.message for issue in caught.value.issues}
    assert "'viewer' or 'operator'" in found["service.dashboard.tokens.0.role"]
    assert "at least 16 characters" in found["service.dashboard.tokens.1.token"]
    assert found["service.dashboard.tokens.2.token.env"] == "environment variable MISSING is not set"
    assert "hash-password" in found["service.dashboard.users.0.password_hash"]
    assert found["service.dashboard.colour"].startswith("unknown key 'colour'; expected one of:")
    for secret in (TOKEN, "short", "not-a-hash-at-all"):
        assert secret not in str(caught.value)


def test_repeated_token_names_are_refused() -> None:
    text = config_text("tokens:\n  - {name: ops, token: {env: A}}\n  - {name: ops, token: {env: B}}")
    with pytest.raises(ConfigFileError, match="each token name must be unique; repeated: ops"):
        parse_config(text, "crmsync.yaml", environ=env(A=TOKEN, B=TOKEN + "b"))
