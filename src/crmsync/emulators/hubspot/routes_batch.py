"""Batch endpoints: read, create, update, upsert and archive up to 100 inputs, with 207 partial failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.app import partial_failure_share
from crmsync.emulators.core.http import ApiError, json_response, note
from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.assoc_input import apply_associations, parse_associations
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.params import bool_param, json_object, object_type_param, str_list
from crmsync.emulators.hubspot.render import RecordView
from crmsync.emulators.hubspot.routes_objects import OBJECT_PREFIXES
from crmsync.emulators.hubspot.schema import ObjectType
from crmsync.emulators.hubspot.timefmt import iso_ms

MAX_INPUTS = 100


def failing_indices(count: int, share: float) -> set[int]:
    """Spread an injected `partial_batch` failure evenly over the inputs."""
    if share <= 0:
        return set()
    return {i for i in range(count) if int((i + 1) * share) > int(i * share)}


def standard_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def error_entry(exc: ApiError, trace_id: str | None, object_id: str) -> dict[str, Any]:
    """A whole-request error turned into one batch item error."""
    body = orjson.loads(exc.response.body)
    context = {"objectWriteTraceId": [trace_id]} if trace_id is not None else {"ids": [object_id]}
    return standard_error(body.get("category", "VALIDATION_ERROR"), body.get("message", ""), context)


class BatchRoutes:
    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        found: list[BaseRoute] = []
        for prefix in OBJECT_PREFIXES:
            base = f"{prefix}/{{object_type}}/batch"
            found += [
                Route(f"{base}/read", self.read, methods=["POST"]),
                Route(f"{base}/create", self.create, methods=["POST"]),
                Route(f"{base}/update", self.update, methods=["POST"]),
                Route(f"{base}/upsert", self.upsert, methods=["POST"]),
                Route(f"{base}/archive", self.archive, methods=["POST"]),
            ]
        return found

    async def _inputs(self, request: Request, op: str) -> tuple[ObjectType, dict[str, Any], list[dict[str, Any]]]:
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.batch.{op}")
        body = await json_object(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise errors.validation("Invalid input JSON: `inputs` must be an array")
        if len(inputs) > MAX_INPUTS:
            raise errors.validation(f"Batch input size {len(inputs)} exceeds the maximum of {MAX_INPUTS} inputs")
        if not all(isinstance(item, dict) for item in inputs):
            raise errors.validation("Invalid input JSON: every input must be an object")
        note(request, records=len(inputs))
        return ot, body, inputs

    def _answer(
        self, started: int, results: list[dict[str, Any]], problems: list[dict[str, Any]], ok_status: int
    ) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if problems:
            body["numErrors"] = len(problems)
            body["errors"] = problems
        body["startedAt"] = iso_ms(started)
        body["completedAt"] = iso_ms(self.ctx.runtime.clock.now_ms())
        return json_response(body, 207 if problems else ok_status)

    async def read(self, request: Request) -> Response:
        self.ctx.writer(request)
        started = self.ctx.runtime.clock.now_ms()
        ot, body, inputs = await self._inputs(request, "read")
        portal = self.ctx.portal
        view = RecordView(
            portal,
            ot,
            str_list(body.get("properties"), "properties"),
            with_history=str_list(body.get("propertiesWithHistory"), "propertiesWithHistory"),
        )
        if body.get("properties") is None:
            view = RecordView(portal, ot, None, with_history=view.history)
        id_property = body.get("idProperty")
        if id_property is not None and not isinstance(id_property, str):
            raise errors.validation("Invalid input JSON: idProperty must be a string")
        archived = bool_param(request, "archived")
        fail = failing_indices(len(inputs), partial_failure_share(request))
        results, missing, seen = [], [], set()
        for index, item in enumerate(inputs):
            raw_id = item.get("id")
            if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
                raise errors.validation("Invalid input JSON: every input needs an `id`")
            object_id = str(raw_id)
            record = None if index in fail else portal.find(ot, object_id, id_property)
            if record is None and archived and index not in fail:
                gone = portal.collection(ot).get(object_id, include_deleted=True)
                record = gone if gone is not None and gone.merged_into is None else None
            if record is None:
                missing.append(object_id)
            elif record.id not in seen:
                seen.add(record.id)
                results.append(view.render(record))
        problems = []
        if missing:
            message = (
                f"Could not get some {ot.label} objects, they may be deleted or not exist. Check that ids are valid."
            )
            problems.append(standard_error("OBJECT_NOT_FOUND", message, {"ids": missing}))
        return self._answer(started, results, problems, 200)

    async def _write_each(
        self,
        request: Request,
        inputs: list[dict[str, Any]],
        plan: Callable[[dict[str, Any]], Callable[[], dict[str, Any]]],
        fail_category: str,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Check every input first, then write. Without unique `objectWriteTraceId`s one bad input fails the
        whole call (HubSpot's rule); with them, bad inputs become per-item errors (207)."""
        traces = [item.get("objectWriteTraceId") for item in inputs]
        traced = all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(traces)
        fail = failing_indices(len(inputs), partial_failure_share(request))
        writes: list[tuple[int, Callable[[], dict[str, Any]]]] = []
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(inputs):
            trace = traces[index] if traced else None
            if index in fail:
                message = "The write could not be completed; retry the input (injected partial failure)"
                context = {"objectWriteTraceId": [str(trace)]} if trace else {"ids": [str(item.get("id", index))]}
                problems.append(standard_error(fail_category, message, context))
                continue
            try:
                writes.append((index, plan(item)))
            except ApiError as exc:
                # A missing record fails only its own input; other bad input fails the call unless traced.
                if not traced and exc.response.status_code != 404:
                    raise
                problems.append(error_entry(exc, trace, str(item.get("id", index))))
        results = []
        for index, write in writes:
            try:
                result = write()
            except ApiError as exc:
                if not traced and exc.response.status_code != 404:
                    raise
                trace = traces[index] if traced else None
                problems.append(error_entry(exc, str(trace) if trace else None, str(inputs[index].get("id", index))))
                continue
            if traced:
                result["objectWriteTraceId"] = traces[index]
            results.append(result)
        return results, problems

    async def create(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        started = self.ctx.runtime.clock.now_ms()
        ot, _, inputs = await self._inputs(request, "create")
        portal = self.ctx.portal
        view = RecordView(portal, ot)
        emails: set[str] = set()

        def plan(item: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            clean = portal.validate(ot, item.get("properties", {}))
            planned = parse_associations(portal, ot, item.get("associations"))
            email = clean.get("email", "").lower()
            if ot.name == "contacts" and email:
                existing = portal.find(ot, email, "email")
                if existing is not None:
                    raise errors.conflict(existing.id)
                if email in emails:
                    raise errors.validation(f"Duplicate email {email} in batch input")
                emails.add(email)

            def write() -> dict[str, Any]:
                record = portal.insert_clean(ot, clean, writer)
                apply_associations(portal, ot, record.id, planned, writer)
                return view.render_all(record)

            return write

        results, problems = await self._write_each(request, inputs, plan, "VALIDATION_ERROR")
        return self._answer(started, results, problems, 201)

    async def update(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        started = self.ctx.runtime.clock.now_ms()
        ot, _, inputs = await self._inputs(request, "update")
        portal = self.ctx.portal
        view = RecordView(portal, ot)

        def plan(item: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            record = self._find(ot, item)
            clean = portal.validate(ot, item.get("properties", {}))

            def write() -> dict[str, Any]:
                portal.apply_clean(ot, record, clean, writer)
                return view.render_written(record, clean)

            return write

        results, problems = await self._write_each(request, inputs, plan, "OBJECT_NOT_FOUND")
        return self._answer(started, results, problems, 200)

    async def upsert(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        started = self.ctx.runtime.clock.now_ms()
        ot, _, inputs = await self._inputs(request, "upsert")
        portal = self.ctx.portal
        view = RecordView(portal, ot)
        seen: set[tuple[str, str]] = set()
        for item in inputs:
            key = (str(item.get("idProperty")), str(item.get("id")).lower())
            if key in seen:
                raise errors.validation(f"Duplicate IDs found in batch input: {key[1]}")
            seen.add(key)

        def plan(item: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            object_id, id_property = item.get("id"), item.get("idProperty")
            if not isinstance(object_id, str) or not object_id:
                raise errors.validation("Invalid input JSON: every upsert input needs a string `id`")
            if not isinstance(id_property, str) or not id_property:
                raise errors.validation("Invalid input JSON: every upsert input needs an `idProperty`")
            record = portal.find(ot, object_id, id_property)
            clean = portal.validate(ot, item.get("properties", {}))
            if record is None and id_property != "hs_object_id":
                clean = {**clean, **portal.validate(ot, {id_property: object_id})}

            def write() -> dict[str, Any]:
                if record is not None:
                    portal.apply_clean(ot, record, clean, writer)
                    return {**view.render_written(record, clean), "new": False}
                if id_property == "hs_object_id":
                    raise errors.not_found(f"Object {object_id} of type {ot.label} was not found")
                created = portal.insert_clean(ot, clean, writer)
                return {**view.render_all(created), "new": True}

            return write

        results, problems = await self._write_each(request, inputs, plan, "VALIDATION_ERROR")
        return self._answer(started, results, problems, 200)

    async def archive(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        ot, _, inputs = await self._inputs(request, "archive")
        portal = self.ctx.portal
        for item in inputs:
            raw_id = item.get("id")
            if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
                raise errors.validation("Invalid input JSON: every input needs an `id`")
        started = self.ctx.runtime.clock.now_ms()
        fail = failing_indices(len(inputs), partial_failure_share(request))
        for index, item in enumerate(inputs):
            record = portal.collection(ot).get(str(item["id"]))
            if record is not None and index not in fail:
                portal.archive(ot, record, writer)
        if fail:
            message = "The archive could not be completed; retry the input (injected partial failure)"
            ids = [str(inputs[i]["id"]) for i in sorted(fail)]
            return self._answer(started, [], [standard_error("VALIDATION_ERROR", message, {"ids": ids})], 204)
        return Response(status_code=204)

    def _find(self, ot: ObjectType, item: dict[str, Any]) -> StoredRecord:
        raw_id, id_property = item.get("id"), item.get("idProperty")
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
            raise errors.validation("Invalid input JSON: every input needs an `id`")
        if id_property is not None and not isinstance(id_property, str):
            raise errors.validation("Invalid input JSON: idProperty must be a string")
        record = self.ctx.portal.find(ot, str(raw_id), id_property)
        if record is None:
            raise errors.api_error(404, f"Object {raw_id} of type {ot.label} was not found", "OBJECT_NOT_FOUND")
        return record
