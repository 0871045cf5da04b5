"""Salesforce REST API emulator: `create_app()` serves a fresh org on the shared emulator core."""

from __future__ import annotations

from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.salesforce.config import CustomField, SalesforceConfig
from crmsync.emulators.salesforce.vendor import SalesforceVendor

__all__ = ["CONFIG_CLASS", "CustomField", "SalesforceConfig", "SalesforceVendor", "create_app"]

CONFIG_CLASS = SalesforceConfig


def create_app(config: SalesforceConfig | None = None) -> Starlette:
    return build_app(SalesforceVendor(config))
