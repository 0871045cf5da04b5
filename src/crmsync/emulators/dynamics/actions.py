"""Unbound actions: `WinOpportunity`, `LoseOpportunity`, `Merge`, and the `WhoAmI` function."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call, no_content, odata_json
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import DataverseState, parse_guid
from crmsync.emulators.dynamics.writes import Writer

# Which lookups point at a merged record's children, re-parented to the merge target.
_CHILD_LOOKUPS = (
    ("contact", "parentcustomerid"),
    ("account", "parentaccountid"),
    ("opportunity", "customerid"),
    ("opportunity", "parentaccountid"),
    ("opportunity", "parentcontactid"),
    ("task", "regardingobjectid"),
    ("phonecall", "regardingobjectid"),
    ("appointment", "regardingobjectid"),
    ("annotation", "objectid"),
)


class Actions:
    def __init__(self, state: DataverseState, writer: Writer) -> None:
        self.state = state
        self.writer = writer

    def who_am_i(self, call: Call) -> Response:
        config = self.state.config
        return odata_json(
            {
                "@odata.context": f"{call.api_root}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": config.business_unit_id,
                "UserId": call.principal,
                "OrganizationId": config.organization_id,
            }
        )

    # ---- opportunity close ------------------------------------------------------------------
    def close_opportunity(self, call: Call, won: bool) -> Response:
        action = "WinOpportunity" if won else "LoseOpportunity"
        body = call.json_body()
        if not isinstance(body, dict):
            errors.bad_request(f"The {action} request body must be a JSON object.")
        close = body.get("OpportunityClose")
        status = body.get("Status")
        if not isinstance(close, dict):
            errors.bad_request(f"Required parameter 'OpportunityClose' of {action} is missing or not an object.")
        if isinstance(status, bool) or not isinstance(status, int):
            errors.bad_request(f"Required parameter 'Status' of {action} is missing or not an integer.")
        bind = close.get("opportunityid@odata.bind")
        if not isinstance(bind, str):
            errors.bad_request("The OpportunityClose entity must bind 'opportunityid@odata.bind' to an opportunity.")
        table = self.state.tables["opportunity"]
        record_id = self.writer.resolve_reference(bind, "opportunity", call.refs)
        record = self.state.collection(table).get(record_id)
        assert record is not None
        state_value = 1 if won else 2
        status_col = table.columns["statuscode"]
        if status == -1:
            status = table.default_status[state_value]
        if status_col.state_of.get(status) != state_value:
            label = "Won" if won else "Lost"
            errors.fail(
                400,
                errors.INVALID_STATE,
                f"{status} is not a valid status code for state code OpportunityState.{label} on opportunity "
                f"with Id {record_id}.",
            )
        if record.fields.get("statecode") != 0:
            errors.fail(400, errors.INVALID_STATE, "The opportunity is already closed.")
        today = self.state.runtime.clock.now().date().isoformat()
        actual_end = close.get("actualend")
        revenue = close.get("actualrevenue")
        changes: dict[str, Any] = {
            "statecode": state_value,
            "statuscode": status,
            "actualclosedate": actual_end[:10] if isinstance(actual_end, str) else today,
        }
        if won:
            changes["actualvalue"] = (
                revenue if isinstance(revenue, int | float) else record.fields.get("estimatedvalue")
            )
            changes["closeprobability"] = 100
        else:
            changes["closeprobability"] = 0
        self.writer.apply(table, record, changes, principal=call.principal)
        call.records = 1
        return no_content()

    # ---- merge ------------------------------------------------------------------------------
    def merge(self, call: Call) -> Response:
        body = call.json_body()
        if not isinstance(body, dict):
            errors.bad_request("The Merge request body must be a JSON object.")
        table, target = self._merge_party(body, "Target")
        sub_table, subordinate = self._merge_party(body, "Subordinate")
        if sub_table is not table:
            errors.bad_request("The Target and Subordinate of a Merge must be records of the same table.")
        if target.id == subordinate.id:
            errors.bad_request("The Target and the Subordinate of a Merge must be different records.")
        content = body.get("UpdateContent")
        changes: dict[str, Any] = {}
        if content is not None:
            if not isinstance(content, dict):
                errors.bad_request("The 'UpdateContent' parameter of Merge must be an entity object.")
            cleaned = {k: v for k, v in content.items() if k not in (table.primary_id, "@odata.type")}
            changes = self.writer.parse(table, cleaned, creating=False, refs=call.refs)
        checks = body.get("PerformParentingChecks", False)
        if not isinstance(checks, bool):
            errors.bad_request("The 'PerformParentingChecks' parameter of Merge must be a boolean.")
        self.merge_records(table, target, subordinate, changes, principal=call.principal)
        call.records = 2
        return no_content()

    def merge_records(
        self, table: Table, target: StoredRecord, subordinate: StoredRecord, changes: dict[str, Any], *, principal: str
    ) -> None:
        if changes:
            self.writer.update(table, target, changes, principal=principal)
        for child_logical, column_name in _CHILD_LOOKUPS:
            child_table = self.state.tables[child_logical]
            column = child_table.columns[column_name]
            if table.logical_name not in column.targets:
                continue
            collection = self.state.collection(child_table)
            moving = [
                r
                for r in collection.scan()
                if r.fields.get(column_name) == subordinate.id
                and (len(column.targets) == 1 or r.fields.get(f"{column_name}@lt") == table.logical_name)
                and r.id != target.id
            ]
            for child in moving:
                self.writer.apply(child_table, child, {column_name: target.id}, principal=principal)
        inactive = table.default_status.get(1, 2)
        self.writer.apply(
            table,
            subordinate,
            {"statecode": 1, "statuscode": inactive, "merged": True, "masterid": target.id},
            principal=principal,
        )

    def _merge_party(self, body: dict[str, Any], name: str) -> tuple[Table, StoredRecord]:
        party = body.get(name)
        if not isinstance(party, dict):
            errors.bad_request(f"Required parameter '{name}' of Merge is missing or not an entity object.")
        odata_type = party.get("@odata.type")
        if not isinstance(odata_type, str):
            errors.bad_request(
                f"The '{name}' parameter of Merge must carry an '@odata.type' annotation naming its entity type."
            )
        logical = odata_type.lstrip("#").removeprefix("Microsoft.Dynamics.CRM.")
        table = self.state.tables.get(logical)
        if table is None or not table.mergeable:
            errors.bad_request(f"Merge is not supported for entity '{logical}'. Only account and contact merge here.")
        raw_id = party.get(table.primary_id)
        record_id = parse_guid(raw_id) if isinstance(raw_id, str) else None
        if record_id is None:
            errors.bad_request(f"The '{name}' parameter of Merge must carry its '{table.primary_id}'.")
        record = self.state.collection(table).get(record_id)
        if record is None:
            errors.not_found(table.logical_name, record_id)
        return table, record
