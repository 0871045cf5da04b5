"""Object endpoints: list, read (by id or unique property), create, update, archive and merge."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import base_url, json_response, note
from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.assoc_input import apply_associations, parse_associations
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.params import (
    bool_param,
    decode_cursor,
    encode_cursor,
    int_param,
    json_object,
    list_param,
    object_type_param,
)
from crmsync.emulators.hubspot.render import RecordView
from crmsync.emulators.hubspot.schema import ObjectType
from crmsync.emulators.hubspot.state import Writer

MERGEABLE = frozenset(("contacts", "companies", "deals"))
OBJECT_PREFIXES = ("/crm/v3/objects", "/crm/objects/2026-03")


def record_view(ctx: HubSpotContext, request: Request, ot: ObjectType) -> RecordView:
    associations = [object_type_param(name) for name in list_param(request, "associations") or []]
    return RecordView(
        ctx.portal,
        ot,
        list_param(request, "properties"),
        with_history=list_param(request, "propertiesWithHistory") or (),
        associations=associations,
    )


class ObjectRoutes:
    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        found: list[BaseRoute] = []
        for prefix in OBJECT_PREFIXES:
            found += [
                Route(f"{prefix}/{{object_type}}", self.list_objects, methods=["GET"]),
                Route(f"{prefix}/{{object_type}}", self.create, methods=["POST"]),
                Route(f"{prefix}/{{object_type}}/merge", self.merge, methods=["POST"]),
                Route(f"{prefix}/{{object_type}}/{{object_id}}", self.read, methods=["GET"]),
                Route(f"{prefix}/{{object_type}}/{{object_id}}", self.update, methods=["PATCH"]),
                Route(f"{prefix}/{{object_type}}/{{object_id}}", self.archive, methods=["DELETE"]),
            ]
        return found

    async def list_objects(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.list")
        limit = int_param(request, "limit", 10, 1, 100)
        position = decode_cursor(request.query_params.get("after"))
        archived = bool_param(request, "archived")
        view = record_view(self.ctx, request, ot)
        results: list[dict[str, object]] = []
        next_position: int | None = None
        for pos, record in self.ctx.portal.collection(ot).scan_from(position, include_deleted=archived):
            if archived and (record.deleted_ms is None or record.merged_into is not None):
                continue  # merged-away records are not archived: they never list
            if len(results) == limit:
                next_position = pos
                break
            results.append(view.render(record))
        note(request, records=len(results))
        body: dict[str, object] = {"results": results}
        if next_position is not None:
            after = encode_cursor(next_position)
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "after"] + [("after", after)]
            link = f"{base_url(request)}{request.url.path}?{urlencode(query)}"
            body["paging"] = {"next": {"after": after, "link": link}}
        return json_response(body)

    async def read(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.read")
        object_id = request.path_params["object_id"]
        view = record_view(self.ctx, request, ot)
        record = self.ctx.portal.find(ot, object_id, request.query_params.get("idProperty"))
        if record is None and bool_param(request, "archived"):
            archived = self.ctx.portal.collection(ot).get(object_id, include_deleted=True)
            record = archived if archived is not None and archived.merged_into is None else None
        if record is None:
            raise errors.not_found()
        note(request, records=1)
        return json_response(view.render(record))

    async def create(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.create")
        body = await json_object(request)
        portal = self.ctx.portal
        clean = portal.validate(ot, body.get("properties", {}))
        planned = parse_associations(portal, ot, body.get("associations"))
        record = portal.insert_clean(ot, clean, writer)
        apply_associations(portal, ot, record.id, planned, writer)
        note(request, records=1)
        return json_response(RecordView(portal, ot).render_all(record), 201)

    async def update(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.update")
        body = await json_object(request)
        portal = self.ctx.portal
        record = portal.find(ot, request.path_params["object_id"], request.query_params.get("idProperty"))
        if record is None:
            raise errors.not_found()
        written = portal.update(ot, record, body.get("properties", {}), writer)
        note(request, records=1)
        return json_response(RecordView(portal, ot).render_written(record, written))

    async def archive(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.archive")
        record = self.ctx.portal.collection(ot).get(request.path_params["object_id"])
        if record is not None:
            self.ctx.portal.archive(ot, record, writer)
            note(request, records=1)
        return Response(status_code=204)

    async def merge(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.merge")
        if ot.name not in MERGEABLE:
            raise errors.validation(f"Merging is not supported for object type {ot.label}")
        body = await json_object(request)
        primary_id, other_id = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if not isinstance(primary_id, str) or not isinstance(other_id, str) or not primary_id or not other_id:
            raise errors.validation("Invalid input JSON: primaryObjectId and objectIdToMerge are required strings")
        record = merge_records(self.ctx, ot, primary_id, other_id, writer)
        note(request, records=1)
        return json_response(RecordView(self.ctx.portal, ot).render_all(record))


def merge_records(ctx: HubSpotContext, ot: ObjectType, primary_id: str, other_id: str, writer: Writer) -> StoredRecord:
    """Shared by the API and the control plane."""
    portal = ctx.portal
    primary = portal.resolve(ot, primary_id)
    other = portal.resolve(ot, other_id)
    if primary is None or other is None:
        missing = primary_id if primary is None else other_id
        raise errors.not_found(f"Object {missing} of type {ot.label} was not found")
    if primary.id == other.id:
        raise errors.validation("Cannot merge an object with itself")
    return portal.merge(ot, primary, other, writer)
