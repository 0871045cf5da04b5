"""Fields Salesforce derives on save: completion stamps, an activity's account, event start/end/duration."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.formats import format_ms, parse_datetime
from crmsync.emulators.salesforce.objects import STAGES
from crmsync.emulators.salesforce.schema import ObjectDef

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.org import Org


def derive(org: Org, obj: ObjectDef, values: dict[str, Any], changes: dict[str, Any], old: StoredRecord | None) -> None:
    """Fields Salesforce computes on save (stage flags, activity flags, event times)."""
    fields = obj.fields
    for name, value in changes.items():
        if value is None and (fdef := fields.get(name)) is not None and fdef.type == "boolean":
            values[name] = False
    name = obj.name
    if name == "Opportunity" and "StageName" in changes:
        stage = STAGES.get(values.get("StageName") or "")
        if stage is not None:
            values["IsClosed"] = stage.closed
            values["IsWon"] = stage.won
            values["ForecastCategory"] = stage.forecast
            if "Probability" not in changes:
                values["Probability"] = stage.probability
            if "ForecastCategoryName" not in changes:
                values["ForecastCategoryName"] = stage.forecast_name
    elif name == "Task":
        closed = values.get("Status") == "Completed"
        values["IsClosed"] = closed
        values["IsHighPriority"] = values.get("Priority") == "High"
        if closed and values.get("CompletedDateTime") is None:
            values["CompletedDateTime"] = format_ms(org.store.clock.now_ms())
        activity_account(org, values)
    elif name == "Event":
        event_times(values, changes, creating=old is None)
        activity_account(org, values)


def activity_account(org: Org, values: dict[str, Any]) -> None:
    account: str | None = None
    what = values.get("WhatId")
    who = values.get("WhoId")
    if what and what.startswith("001"):
        account = what
    elif what and what.startswith("006"):
        opp = org.coll("Opportunity").get(what)
        account = opp.fields.get("AccountId") if opp else None
    elif who and who.startswith("003"):
        contact = org.coll("Contact").get(who)
        account = contact.fields.get("AccountId") if contact else None
    values["AccountId"] = account


def event_times(values: dict[str, Any], changes: dict[str, Any], *, creating: bool) -> None:
    start_text = values.get("StartDateTime") or values.get("ActivityDateTime")
    if start_text is None:
        if creating:
            raise SfError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", ["StartDateTime"]
            )
        return
    start = parse_datetime(start_text)
    assert start is not None
    duration = values.get("DurationInMinutes")
    end_text = values.get("EndDateTime")
    if "EndDateTime" in changes and end_text is not None and "DurationInMinutes" not in changes:
        duration = None
    if duration is not None:
        try:
            end = start + timedelta(minutes=duration)
        except OverflowError:  # past year 9999
            raise SfError(
                400, "FIELD_INTEGRITY_EXCEPTION", "End Date Time: invalid date", ["DurationInMinutes"]
            ) from None
    elif end_text is not None:
        end = parse_datetime(end_text) or start
        duration = int((end - start).total_seconds() // 60)
    else:
        raise SfError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [DurationInMinutes]", ["DurationInMinutes"]
        )
    if end < start:
        raise SfError(
            400, "FIELD_INTEGRITY_EXCEPTION", "End Date Time: End time can't be before start time.", ["EndDateTime"]
        )
    values["StartDateTime"] = format_ms(int(start.timestamp() * 1000))
    values["EndDateTime"] = format_ms(int(end.timestamp() * 1000))
    values["DurationInMinutes"] = duration
    values["ActivityDateTime"] = values["StartDateTime"]
    values["ActivityDate"] = start.date().isoformat()
