"""Webhook service endpoints: registrations per table/message and RemoteExecutionContext deliveries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel, ConfigDict, Field

from crmsync.emulators.core.store import ChangeEvent, StoredRecord
from crmsync.emulators.dynamics.schema import SOURCE_FIELD, Table
from crmsync.emulators.dynamics.state import DataverseState

Message = Literal["Create", "Update", "Delete"]
_CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
_MESSAGES: dict[str, Message] = {"create": "Create", "update": "Update", "merge": "Update", "delete": "Delete"}
_ALL_MESSAGES: tuple[Message, ...] = ("Create", "Update", "Delete")
RETRY_STATUSES = frozenset({502, 503, 504})


class WebhookRegistration(BaseModel):
    """A `serviceendpoint` (contract WebHook) plus one processing step per message on one table."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    auth: Literal["HttpHeader", "WebhookKey", "HttpQueryString"] = "WebhookKey"
    key: str | None = Field(default=None, description="WebhookKey: the ?code= value")
    headers: dict[str, str] = Field(default_factory=dict, description="HttpHeader: headers to send")
    query: dict[str, str] = Field(default_factory=dict, description="HttpQueryString: query pairs to add")
    table: str
    messages: list[Message] = Field(default_factory=lambda: list(_ALL_MESSAGES))
    filtering_attributes: list[str] | None = None
    images: bool = Field(default=False, description="send Pre/PostEntityImages named 'Image'")
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))


def wcf_date(ms: int) -> str:
    return f"/Date({ms})/"


def _reference(record_id: str, logical: str) -> dict[str, Any]:
    return {
        "__type": f"EntityReference:{_CONTRACTS}",
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": logical,
        "Name": None,
        "RowVersion": None,
    }


def _value(table: Table, name: str, value: Any, fields: dict[str, Any]) -> Any:
    column = table.columns.get(name)
    if value is None or column is None:
        return value
    if column.is_lookup:
        target = column.targets[0] if len(column.targets) == 1 else fields.get(f"{name}@lt") or column.targets[0]
        return _reference(value, target)
    if column.type in ("Picklist", "State", "Status"):
        return {"__type": f"OptionSetValue:{_CONTRACTS}", "Value": value}
    if column.type == "Money":
        return {"__type": f"Money:{_CONTRACTS}", "Value": value}
    if column.type in ("DateTime", "DateOnly"):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if "T" in value else f"{value}T00:00:00+00:00")
        return wcf_date(int(moment.astimezone(UTC).timestamp() * 1000))
    return value


def _entity(table: Table, record_id: str, fields: dict[str, Any], names: list[str], version: int) -> dict[str, Any]:
    attributes = [{"key": name, "value": _value(table, name, fields.get(name), fields)} for name in names]
    attributes.append({"key": table.primary_id, "value": record_id})
    return {
        "__type": f"Entity:{_CONTRACTS}",
        "Attributes": attributes,
        "EntityState": None,
        "FormattedValues": [],
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": table.logical_name,
        "RelatedEntities": [],
        "RowVersion": str(version),
    }


class Webhooks:
    def __init__(self, state: DataverseState) -> None:
        self.state = state
        self.registrations: list[WebhookRegistration] = []
        self._previous: dict[tuple[str, str], dict[str, Any]] = {}

    def register(self, registration: WebhookRegistration) -> WebhookRegistration:
        if registration.table not in self.state.tables:
            raise ValueError(f"unknown table {registration.table!r}")
        self.registrations.append(registration)
        return registration

    def clear(self) -> None:
        self.registrations.clear()
        self._previous.clear()

    # ---- events -----------------------------------------------------------------------------
    def on_event(self, event: ChangeEvent) -> None:
        if not self.registrations:
            return
        tx = self.state.tx
        if tx is not None:
            tx.events.append(event)
            return
        self.publish([event])

    def publish(self, events: list[ChangeEvent]) -> None:
        for event in events:
            message = _MESSAGES.get(event.kind)
            table = self.state.tables.get(event.collection)
            if message is None or table is None:
                continue
            record = self.state.collection(table).get(event.record_id, include_deleted=True)
            if record is None:
                continue
            for registration in self.registrations:
                if registration.table != table.logical_name or message not in registration.messages:
                    continue
                if (
                    message == "Update"
                    and registration.filtering_attributes
                    and not set(registration.filtering_attributes) & set(event.changed)
                ):
                    continue
                self._enqueue(registration, table, record, message, event)

    def _enqueue(
        self,
        registration: WebhookRegistration,
        table: Table,
        record: StoredRecord,
        message: Message,
        event: ChangeEvent,
    ) -> None:
        config = self.state.config
        fields = dict(record.fields)
        if message == "Delete":
            target: dict[str, Any] = _reference(record.id, table.logical_name)
        else:
            names = [
                c.name
                for c in table.columns.values()
                if c.source == SOURCE_FIELD and (message == "Create" or c.name in event.changed)
            ]
            target = _entity(table, record.id, fields, names, record.version)
        full_names = [c.name for c in table.columns.values() if c.source == SOURCE_FIELD]
        post = (
            [{"key": "Image", "value": _entity(table, record.id, fields, full_names, record.version)}]
            if registration.images and message != "Delete"
            else []
        )
        correlation = str(uuid.uuid4())
        context: dict[str, Any] = {
            "BusinessUnitId": config.business_unit_id,
            "CorrelationId": correlation,
            "Depth": 1,
            "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
            "InitiatingUserId": event.source,
            "InputParameters": [{"key": "Target", "value": target}],
            "IsExecutingOffline": False,
            "IsInTransaction": False,
            "IsOfflinePlayback": False,
            "IsolationMode": 1,
            "MessageName": message,
            "Mode": 1,
            "OperationCreatedOn": wcf_date(event.stamp_ms),
            "OperationId": str(uuid.uuid4()),
            "OrganizationId": config.organization_id,
            "OrganizationName": config.org_name,
            "OutputParameters": [{"key": "id", "value": record.id}] if message == "Create" else [],
            "OwningExtension": _reference(registration.id, "sdkmessageprocessingstep"),
            "ParentContext": None,
            "PostEntityImages": post,
            "PreEntityImages": [],
            "PrimaryEntityId": record.id,
            "PrimaryEntityName": table.logical_name,
            "RequestId": str(uuid.uuid4()),
            "SecondaryEntityName": "none",
            "SharedVariables": [],
            "Stage": 40,
            "UserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
            "UserId": event.source,
        }
        body = orjson.dumps(context)
        headers = {
            "Content-Type": "application/json",
            "x-ms-dynamics-organization": f"{config.org_name}.crm.dynamics.com",
            "x-ms-dynamics-entity-name": table.logical_name,
            "x-ms-dynamics-request-name": message,
            "x-ms-correlation-request-id": correlation,
        }
        url = registration.url
        if registration.auth == "HttpHeader":
            headers.update(registration.headers)
        elif registration.auth == "WebhookKey" and registration.key:
            url += ("&" if "?" in url else "?") + urlencode({"code": registration.key})
        elif registration.auth == "HttpQueryString" and registration.query:
            url += ("&" if "?" in url else "?") + urlencode(registration.query)

        def render(attempt: int) -> tuple[bytes, dict[str, str]]:
            return body, headers

        def retry(attempts: int, status: int | None) -> float | None:
            # One more attempt on 502/503/504 only; anything else fails the system job.
            return 1.0 if attempts == 1 and status in RETRY_STATUSES else None

        self.state.runtime.webhooks.enqueue(
            url,
            render,
            retry,
            meta={"registration": registration.id, "message": message, "table": table.logical_name, "id": record.id},
        )
