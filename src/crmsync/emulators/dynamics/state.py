"""The emulated org's state: tables, collections, alternate-key indexes, paging snapshots, open change sets."""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmsync.emulators.core.store import ChangeEvent, Collection, StoredRecord
from crmsync.emulators.core.vendor import EmulatorRuntime
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.config import DynamicsConfig
from crmsync.emulators.dynamics.schema import Table, build_tables

GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
SNAPSHOT_LIMIT = 256
ID_PREFIX = "0d15ea5e-0000-4000-8000-"


def normalise_key(value: Any) -> Any:
    # Alternate keys compare like SQL Server's case-insensitive collation.
    return value.lower() if isinstance(value, str) else value


@dataclass
class Transaction:
    """An open change set: undo steps run in reverse on failure; change events wait for the commit."""

    undo: list[Callable[[], None]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)


class DataverseState:
    def __init__(self, runtime: EmulatorRuntime, config: DynamicsConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.tables: dict[str, Table] = build_tables(config)
        self.by_set: dict[str, Table] = {t.entity_set: t for t in self.tables.values()}
        self._next_id = itertools.count(1)
        self.snapshots: OrderedDict[str, list[str]] = OrderedDict()
        self._snapshot_ids = itertools.count(1)
        self.tx: Transaction | None = None
        # Alternate keys created through the Web API: (table, key schema name) → (index built at, ms; it failed).
        self.key_jobs: dict[tuple[str, str], tuple[int, bool]] = {}
        self.install()

    # ---- setup ------------------------------------------------------------------------------
    def install(self) -> None:
        for table in self.tables.values():
            self.declare_keys(table)
        users = self.collection(self.tables["systemuser"])
        if users.get(self.config.application_user_id) is None:
            users.insert(
                self.config.application_user_id,
                {
                    "fullname": self.config.application_user_name,
                    "domainname": f"{self.config.client_id}@crmsync.local",
                    "applicationid": self.config.client_id,
                    "isdisabled": False,
                    "ownerid": None,
                },
                source=self.config.application_user_id,
                emit=False,
            )

    def declare_keys(self, table: Table) -> None:
        collection = self.collection(table)
        declared = set(collection.unique_fields())
        for _, columns in table.keys:
            if len(columns) == 1 and columns[0] not in declared:
                collection.declare_unique(columns[0], normalise_key)

    def reset(self) -> None:
        self.runtime.store.clear()
        self.snapshots.clear()
        self.tx = None
        # Columns and keys customised through the Web API go with the data: back to the configured schema.
        self.tables = build_tables(self.config)
        self.by_set = {t.entity_set: t for t in self.tables.values()}
        self.key_jobs.clear()
        self.install()

    def key_status(self, table: Table, name: str) -> str:
        """`EntityKeyIndexStatus` of a key: configured keys are Active; created ones are Pending, then Active."""
        job = self.key_jobs.get((table.logical_name, name))
        if job is None:
            return "Active"
        built_at, failed = job
        if self.runtime.clock.now_ms() < built_at:
            return "Pending"
        return "Failed" if failed else "Active"

    # ---- lookups ----------------------------------------------------------------------------
    def collection(self, table: Table) -> Collection:
        return self.runtime.store.collection(table.logical_name)

    def table_for_set(self, entity_set: str) -> Table:
        table = self.by_set.get(entity_set)
        if table is None:
            errors.fail(404, errors.QUERY, f"Resource not found for the segment '{entity_set}'.")
        return table

    def new_id(self) -> str:
        # Sequential GUIDs in the layout of core's DataverseIds, formatted directly: seeding makes millions.
        return f"{ID_PREFIX}{next(self._next_id):012x}"

    def find_by_key(self, table: Table, key: dict[str, Any]) -> StoredRecord | None:
        """A live record by alternate key (a declared key's columns, in any order)."""
        wanted = tuple(key) if len(key) == 1 else tuple(sorted(key))
        key_name = next(
            (
                name
                for name, columns in table.keys
                if columns == wanted or (len(columns) > 1 and tuple(sorted(columns)) == wanted)
            ),
            None,
        )
        if key_name is None:
            names = ",".join(key)
            errors.bad_request(
                f"The key '{names}' is not a declared alternate key of entity '{table.logical_name}'.",
                errors.QUERY,
            )
        status = self.key_status(table, key_name)
        if status != "Active":
            errors.bad_request(
                f"The alternate key '{key_name}' of entity '{table.logical_name}' cannot be used: its index is "
                f"{status} (EntityKeyIndexStatus).",
                errors.QUERY,
            )
        collection = self.collection(table)
        if len(key) == 1:
            ((name, value),) = key.items()
            if name in collection.unique_fields():
                return collection.find_unique(name, value)
        normalised = {name: normalise_key(value) for name, value in key.items()}
        for record in collection.scan():
            if all(normalise_key(record.fields.get(n)) == v for n, v in normalised.items()):
                return record
        return None

    def display_name(self, logical: str, record_id: str) -> str | None:
        table = self.tables.get(logical)
        if table is None or table.primary_name is None:
            return None
        record = self.collection(table).get(record_id)
        if record is None:
            return None
        value = record.fields.get(table.primary_name)
        return value if isinstance(value, str) else None

    # ---- paging snapshots -------------------------------------------------------------------
    def keep_snapshot(self, ids: list[str]) -> str:
        snapshot_id = f"s{next(self._snapshot_ids)}"
        self.snapshots[snapshot_id] = ids
        while len(self.snapshots) > SNAPSHOT_LIMIT:
            self.snapshots.popitem(last=False)
        return snapshot_id

    def snapshot(self, snapshot_id: str) -> list[str] | None:
        found = self.snapshots.get(snapshot_id)
        if found is not None:
            self.snapshots.move_to_end(snapshot_id)
        return found


def parse_guid(text: str) -> str | None:
    text = text.strip()
    if len(text) != 36 and len(text) != 38:
        return None  # cheap rejection: alternate-key segments come through here a thousand times per `$batch`
    match = GUID.match(text)
    return match.group(1).lower() if match else None
