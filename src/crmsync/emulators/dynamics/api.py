"""Routes a Web API call (top-level or a `$batch` part) by its OData path to the right handler."""

from __future__ import annotations

from starlette.responses import Response

from crmsync.emulators.core.http import ApiError
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.actions import Actions
from crmsync.emulators.dynamics.batch import BatchRunner
from crmsync.emulators.dynamics.bulk import MESSAGES, BulkMessages
from crmsync.emulators.dynamics.context import Call, odata_json
from crmsync.emulators.dynamics.csdl import csdl
from crmsync.emulators.dynamics.metadata import Metadata
from crmsync.emulators.dynamics.paths import split_segments
from crmsync.emulators.dynamics.records import RecordHandlers, split_entity
from crmsync.emulators.dynamics.state import DataverseState
from crmsync.emulators.dynamics.webhooks import Webhooks
from crmsync.emulators.dynamics.writes import Writer

_COLLECTION_METHODS = {"GET", "POST"}
_ENTITY_METHODS = {"GET", "PATCH", "DELETE"}
_PROPERTY_METHODS = {"GET", "PUT", "DELETE"}


def _not_allowed(method: str) -> None:
    errors.fail(405, errors.ODATA, f"The requested resource does not support http method '{method}'.")


class WebApi:
    def __init__(self, state: DataverseState, webhooks: Webhooks) -> None:
        self.state = state
        self.writer = Writer(state)
        self.records = RecordHandlers(state, self.writer)
        self.actions = Actions(state, self.writer)
        self.metadata = Metadata(state)
        self.bulk = BulkMessages(state, self.writer, webhooks)
        self.batch = BatchRunner(state, self.handle, webhooks.publish)

    def handle(self, call: Call) -> Response:
        try:
            return self._route(call)
        except ApiError as exc:
            return exc.response

    def _route(self, call: Call) -> Response:
        segments = split_segments(call.path)
        method = call.method
        if not segments:
            call.op = f"{method} /"
            if method != "GET":
                _not_allowed(method)
            return self.service_document(call)
        head = segments[0]
        if head == "$metadata":
            call.op = "GET /$metadata"
            if method != "GET":
                _not_allowed(method)
            annotations = any(k == "annotations" and v == "true" for k, v in call.query)
            body = csdl(list(self.state.tables.values()), annotations=annotations)
            return Response(body, headers=errors.ODATA_HEADERS, media_type="application/xml")
        if head == "$batch":
            call.op = "POST /$batch"
            if method != "POST":
                _not_allowed(method)
            return self.batch.run(call)
        if head.startswith("EntityDefinitions"):
            call.op = (
                f"{method} /EntityDefinitions"
                + ("(...)" if "(" in head else "")
                + "".join(f"/{s}" for s in segments[1:])
            )
            return self.metadata.handle(call, segments)
        if head in ("WhoAmI", "WhoAmI()"):
            call.op = "GET /WhoAmI"
            if method != "GET":
                _not_allowed(method)
            return self.actions.who_am_i(call)
        if head in ("WinOpportunity", "LoseOpportunity", "Merge"):
            call.op = f"POST /{head}"
            if method != "POST":
                _not_allowed(method)
            if len(segments) > 1:
                errors.fail(404, errors.ODATA, f"Resource not found for the segment '{segments[1]}'.")
            if head == "Merge":
                return self.actions.merge(call)
            return self.actions.close_opportunity(call, won=head == "WinOpportunity")
        table, key = split_entity(self.state, head)
        if key is None:
            if len(segments) == 1:
                call.op = f"{method} /{table.entity_set}"
                if method not in _COLLECTION_METHODS:
                    _not_allowed(method)
                if method == "GET":
                    return self.records.list(call, table)
                return self.records.create(call, table)
            bound = segments[1].removeprefix("Microsoft.Dynamics.CRM.") if len(segments) == 2 else ""
            if bound in MESSAGES:
                call.op = f"POST /{table.entity_set}/{bound}"
                if method != "POST":
                    _not_allowed(method)
                return self.bulk.handle(call, table, bound)
            if len(segments) == 2 and segments[1] == "$count":
                call.op = f"GET /{table.entity_set}/$count"
                if method != "GET":
                    _not_allowed(method)
                return self.records.count(call, table)
            errors.fail(404, errors.ODATA, f"Resource not found for the segment '{segments[1]}'.")
        if len(segments) == 1:
            call.op = f"{method} /{table.entity_set}(id)"
            if method not in _ENTITY_METHODS:
                _not_allowed(method)
            if method == "GET":
                return self.records.get(call, table, key)
            if method == "PATCH":
                return self.records.patch(call, table, key)
            return self.records.delete(call, table, key)
        ref = len(segments) == 3 and segments[2] == "$ref"
        if len(segments) > 3 or (len(segments) == 3 and not ref):
            errors.fail(404, errors.ODATA, f"Resource not found for the segment '{segments[-1]}'.")
        call.op = f"{method} /{table.entity_set}(id)/{'nav/$ref' if ref else 'property'}"
        if method not in _PROPERTY_METHODS:
            _not_allowed(method)
        return self.records.property(call, table, key, segments[1], ref)

    def service_document(self, call: Call) -> Response:
        sets = [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in self.state.tables.values()]
        return odata_json({"@odata.context": f"{call.api_root}/$metadata", "value": sets})
