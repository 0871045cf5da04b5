"""What every HubSpot route needs: the portal, the auth checker, the config and the shared runtime."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from crmsync.emulators.core.vendor import EmulatorRuntime
from crmsync.emulators.hubspot.auth import HubSpotAuth
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.state import Portal, Writer


@dataclass
class HubSpotContext:
    config: HubSpotConfig
    runtime: EmulatorRuntime
    portal: Portal
    auth: HubSpotAuth

    def writer(self, request: Request) -> Writer:
        """The authenticated caller (raises HubSpot's 401 otherwise)."""
        return self.auth.check(request)
