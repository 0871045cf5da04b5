"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from crmsync.emulators.core.app import partial_failure_share
from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.core.ids import is_salesforce_id, to_id18
from crmsync.emulators.salesforce.api import DATA, Ctx, read_body, routes
from crmsync.emulators.salesforce.errors import SfError, json_parser_error
from crmsync.emulators.salesforce.routes_records import render_record

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

MAX_RECORDS = 200
MAX_RETRIEVE = 2000
ROLLED_BACK = SfError(
    400,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)

# (dry_run) -> result dict on success; raises SfError for the item
Operation = Callable[[bool], dict[str, Any]]


def _too_many(count: int, limit: int = MAX_RECORDS) -> SfError:
    return SfError(
        400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records into this call"
    )


def _failing_items(count: int, share: float) -> set[int]:
    """Spread injected lock failures evenly over the batch (deterministic, so tests can predict them)."""
    if share <= 0:
        return set()
    return {i for i in range(count) if int((i + 1) * share) > int(i * share)}


def _locked(record_id: str | None) -> SfError:
    return SfError(
        400, "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id or ''}"
    )


def run_items(
    ctx: Ctx, ops: Sequence[tuple[str | None, Operation]], all_or_none: bool, *, upsert: bool = False
) -> list[dict[str, Any]]:
    """Per-item results in input order; with allOrNone nothing is written unless every item is valid."""
    failing = _failing_items(len(ops), partial_failure_share(ctx.request))

    def failure(record_id: str | None, error: SfError) -> dict[str, Any]:
        item: dict[str, Any] = {"success": False, "errors": [error.item()]}
        if record_id:
            item = {"id": record_id, **item}
        if upsert:
            item["created"] = False
        return item

    if all_or_none:
        errors: list[SfError | None] = []
        for index, (record_id, op) in enumerate(ops):
            try:
                if index in failing:
                    raise _locked(record_id)
                op(True)
                errors.append(None)
            except SfError as exc:
                errors.append(exc)
        if any(errors):
            return [failure(ops[i][0], err or ROLLED_BACK) for i, err in enumerate(errors)]
    results: list[dict[str, Any]] = []
    for index, (record_id, op) in enumerate(ops):
        try:
            if index in failing:
                raise _locked(record_id)
            results.append(op(False))
        except SfError as exc:
            results.append(failure(record_id, exc))
    return results


def _records_body(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict):
        raise json_parser_error("Cannot deserialize instance of the request body from a non-object value")
    records = body.get("records")
    all_or_none = body.get("allOrNone", False)
    if not isinstance(records, list) or not isinstance(all_or_none, bool):
        raise json_parser_error("Cannot deserialize the request: records must be an array and allOrNone a boolean")
    if len(records) > MAX_RECORDS:
        raise _too_many(len(records))
    return records, all_or_none


def _type_of(ctx: Ctx, record: Any) -> Any:
    if not isinstance(record, dict):
        raise json_parser_error("Each record must be a JSON object")
    attrs = record.get("attributes")
    type_name = attrs.get("type") if isinstance(attrs, dict) else None
    if not isinstance(type_name, str):
        raise SfError(400, "INVALID_TYPE", "Must specify a type in attributes")
    obj = ctx.org.object(type_name)
    if obj is None:
        raise SfError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
    return obj


