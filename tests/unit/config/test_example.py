"""The example `crmsync init` writes loads cleanly and points at the emulators' defaults."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from crmsync.cli.init import local_emulators
from crmsync.cli.main import app
from crmsync.config import example_config, load_config, parse_config
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.salesforce.vendor import SalesforceVendor
from crmsync.model.rules import Policy
from crmsync.model.values import OBJECT_KINDS


def test_example_loads_with_its_secret_files(tmp_path: Path) -> None:
    files = example_config(local_emulators())
    for name, text in files.secrets.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    config = parse_config(files.config, "crmsync.yaml", environ={}, base_dir=tmp_path)
    assert config.kinds == OBJECT_KINDS
    assert config.state_url == f"sqlite:///{tmp_path / 'crmsync.db'}"
    sf, hs, dv = (config.connection(name).settings for name in ("salesforce", "hubspot", "dynamics"))
    assert isinstance(sf, SalesforceSettings) and sf.login_url == "http://127.0.0.1:18081"
    assert isinstance(hs, HubSpotSettings) and hs.base_url == "http://127.0.0.1:18082"
    assert hs.access_token == SecretStr(HubSpotConfig().private_app_token)
    assert isinstance(dv, DynamicsSettings) and dv.org_url == dv.authority == "http://127.0.0.1:18083"
    assert config.rules_for("deal").policy_for("stage") == Policy.manual()
    # The secrets are in the files, not in the config text.
    assert all(secret not in files.config for secret in files.secrets.values())


def test_init_writes_files_and_refuses_to_overwrite_them(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "conf" / "crmsync.yaml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert load_config(target, environ={}).connection("hubspot").vendor == "hubspot"
    secret = target.parent / "secrets" / "hubspot_access_token"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1
    assert "pass --force" in again.output
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0


def test_the_example_names_the_org_id_the_salesforce_emulator_prints() -> None:
    """An operator comparing `crmsync emulate`'s org_id with crmsync.yaml's sees the same 18 characters."""
    printed = SalesforceVendor().credentials()["org_id"]
    assert local_emulators().salesforce_org_id == printed
    assert f"org_id: {printed}" in example_config(local_emulators()).config
