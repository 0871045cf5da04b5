"""A tiny in-memory model of several CRMs holding one record, to apply reconcile results like the engine would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crmsync.engine.merge import reconcile
from crmsync.engine.reconcile_types import ConnectionState, ReconcileResult
from crmsync.engine.targets import shadow_after_write
from crmsync.model.golden import GoldenRecord, ParkedConflict
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalValue

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Remote:
    """One CRM's copy of the record: values with per-field modification times."""

    values: dict[str, CanonicalValue]
    times: dict[str, datetime]

    @property
    def modified_at(self) -> datetime:
        return max(self.times.values(), default=T0)


@dataclass
class Sim:
    """Remotes, shadows, golden record and parked conflicts of one record; `sync` reconciles and applies."""

    rules: SyncRules
    remotes: dict[str, Remote] = field(default_factory=dict)
    shadows: dict[str, dict[str, CanonicalValue] | None] = field(default_factory=dict)
    golden: GoldenRecord | None = None
    parked: dict[str, ParkedConflict] = field(default_factory=dict)
    clock: int = 0
    field_times: bool = True
    # Fields a created record holds (blank) besides those written, as a real mapping would report them.
    schema: tuple[str, ...] = ()

    def mapped(self, connection: str, names: Iterable[str]) -> list[str]:
        """The fields a connection's mapping reports: the configured ones, else all."""
        return [n for n in names if self.rules.maps(connection, n)]

    def add(self, connection: str, values: dict[str, CanonicalValue], minute: int | None = None) -> None:
        when = at(self.clock if minute is None else minute)
        held = {n: values[n] for n in self.mapped(connection, values)}
        self.remotes[connection] = Remote(held, dict.fromkeys(held, when))
        self.shadows[connection] = None

    def edit(self, connection: str, name: str, value: CanonicalValue, minute: int | None = None) -> None:
        """Edit a field in one CRM (ignored where the connection does not map it: nothing would read it)."""
        if not self.mapped(connection, [name]):
            return
        remote = self.remotes[connection]
        remote.values[name] = value
        remote.times[name] = at(self.clock if minute is None else minute)

    def states(self, read: Iterable[str] | None = None) -> list[ConnectionState]:
        wanted = set(self.remotes) if read is None else set(read)
        states = []
        for connection, remote in sorted(self.remotes.items()):
            shadow = self.shadows.get(connection)
            current = dict(remote.values) if connection in wanted or shadow is None else None
            times = dict(remote.times) if self.field_times else {}
            states.append(ConnectionState(connection, current, shadow, remote.modified_at, times))
        return states

    def reconcile(self, read: Iterable[str] | None = None) -> ReconcileResult:
        return reconcile(self.golden, self.states(read), self.rules, self.parked.values())

    def sync(self, read: Iterable[str] | None = None) -> ReconcileResult:
        result = self.reconcile(read)
        self.apply(result)
        return result

    def apply(self, result: ReconcileResult) -> None:
        """Store the decision, then deliver every delta and record what was written as the shadow."""
        self.clock += 1
        self.golden = result.golden
        for name in result.closed:
            self.parked.pop(name, None)
        for conflict in result.parked:
            self.parked[conflict.field] = conflict
        for connection, shadow in result.shadows.items():
            self.shadows[connection] = dict(shadow)
        for delta in result.deltas:
            if delta.kind == "create":
                held = self.mapped(delta.connection, self.schema)
                self.remotes[delta.connection] = Remote(dict.fromkeys(held), dict.fromkeys(held, at(self.clock)))
                self.shadows[delta.connection] = None
            remote = self.remotes[delta.connection]
            for name, value in delta.fields.items():
                remote.values[name] = value
                remote.times[name] = at(self.clock)
            mapped = self.mapped(delta.connection, self.schema)
            self.shadows[delta.connection] = shadow_after_write(self.shadows[delta.connection], delta, mapped)

    def value(self, connection: str, name: str) -> CanonicalValue:
        return self.remotes[connection].values.get(name)