def collection_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    async def create(ctx: Ctx) -> Response:
        records, all_or_none = _records_body(await read_body(ctx.request))
        org = ctx.org

        def op_for(record: Any) -> Operation:
            def op(dry_run: bool) -> dict[str, Any]:
                obj = _type_of(ctx, record)
                if any(k.lower() == "id" for k in record):
                    raise SfError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
                record_id = org.create(obj, record, ctx.user, dry_run=dry_run)
                return {"id": record_id, "success": True, "errors": []}

            return op

        results = run_items(ctx, [(None, op_for(r)) for r in records], all_or_none)
        note(ctx.request, records=len(records))
        return json_response(results)

    async def update(ctx: Ctx) -> Response:
        records, all_or_none = _records_body(await read_body(ctx.request))
        org = ctx.org

        def op_for(record: Any, record_id: str | None) -> Operation:
            def op(dry_run: bool) -> dict[str, Any]:
                obj = _type_of(ctx, record)
                if not record_id:
                    raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                if not is_salesforce_id(record_id) or record_id[:3] != obj.key_prefix:
                    raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                if org.record_any(record_id) is None:
                    # Never there, or purged from the Recycle Bin: not NOT_FOUND as a single PATCH answers.
                    raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                org.update(obj, record_id, record, ctx.user, ignore=frozenset({"id"}), dry_run=dry_run)
                return {"id": to_id18(record_id), "success": True, "errors": []}

            return op

        ops: list[tuple[str | None, Operation]] = []
        for record in records:
            raw = next((v for k, v in record.items() if k.lower() == "id"), None) if isinstance(record, dict) else None
            record_id = raw if isinstance(raw, str) else None
            # An id no record holds is not echoed in its failed result, as Salesforce answers it.
            known = record_id is not None and is_salesforce_id(record_id) and org.record_any(record_id) is not None
            shown = to_id18(record_id) if known and record_id else None
            ops.append((shown, op_for(record, record_id)))
        results = run_items(ctx, ops, all_or_none)
        note(ctx.request, records=len(records))
        return json_response(results)

    async def upsert(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        records, all_or_none = _records_body(await read_body(ctx.request))
        field = obj.field(ctx.param("field"))
        if field is None or not (field.id_lookup or field.external_id):
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {ctx.param('field')}",
            )
        org = ctx.org

        def op_for(record: Any) -> Operation:
            def op(dry_run: bool) -> dict[str, Any]:
                rec_obj = _type_of(ctx, record)
                if rec_obj.name != obj.name:
                    raise SfError(400, "INVALID_TYPE", f"Record type {rec_obj.name} does not match {obj.name}")
                value = next((v for k, v in record.items() if k.lower() == field.name.lower()), None)
                if value is None and field.name != "Id":
                    raise SfError(400, "MISSING_ARGUMENT", f"{field.name} not specified", [field.name])
                body = {k: v for k, v in record.items() if k.lower() != field.name.lower()}
                result = org.upsert(
                    obj, field.name, "" if value is None else str(value), body, ctx.user, dry_run=dry_run
                )
                if isinstance(result, list):
                    raise SfError(
                        300,
                        "DUPLICATE_EXTERNAL_ID",
                        f"{field.name}: more than one record found for external id field: {result}",
                    )
                return {"id": result[0], "success": True, "errors": [], "created": result[1]}

            return op

        results = run_items(ctx, [(None, op_for(r)) for r in records], all_or_none, upsert=True)
        note(ctx.request, records=len(records))
        return json_response(results)

    async def delete(ctx: Ctx) -> Response:
        params = ctx.request.query_params
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not ids:
            raise SfError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_RECORDS:
            raise _too_many(len(ids))
        all_or_none = params.get("allOrNone", "false").lower() == "true"
        org = ctx.org

        def op_for(record_id: str) -> Operation:
            def op(dry_run: bool) -> dict[str, Any]:
                found = org.record_any(record_id)
                if found is None:
                    if not is_salesforce_id(record_id):
                        raise SfError(400, "MALFORMED_ID", f"malformed id {record_id}", [])
                    # Never there, or purged from the Recycle Bin (one still in it is ENTITY_IS_DELETED).
                    raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                obj, record = found
                if record.deleted:
                    raise SfError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
                org.delete(obj, record.id, ctx.user, dry_run=dry_run)
                return {"id": record.id, "success": True, "errors": []}

            return op

        # A malformed id's result carries no `id` at all, as Salesforce answers it; nor does one no record holds.
        ops = [(to_id18(i) if is_salesforce_id(i) and org.record_any(i) else None, op_for(i)) for i in ids]
        results = run_items(ctx, ops, all_or_none)
        note(ctx.request, records=len(ids))
        return json_response(results)

    async def retrieve(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        if ctx.request.method == "POST":
            body = await read_body(ctx.request)
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("ids"), list)
                or not isinstance(body.get("fields"), list)
            ):
                raise json_parser_error("The request body must have ids and fields arrays")
            ids = [str(i) for i in body["ids"]]
            fields = ",".join(str(f) for f in body["fields"])
        else:
            ids = [i for i in ctx.request.query_params.get("ids", "").split(",") if i]
            fields = ctx.request.query_params.get("fields", "")
        if not ids or not fields:
            raise SfError(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > MAX_RETRIEVE:
            raise _too_many(len(ids), MAX_RETRIEVE)
        out: list[Any] = []
        for raw in ids:
            if not is_salesforce_id(raw) or raw[:3] != obj.key_prefix:
                out.append(None)
                continue
            record = ctx.org.coll(obj).get(to_id18(raw))
            out.append(None if record is None else render_record(ctx, obj, record, fields))
        note(ctx.request, records=len(ids))
        return json_response(out)

    base = f"{DATA}/composite/sobjects"
    table = [
        (base, "collections_create", ["POST"], create),
        (base, "collections_update", ["PATCH"], update),
        (base, "collections_delete", ["DELETE"], delete),
        (f"{base}/{{sobject}}", "collections_retrieve", ["GET", "POST"], retrieve),
        (f"{base}/{{sobject}}/{{field}}", "collections_upsert", ["PATCH"], upsert),
    ]
    return routes(vendor, table)
