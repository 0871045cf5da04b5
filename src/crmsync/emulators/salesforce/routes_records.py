"""Single-record endpoints: create, read, update, delete, by-external-id read/upsert/delete, updated/deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.salesforce.api import DATA, Ctx, read_body, routes
from crmsync.emulators.salesforce.errors import SfError, not_found
from crmsync.emulators.salesforce.formats import format_ms, parse_datetime, to_ms
from crmsync.emulators.salesforce.soql_exec import invalid_field

if TYPE_CHECKING:
    from crmsync.emulators.core.store import StoredRecord
    from crmsync.emulators.salesforce.schema import ObjectDef
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

MAX_REPLICATION_IDS = 600_000


def render_record(ctx: Ctx, obj: ObjectDef, record: StoredRecord, fields: str | None = None) -> dict[str, Any]:
    renderer = ctx.org.renderers[obj.name]
    fields_param = fields if fields is not None else ctx.request.query_params.get("fields")
    if not fields_param:
        return renderer.full(record, ctx.version)
    names: list[str] = []
    for raw in fields_param.split(","):
        fdef = obj.field(raw.strip())
        if fdef is None:
            raise invalid_field(obj, raw.strip())
        names.append(fdef.name)
    if "Id" not in names:
        names.append("Id")
    return renderer.subset(record, ctx.version, names)


def multiple_choices(ctx: Ctx, obj: ObjectDef, ids: list[str]) -> Response:
    return json_response([f"/services/data/{ctx.version}/sobjects/{obj.name}/{rid}" for rid in ids], 300)


def _window(ctx: Ctx, days_back: int) -> tuple[int, int]:
    params = ctx.request.query_params
    bounds: list[int] = []
    for name in ("start", "end"):
        raw = params.get(name)
        if raw is None:
            raise SfError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
        moment = parse_datetime(raw.replace(" ", "+"))
        if moment is None:
            raise SfError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid ISO-8601 date/time: {raw}")
        bounds.append(to_ms(moment) // 60_000 * 60_000)  # Salesforce works in whole minutes here
    start, end = bounds
    now = ctx.vendor.runtime.clock.now_ms()
    if start >= end:
        raise SfError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    if start < now - days_back * 86_400_000:
        raise SfError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days_back} days ago")
    return start, min(end, now // 60_000 * 60_000)


def record_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    async def create(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        body = await read_body(ctx.request)
        record_id = ctx.org.create(obj, body, ctx.user)
        note(ctx.request, records=1)
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    async def read(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        record = ctx.org.live(obj, ctx.param("record_id"))
        note(ctx.request, records=1)
        return json_response(render_record(ctx, obj, record))

    async def update(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        body = await read_body(ctx.request)
        ctx.org.update(obj, ctx.param("record_id"), body, ctx.user)
        note(ctx.request, records=1)
        return Response(status_code=204)

    async def delete(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        ctx.org.delete(obj, ctx.param("record_id"), ctx.user)
        note(ctx.request, records=1)
        return Response(status_code=204)

    def _ext_field(ctx: Ctx, obj: ObjectDef) -> Any:
        name = ctx.param("field")
        fdef = obj.field(name)
        if fdef is None or not (fdef.id_lookup or fdef.external_id):
            raise SfError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
        return fdef

    async def read_by_ext(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        fdef = _ext_field(ctx, obj)
        value = ctx.param("value")
        if fdef.name == "Id":
            record = ctx.org.live(obj, value)
            return json_response(render_record(ctx, obj, record))
        ids = ctx.org.find_by(obj, fdef, value)
        if len(ids) > 1:
            return multiple_choices(ctx, obj, ids)
        if not ids:
            raise not_found()
        note(ctx.request, records=1)
        return json_response(render_record(ctx, obj, ctx.org.coll(obj).records[ids[0]]))

    async def upsert(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        body = await read_body(ctx.request)
        update_only = ctx.request.query_params.get("updateOnly", "").lower() == "true"
        result = ctx.org.upsert(obj, ctx.param("field"), ctx.param("value"), body, ctx.user, update_only=update_only)
        if isinstance(result, list):
            return multiple_choices(ctx, obj, result)
        note(ctx.request, records=1)
        record_id, created = result
        if not created and float(ctx.version[1:]) < 46:
            return Response(status_code=204)
        return json_response(
            {"id": record_id, "success": True, "errors": [], "created": created}, 201 if created else 200
        )

    async def delete_by_ext(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        fdef = _ext_field(ctx, obj)
        ids = [ctx.param("value")] if fdef.name == "Id" else ctx.org.find_by(obj, fdef, ctx.param("value"))
        if len(ids) > 1:
            return multiple_choices(ctx, obj, ids)
        if not ids:
            raise not_found()
        ctx.org.delete(obj, ids[0], ctx.user)
        return Response(status_code=204)

    async def updated(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        start, end = _window(ctx, 30)
        ids: list[str] = []
        for record in ctx.org.coll(obj).changed_since(start):
            if record.modified_ms >= end:
                break
            if not record.deleted:
                ids.append(record.id)
        if len(ids) > MAX_REPLICATION_IDS:
            raise SfError(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the date range")
        note(ctx.request, records=len(ids))
        return json_response({"ids": ids, "latestDateCovered": format_ms(end)})

    async def deleted(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        start, end = _window(ctx, 15)
        rows: list[dict[str, str]] = []
        for record in ctx.org.coll(obj).changed_since(start):
            if record.modified_ms >= end:
                break
            if record.deleted_ms is not None and start <= record.deleted_ms < end:
                rows.append({"id": record.id, "deletedDate": format_ms(record.deleted_ms)})
        if len(rows) > MAX_REPLICATION_IDS:
            raise SfError(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the date range")
        now = ctx.vendor.runtime.clock.now_ms()
        earliest = (now - 15 * 86_400_000) // 60_000 * 60_000
        note(ctx.request, records=len(rows))
        return json_response(
            {"deletedRecords": rows, "earliestDateAvailable": format_ms(earliest), "latestDateCovered": format_ms(end)}
        )

    sob = f"{DATA}/sobjects/{{sobject}}"
    table = [
        (sob, "create", ["POST"], create),
        (f"{sob}/updated", "get_updated", ["GET"], updated),
        (f"{sob}/deleted", "get_deleted", ["GET"], deleted),
        (f"{sob}/{{record_id}}", "read", ["GET"], read),
        (f"{sob}/{{record_id}}", "update", ["PATCH"], update),
        (f"{sob}/{{record_id}}", "delete", ["DELETE"], delete),
        (f"{sob}/{{field}}/{{value:path}}", "read_by_external_id", ["GET"], read_by_ext),
        (f"{sob}/{{field}}/{{value:path}}", "upsert", ["PATCH"], upsert),
        (f"{sob}/{{field}}/{{value:path}}", "delete_by_external_id", ["DELETE"], delete_by_ext),
    ]
    return routes(vendor, table)
