"""Emulator of the Microsoft Dataverse (Dynamics 365) Web API v9.2 with Entra ID-style auth."""

from __future__ import annotations

from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.dynamics.config import CustomColumn, DynamicsConfig
from crmsync.emulators.dynamics.vendor import DynamicsEmulator

__all__ = ["CONFIG_CLASS", "CustomColumn", "DynamicsConfig", "DynamicsEmulator", "create_app"]

CONFIG_CLASS = DynamicsConfig


def create_app(config: DynamicsConfig | None = None) -> Starlette:
    return build_app(DynamicsEmulator(config))
