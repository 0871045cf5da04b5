"""Credentials and other settings read from environment variables and files; secrets never show in a repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from crmsync.config import load_config
from crmsync.connectors.salesforce.settings import SalesforceSettings
from tests.unit.config.helpers import issues_of, parse

JWT = """\
connections:
  sf:
    vendor: salesforce
    client_id: {env: SF_CLIENT_ID}
    username: integration@acme.example
    private_key_pem: {file: keys/sf.pem}
"""
PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVQ-not-a-real-key\n-----END PRIVATE KEY-----"


def test_os_environment_is_the_default_and_files_resolve_next_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sf.pem").write_text(PEM + "\n", encoding="utf-8")  # the trailing newline is dropped
    (tmp_path / "crmsync.yaml").write_text(JWT, encoding="utf-8")
    monkeypatch.setenv("SF_CLIENT_ID", "consumer-key-from-env")
    monkeypatch.chdir("/")  # the working directory does not matter
    config = load_config(tmp_path / "crmsync.yaml")
    settings = config.connection("sf").settings
    assert isinstance(settings, SalesforceSettings)
    assert settings.client_id == "consumer-key-from-env"  # plain settings may come from the environment too
    assert settings.private_key_pem == SecretStr(PEM)
    assert "MIIBVQ" not in repr(config) and "MIIBVQ" not in str(config)


def test_absolute_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "run" / "token"
    secret.parent.mkdir()
    secret.write_text("pat-from-a-file\r\n", encoding="utf-8")
    text = f"connections:\n  hs:\n    vendor: hubspot\n    access_token: {{file: {secret}}}\n"
    config = parse(text, environ={}, base_dir=tmp_path / "elsewhere")
    assert config.connection("hs").settings.access_token == SecretStr("pat-from-a-file")  # type: ignore[union-attr]
    assert "pat-from-a-file" not in repr(config)


def test_missing_empty_and_unreadable_sources_name_the_variable_or_file(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "a-directory").mkdir()
    text = """\
connections:
  one: {vendor: hubspot, access_token: {env: NOT_SET}}
  two: {vendor: hubspot, access_token: {env: BLANK}}
  three: {vendor: hubspot, access_token: {file: empty}}
  four: {vendor: hubspot, access_token: {file: binary}}
  five: {vendor: hubspot, access_token: {file: a-directory}}
  six: {vendor: hubspot, access_token: {env: ''}}
"""
    assert issues_of(text, {"BLANK": "  "}, tmp_path) == [
        "crmsync.yaml:2:41: connections.one.access_token.env: environment variable NOT_SET is not set",
        "crmsync.yaml:3:41: connections.two.access_token.env: environment variable BLANK is empty",
        f"crmsync.yaml:4:43: connections.three.access_token.file: {tmp_path / 'empty'} is empty",
        f"crmsync.yaml:5:42: connections.four.access_token.file: cannot read {tmp_path / 'binary'}: "
        "not readable UTF-8 text",
        f"crmsync.yaml:6:42: connections.five.access_token.file: cannot read {tmp_path / 'a-directory'}: "
        "Is a directory",
        "crmsync.yaml:7:41: connections.six.access_token.env: expected a non-empty string",
    ]


def test_a_failed_secret_does_not_add_noise_about_the_auth_flow() -> None:
    # Without the placeholder, Salesforce's own check would also say the flow needs private_key_pem.
    assert issues_of(JWT, {"SF_CLIENT_ID": "x"}) == [
        "crmsync.yaml:6:23: connections.sf.private_key_pem.file: cannot read "
        f"{Path.cwd() / 'keys' / 'sf.pem'}: No such file or directory"
    ]
