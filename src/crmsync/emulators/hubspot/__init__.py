"""A faithful local emulator of HubSpot's CRM v3/v4 API (objects, batch, search, associations, webhooks)."""

from __future__ import annotations

from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.vendor import HubSpotEmulator

CONFIG_CLASS = HubSpotConfig

__all__ = ["CONFIG_CLASS", "HubSpotConfig", "HubSpotEmulator", "create_app"]


def create_app(config: HubSpotConfig | None = None) -> Starlette:
    return build_app(HubSpotEmulator(config))
