"""crmsync.yaml: connections, objects, policies and field maps, validated into a SyncConfig the engine consumes."""

from crmsync.config.example import ExampleFiles, LocalEmulators, example_config
from crmsync.config.loader import DEFAULT_FILE, load_config, parse_config
from crmsync.config.problems import ConfigFileError
from crmsync.config.values import (
    Condition,
    Connection,
    ConnectorSettings,
    DeletePolicy,
    MassDeleteBreaker,
    ObjectSettings,
    RecordFilter,
    SyncConfig,
    Vendor,
)

__all__ = [
    "DEFAULT_FILE",
    "Condition",
    "ConfigFileError",
    "Connection",
    "ConnectorSettings",
    "DeletePolicy",
    "ExampleFiles",
    "LocalEmulators",
    "MassDeleteBreaker",
    "ObjectSettings",
    "RecordFilter",
    "SyncConfig",
    "Vendor",
    "example_config",
    "load_config",
    "parse_config",
]
