"""The crmsync.yaml (and its secret files) that points crmsync at the sandbox's three emulators."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from crmsync.config.example import SECRETS_DIR
from crmsync.emulators.dynamics import DynamicsConfig
from crmsync.emulators.hubspot import HubSpotConfig
from crmsync.emulators.salesforce import SalesforceConfig
from crmsync.testing.sandbox.names import (
    DYNAMICS_EXTERNAL_ID,
    HUBSPOT_EXTERNAL_ID,
    OBJECTS,
    SALESFORCE_EXTERNAL_ID,
)

CONFIG_FILE = "crmsync.yaml"
SF_SECRET = f"{SECRETS_DIR}/salesforce_client_secret"
HS_SECRET = f"{SECRETS_DIR}/hubspot_access_token"
DV_SECRET = f"{SECRETS_DIR}/dynamics_client_secret"
# Webhook secrets: what `crmsync serve` checks the emulators' notifications with (registered by the service).
HS_WEBHOOK_SECRET = f"{SECRETS_DIR}/hubspot_webhook_secret"
SF_WEBHOOK_TOKEN = f"{SECRETS_DIR}/salesforce_webhook_token"
DV_WEBHOOK_KEY = f"{SECRETS_DIR}/dynamics_webhook_key"
WEBHOOK_SECRETS = {
    HS_WEBHOOK_SECRET: "sandbox-hubspot-app-secret",
    SF_WEBHOOK_TOKEN: "sandbox-salesforce-outbound-token",
    DV_WEBHOOK_KEY: "sandbox-dataverse-endpoint-key",
}
DEFAULT_CONCURRENCY = 16  # the Dataverse connector's own default, kept under a smaller emulator limit

_HEADER = """\
# crmsync configuration written by crmsync.testing.sandbox for three emulators on loopback.
# Secrets are the emulators' development credentials, read from ./{secrets}/.
"""


@dataclass(frozen=True, slots=True)
class SandboxEndpoints:
    """Where each emulator listens and the configuration it runs with (credentials and limits)."""

    salesforce_url: str
    hubspot_url: str
    dynamics_url: str
    salesforce: SalesforceConfig = field(repr=False)
    hubspot: HubSpotConfig = field(repr=False)
    dynamics: DynamicsConfig = field(repr=False)


def connection_settings(endpoints: SandboxEndpoints) -> dict[str, dict[str, Any]]:
    """The three connections as crmsync.yaml spells them; limits follow the emulators' (possibly lowered) ones."""
    sf, hs, dv = endpoints.salesforce, endpoints.hubspot, endpoints.dynamics
    return {
        "salesforce": {
            "vendor": "salesforce",
            "auth_flow": "client_credentials",
            "login_url": endpoints.salesforce_url,
            "client_id": sf.client_id,
            "client_secret": {"file": SF_SECRET},
            "daily_api_limit": sf.daily_api_limit,
            "external_id_fields": dict.fromkeys(OBJECTS["salesforce"].values(), SALESFORCE_EXTERNAL_ID),
            "lookback_s": 0,
            "org_id": sf.org_id,
            "webhook_token": {"file": SF_WEBHOOK_TOKEN},
        },
        "hubspot": {
            "vendor": "hubspot",
            "base_url": endpoints.hubspot_url,
            "access_token": {"file": HS_SECRET},
            "ten_second_limit": hs.ten_second_limit,
            "daily_limit": hs.daily_limit,
            "search_per_second": hs.search_per_second,
            "external_id_properties": dict.fromkeys(OBJECTS["hubspot"].values(), HUBSPOT_EXTERNAL_ID),
            "lookback_s": 0,  # the emulator's search index has no lag to cover
            "webhook_secret": {"file": HS_WEBHOOK_SECRET},
        },
        "dynamics": {
            "vendor": "dynamics",
            "org_url": endpoints.dynamics_url,
            "authority": endpoints.dynamics_url,
            "tenant_id": dv.tenant_id,
            "client_id": dv.client_id,
            "client_secret": {"file": DV_SECRET},
            "requests_per_window": dv.requests_per_window,
            "window_s": dv.window_s,
            "concurrency": min(DEFAULT_CONCURRENCY, dv.concurrent_requests),
            "external_ids": dict.fromkeys(OBJECTS["dynamics"].values(), DYNAMICS_EXTERNAL_ID),
            "webhook_key": {"file": DV_WEBHOOK_KEY},
        },
    }


def secret_files(endpoints: SandboxEndpoints) -> dict[str, str]:
    """Relative path -> content of each secret file the config reads."""
    return {
        SF_SECRET: endpoints.salesforce.client_secret,
        HS_SECRET: endpoints.hubspot.private_app_token,
        DV_SECRET: endpoints.dynamics.client_secret,
        **WEBHOOK_SECRETS,
    }


def render_config(
    endpoints: SandboxEndpoints,
    state_url: str,
    *,
    objects_yaml: str = "",
    mappings_yaml: str = "",
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    service: Mapping[str, Any] | None = None,
) -> str:
    """crmsync.yaml text. `objects_yaml`/`mappings_yaml` are those sections' bodies (or whole sections).

    `service` is the `service:` section (`crmsync serve`'s settings), left out when None.

    `connections` overrides settings per connection (`{"hubspot": {"page_size": 10}}`); a None value drops
    the setting, so the connector's default applies.
    """
    settings = connection_settings(endpoints)
    for name, overrides in (connections or {}).items():
        if name not in settings:
            raise ValueError(f"no sandbox connection {name!r}; the connections are {', '.join(settings)}")
        for key, value in overrides.items():
            if value is None:
                settings[name].pop(key, None)
            else:
                settings[name][key] = value
    sections: dict[str, Any] = {"state": {"url": state_url}}
    if service is not None:
        sections["service"] = dict(service)
    sections["connections"] = settings
    body = yaml.safe_dump(sections, sort_keys=False)
    return (
        _HEADER.format(secrets=SECRETS_DIR)
        + body
        + _section("objects", objects_yaml)
        + _section("mappings", mappings_yaml)
    )


def _section(key: str, text: str) -> str:
    body = textwrap.dedent(text).strip("\n")
    if not body.strip():
        return ""  # left out: crmsync's defaults apply
    if body.startswith(f"{key}:"):
        return body + "\n"
    return f"{key}:\n{textwrap.indent(body, '  ')}\n"


__all__ = ["CONFIG_FILE", "SandboxEndpoints", "connection_settings", "render_config", "secret_files"]
