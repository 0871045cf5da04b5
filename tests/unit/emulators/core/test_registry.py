"""Building emulators by name: defaults < environment < overrides, and clear errors for typos."""

from __future__ import annotations

import pytest

from crmsync.emulators.registry import VENDOR_NAMES, EmulatorConfigError, build_emulator, settings_from_env


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_every_vendor_builds_from_defaults(name: str) -> None:
    built = build_emulator(name, environ={})  # type: ignore[arg-type]
    assert built.vendor.name == name
    assert built.app.state.vendor is built.vendor
    assert built.vendor.credentials()


def test_environment_then_overrides_fix_the_credentials() -> None:
    env = {"CRMSYNC_HUBSPOT_PRIVATE_APP_TOKEN": "pat-from-env", "CRMSYNC_HUBSPOT_NOT_A_FIELD": "x", "OTHER": "y"}
    assert settings_from_env("hubspot", env) == {"private_app_token": "pat-from-env"}
    from_env = build_emulator("hubspot", environ=env)
    assert "pat-from-env" in from_env.vendor.credentials().values()
    overridden = build_emulator("hubspot", {"private_app_token": "pat-override"}, environ=env)
    assert "pat-override" in overridden.vendor.credentials().values()


def test_unknown_settings_and_bad_values_name_the_problem() -> None:
    with pytest.raises(EmulatorConfigError, match=r"unknown setting.*client_secrte.*known settings: "):
        build_emulator("salesforce", {"client_secrte": "x"}, environ={})
    with pytest.raises(EmulatorConfigError, match="session_timeout_s"):
        build_emulator("salesforce", {"session_timeout_s": "soon"}, environ={})
