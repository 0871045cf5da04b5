"""Bulk messages bound to an entity set: CreateMultiple, UpdateMultiple and UpsertMultiple (all-or-nothing)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from crmsync.emulators.core.http import ApiError
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call, no_content, odata_json
from crmsync.emulators.dynamics.paths import parse_key, reference_path, split_key
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import DataverseState, Transaction, parse_guid
from crmsync.emulators.dynamics.webhooks import Webhooks
from crmsync.emulators.dynamics.writes import Writer

MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


class BulkMessages:
    def __init__(self, state: DataverseState, writer: Writer, webhooks: Webhooks) -> None:
        self.state = state
        self.writer = writer
        self.webhooks = webhooks

    def handle(self, call: Call, table: Table, message: str) -> Response:
        body = call.json_body(table.entity_set)
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not targets:
            errors.bad_request(f"The '{message}' request must carry a non-empty 'Targets' collection.")
        tx = Transaction()
        self.state.tx = tx
        try:
            ids = [self._one(call, table, message, target) for target in targets]
        except ApiError:
            self.state.tx = None
            for undo in reversed(tx.undo):
                undo()
            raise
        self.state.tx = None
        self.webhooks.publish(tx.events)
        call.records = len(ids)
        if message == "UpdateMultiple":
            return no_content()
        return odata_json(
            {"@odata.context": f"{call.api_root}/$metadata#Microsoft.Dynamics.CRM.{message}Response", "Ids": ids}
        )

    def _one(self, call: Call, table: Table, message: str, target: Any) -> str:
        if not isinstance(target, dict):
            errors.bad_request(f"Every item of 'Targets' must be a {table.logical_name} entity object.")
        odata_type = target.get("@odata.type")
        if odata_type is not None and (not isinstance(odata_type, str) or odata_type.lstrip("#") != table.odata_type):
            errors.bad_request(f"The '@odata.type' of a target must be '{table.odata_type}'.")
        payload = {k: v for k, v in target.items() if k not in ("@odata.type", "@odata.id")}
        collection = self.state.collection(table)
        if message == "CreateMultiple":
            changes = self.writer.parse(table, payload, creating=True)
            return self.writer.create(table, changes, principal=call.principal).id
        record = None
        key_values: dict[str, Any] = {}
        odata_id = target.get("@odata.id")
        if isinstance(odata_id, str):
            _, key_text = split_key(reference_path(odata_id))
            if key_text is None:
                errors.bad_request(f"The '@odata.id' '{odata_id}' does not address a record.")
            key = parse_key(table, key_text)
            if key.record_id is not None:
                record = collection.get(key.record_id)
                payload.setdefault(table.primary_id, key.record_id)
            else:
                key_values = key.alternate or {}
                record = self.state.find_by_key(table, key_values)
        else:
            raw_id = payload.get(table.primary_id)
            record_id = parse_guid(raw_id) if isinstance(raw_id, str) else None
            if record_id is None and message == "UpdateMultiple":
                errors.bad_request(f"Every UpdateMultiple target must carry its '{table.primary_id}'.")
            record = collection.get(record_id) if record_id else None
            if record is None and message == "UpdateMultiple":
                errors.not_found(table.logical_name, str(record_id))
        if record is not None:
            payload.pop(table.primary_id, None)
            changes = self.writer.parse(table, payload, creating=False)
            for name in key_values:
                changes.pop(name, None)
            return self.writer.update(table, record, changes, principal=call.principal).id
        changes = self.writer.parse(table, payload, creating=True)
        for name, value in key_values.items():
            changes.setdefault(name, self.writer.coerce(table, table.columns[name], value))
        return self.writer.create(table, changes, principal=call.principal).id
