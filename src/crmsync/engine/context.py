"""What one sync run works with: configuration, store, connectors, the rules of each kind, and its report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import Connector
from crmsync.engine.connections import external_id_field
from crmsync.engine.matching_keys import KeySpec, parse_key_spec
from crmsync.engine.report import RunReport
from crmsync.engine.state import LINK_ROLES, link_fields
from crmsync.mapping import ObjectMap
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Store

Clock = Callable[[], datetime]


@dataclass
class SyncContext:
    """The run's collaborators; built once per run by the runner."""

    config: SyncConfig
    store: Store
    connectors: Mapping[str, Connector]
    clock: Clock
    report: RunReport = field(default_factory=RunReport)
    dry_run: bool = False
    worker: str = "crmsync-sync"
    waiting: set[tuple[str, str, str]] = field(default_factory=set)
    """(connection, object, remote id) of the records this run read and found waiting for a parent: their parked
    read is not woken again within the run (the parents of a kind are all read before it)."""
    left_out: set[tuple[str, str, str]] = field(default_factory=set)
    """(connection, object, remote id) of the records this run read and synced without a parent that will not be
    linked (`orphans`): not read again within the run for a parent linked since (`orphans.relink_reads`)."""
    read_in_full: dict[tuple[ObjectKind, str], datetime] = field(default_factory=dict)
    """(kind, connection) → when this run began reading all its records (`look_first.read_starts`): a create planned
    before needs no look-up there."""

    def vendor(self, connection: str) -> str:
        return self.config.connection(connection).vendor

    def object_map(self, connection: str, kind: ObjectKind) -> ObjectMap:
        return self.config.mappings.get(self.vendor(connection), kind)

    def object_name(self, connection: str, kind: ObjectKind) -> str:
        return self.object_map(connection, kind).object

    def rules(self, kind: ObjectKind) -> SyncRules:
        """The object's rules, with relationships (`@company`, ...) mapped by every connection."""
        rules = self.config.rules_for(kind)
        links = link_fields(kind)
        fields = {name: frozenset(mapped) | links for name, mapped in rules.connection_fields.items()}
        return replace(rules, connection_fields=fields)

    def connections(self, kind: ObjectKind) -> tuple[str, ...]:
        return self.config.object(kind).connections

    def external_id(self, connection: str, kind: ObjectKind) -> str | None:
        return external_id_field(self.config.connection(connection), self.object_name(connection, kind))

    def read_fields(self, connection: str, kind: ObjectKind) -> tuple[str, ...]:
        """What a read selects: the mapped fields, and the external-id field holding crmsync's id (`identify`)."""
        mapped = self.object_map(connection, kind).read_fields
        external = self.external_id(connection, kind)
        return mapped if external is None or external in mapped else (*mapped, external)

    def unchanged_in_target(
        self,
        kind: ObjectKind,
        connection: str,
        fields: Mapping[str, CanonicalValue],
        known: Mapping[str, CanonicalValue],
    ) -> frozenset[str]:
        """Fields whose value, written to `connection`, would read back as what it holds already.

        A lossy value map (ten Salesforce stages onto four Dataverse states) makes the golden value
        and the target's value differ forever; comparing in the target's resolution stops rewriting it.
        """
        plain = {name: value for name, value in fields.items() if not name.startswith("@") and name in known}
        if not plain:
            return frozenset()
        settled = self.config.mappings.settle(self.vendor(connection), kind, plain)
        return frozenset(name for name in plain if name in settled and settled[name] == known[name])

    def match_specs(self, kind: ObjectKind) -> tuple[KeySpec, ...]:
        keys = self.config.object(kind).match
        return tuple(
            parse_key_spec(kind, [f"@{part}" if part in LINK_ROLES[kind] else part for part in key]) for key in keys
        )


__all__ = ["Clock", "SyncContext"]
