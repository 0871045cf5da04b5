"""The operator's dashboard served by `crmsync serve`: pages at `/`, a JSON API at `/api`, both behind sign-in."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute, Mount

from crmsync.config.values import SyncConfig
from crmsync.dashboard.access import Access, Principal
from crmsync.dashboard.api import build_api
from crmsync.dashboard.backend import DashboardBackend, Live
from crmsync.dashboard.pages import Pages
from crmsync.dashboard.passwords import hash_password, verify_password


class Dashboard:
    """Everything the dashboard serves, built from the configuration and a view of the running service."""

    def __init__(self, config: SyncConfig, live: Callable[[], Live | None]) -> None:
        self.access = Access(config.service.dashboard)
        self.backend = DashboardBackend(config, live)
        self.api = build_api(self.backend, self.access)
        self.pages = Pages(self.backend, self.access, openapi=self.api.openapi)

    def routes(self) -> list[BaseRoute]:
        """Mounted after the service's own endpoints, so /webhooks, /healthz, /readyz and /metrics stay as they are."""
        return [Mount("/api", app=self.api), *self.pages.routes()]


__all__ = ["Access", "Dashboard", "DashboardBackend", "Principal", "hash_password", "verify_password"]
