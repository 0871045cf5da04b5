"""Finds a vendor emulator by name and builds it from defaults, environment variables and overrides.

Every vendor config is a pydantic model; any of its fields can be set with the environment variable
`CRMSYNC_<VENDOR>_<FIELD>` (e.g. `CRMSYNC_HUBSPOT_PRIVATE_APP_TOKEN`) or a `field=value` override,
so scripts and other tools can fix the credentials an emulator accepts.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette

from crmsync.emulators.core.vendor import Vendor

VendorName = Literal["salesforce", "hubspot", "dynamics"]
VENDOR_NAMES: tuple[VendorName, ...] = ("salesforce", "hubspot", "dynamics")
DEFAULT_PORTS: dict[VendorName, int] = {"salesforce": 18081, "hubspot": 18082, "dynamics": 18083}


class EmulatorConfigError(ValueError):
    """A setting for an emulator names an unknown field or has a value of the wrong type."""


@dataclass
class BuiltEmulator:
    name: VendorName
    app: Starlette
    vendor: Vendor


def _config_class(name: VendorName) -> type[BaseModel]:
    module = importlib.import_module(f"crmsync.emulators.{name}")
    config_cls: type[BaseModel] = module.CONFIG_CLASS
    return config_cls


def _vendor_env(name: VendorName, environ: Mapping[str, str] | None) -> Iterator[tuple[str, str, str]]:
    """(variable, the setting it names in lower case, value) for each `CRMSYNC_<VENDOR>_*` variable of `name`."""
    env = os.environ if environ is None else environ
    prefix = f"CRMSYNC_{name.upper()}_"
    for key, value in env.items():
        if key.startswith(prefix):
            yield key, key[len(prefix) :].lower(), value


def settings_from_env(name: VendorName, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    fields = _config_class(name).model_fields
    return {field: value for _, field, value in _vendor_env(name, environ) if field in fields}


def setting_names(name: VendorName) -> tuple[str, ...]:
    """The settings (config fields) of one vendor's emulator."""
    return tuple(_config_class(name).model_fields)


def unknown_env_settings(name: VendorName, environ: Mapping[str, str] | None = None) -> list[str]:
    """`CRMSYNC_<VENDOR>_*` variables of this vendor that name no setting: typos `crmsync emulate` refuses.

    `settings_from_env` leaves them out; crmsync's own variables (`CRMSYNC_STATE_URL`, ...) name no vendor.
    """
    fields = _config_class(name).model_fields
    return sorted(key for key, field, _ in _vendor_env(name, environ) if field not in fields)


def build_emulator(
    name: VendorName, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> BuiltEmulator:
    """The vendor's app with its config from defaults < environment < overrides."""
    config_cls = _config_class(name)
    values: dict[str, Any] = {**settings_from_env(name, environ), **(overrides or {})}
    unknown = sorted(set(values) - set(config_cls.model_fields))
    if unknown:
        known = ", ".join(sorted(config_cls.model_fields))
        raise EmulatorConfigError(f"{name}: unknown setting(s) {', '.join(unknown)}; known settings: {known}")
    try:
        config = config_cls.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise EmulatorConfigError(f"{name}: {problems}") from exc
    module = importlib.import_module(f"crmsync.emulators.{name}")
    app: Starlette = module.create_app(config)
    return BuiltEmulator(name, app, app.state.vendor)
