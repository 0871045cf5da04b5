"""Associations: v4 single and batch endpoints, the label catalogue, and v3 batch create."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.assoc_input import association_type_spec
from crmsync.emulators.hubspot.associations import (
    AssociationType,
    association_type,
    default_type,
    type_named,
    types_between,
)
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.params import int_param, json_body, json_object, object_type_param
from crmsync.emulators.hubspot.routes_batch import MAX_INPUTS, standard_error
from crmsync.emulators.hubspot.schema import ObjectType
from crmsync.emulators.hubspot.timefmt import iso_ms

V4 = "/crm/v4"


def type_json(atype: AssociationType) -> dict[str, Any]:
    return {"category": atype.category, "typeId": atype.type_id, "label": atype.label}


def spec_json(atype: AssociationType) -> dict[str, Any]:
    return {"associationCategory": atype.category, "associationTypeId": atype.type_id}


def _id_of(raw: Any, what: str) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise errors.validation(f"Invalid input JSON: `{what}.id` is required")
    return str(value)


class AssociationRoutes:
    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        obj = f"{V4}/objects/{{from_type}}/{{from_id}}/associations"
        batch = f"{V4}/associations/{{from_type}}/{{to_type}}"
        return [
            Route(f"{obj}/default/{{to_type}}/{{to_id}}", self.put_default, methods=["PUT"]),
            Route(f"{obj}/{{to_type}}/{{to_id}}", self.put_labelled, methods=["PUT"]),
            Route(f"{obj}/{{to_type}}/{{to_id}}", self.delete_one, methods=["DELETE"]),
            Route(f"{obj}/{{to_type}}", self.list_for_object, methods=["GET"]),
            Route(f"{batch}/labels", self.labels, methods=["GET"]),
            Route(f"{batch}/batch/create", self.batch_create, methods=["POST"]),
            Route(f"{batch}/batch/associate/default", self.batch_default, methods=["POST"]),
            Route(f"{batch}/batch/read", self.batch_read, methods=["POST"]),
            Route(f"{batch}/batch/archive", self.batch_archive, methods=["POST"]),
            Route(
                "/crm/v3/associations/{from_type}/{to_type}/batch/create",
                self.v3_batch_create,
                methods=["POST"],
            ),
        ]

    # ---- helpers ----------------------------------------------------------------------------
    def _types(self, request: Request) -> tuple[ObjectType, ObjectType]:
        return object_type_param(request.path_params["from_type"]), object_type_param(request.path_params["to_type"])

    def _pair_exists(self, from_ot: ObjectType, to_ot: ObjectType) -> AssociationType:
        atype = default_type(from_ot, to_ot)
        if atype is None:
            raise errors.validation(f"No association types exist between {from_ot.label} and {to_ot.label}")
        return atype

    def _live(self, ot: ObjectType, object_id: str) -> str | None:
        record = self.ctx.portal.resolve(ot, object_id)
        return record.id if record is not None else None

    def _require(self, ot: ObjectType, object_id: str) -> str:
        found = self._live(ot, object_id)
        if found is None:
            raise errors.not_found(f"{ot.singular} {object_id} does not exist")
        return found

    def _timing(self, started: int, results: list[Any], problems: list[dict[str, Any]], ok: int) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if problems:
            body["numErrors"] = len(problems)
            body["errors"] = problems
        body["startedAt"] = iso_ms(started)
        body["completedAt"] = iso_ms(self.ctx.runtime.clock.now_ms())
        return json_response(body, 207 if problems else ok)

    def _labels_result(self, from_ot: ObjectType, from_id: str, to_ot: ObjectType, to_id: str) -> dict[str, Any]:
        type_ids = self.ctx.portal.associations.targets(from_ot, from_id, to_ot).get(to_id, ())
        labels = [a.label for a in (association_type(t) for t in type_ids) if a is not None and a.label]
        return {
            "fromObjectTypeId": from_ot.type_id,
            "fromObjectId": int(from_id),
            "toObjectTypeId": to_ot.type_id,
            "toObjectId": int(to_id),
            "labels": labels,
        }

    def _default_results(
        self, from_ot: ObjectType, from_id: str, to_ot: ObjectType, to_id: str, atype: AssociationType
    ) -> list[dict[str, Any]]:
        inverse = association_type(atype.inverse_id)
        results = [{"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec_json(atype)}]
        if inverse is not None:
            results.append({"from": {"id": to_id}, "to": {"id": from_id}, "associationSpec": spec_json(inverse)})
        return results

    # ---- single -----------------------------------------------------------------------------
    async def put_default(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        note(request, op="associations.v4.default", records=1)
        atype = self._pair_exists(from_ot, to_ot)
        from_id = self._require(from_ot, request.path_params["from_id"])
        to_id = self._require(to_ot, request.path_params["to_id"])
        started = self.ctx.runtime.clock.now_ms()
        self.ctx.portal.associate(from_ot, from_id, to_ot, to_id, [atype], writer)
        return self._timing(started, self._default_results(from_ot, from_id, to_ot, to_id, atype), [], 200)

    async def put_labelled(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        note(request, op="associations.v4.create", records=1)
        body = await json_body(request)
        if not isinstance(body, list) or not body:
            raise errors.validation("Invalid input JSON: expected a non-empty array of association types")
        types = [association_type_spec(from_ot, spec) for spec in body]
        if any(t.to_type != to_ot.singular for t in types):
            raise errors.validation(f"Association type does not connect {from_ot.label} to {to_ot.label}")
        from_id = self._require(from_ot, request.path_params["from_id"])
        to_id = self._require(to_ot, request.path_params["to_id"])
        self.ctx.portal.associate(from_ot, from_id, to_ot, to_id, types, writer)
        return json_response(self._labels_result(from_ot, from_id, to_ot, to_id), 201)

    async def delete_one(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        note(request, op="associations.v4.archive", records=1)
        from_id = self._live(from_ot, request.path_params["from_id"])
        to_id = self._live(to_ot, request.path_params["to_id"])
        if from_id is not None and to_id is not None:
            self.ctx.portal.associate(from_ot, from_id, to_ot, to_id, [], writer, remove=True)
        return Response(status_code=204)

    async def list_for_object(self, request: Request) -> Response:
        self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        note(request, op="associations.v4.list")
        limit = int_param(request, "limit", 500, 1, 500)
        after = int_param(request, "after", 0, 0, 10**9)
        # An old (merged-away) id reads nothing, as HubSpot documents for association reads after a merge.
        record = self.ctx.portal.collection(from_ot).get(request.path_params["from_id"])
        rows = self._rows(from_ot, record.id, to_ot) if record is not None else []
        page = rows[after : after + limit]
        note(request, records=len(page))
        body: dict[str, Any] = {"results": page}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit), "link": None}}
        return json_response(body)

    def _rows(self, from_ot: ObjectType, from_id: str, to_ot: ObjectType) -> list[dict[str, Any]]:
        target = self.ctx.portal.collection(to_ot)
        rows = []
        for to_id, type_ids in self.ctx.portal.associations.targets(from_ot, from_id, to_ot).items():
            if target.get(to_id) is None:
                continue
            types = [type_json(a) for a in (association_type(t) for t in type_ids) if a is not None]
            rows.append({"toObjectId": int(to_id), "associationTypes": types})
        return rows

    async def labels(self, request: Request) -> Response:
        self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        note(request, op="associations.v4.labels")
        return json_response({"results": [type_json(a) for a in types_between(from_ot, to_ot)]})

    # ---- batch ------------------------------------------------------------------------------
    async def _inputs(self, request: Request, op: str) -> list[dict[str, Any]]:
        note(request, op=op)
        body = await json_object(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise errors.validation("Invalid input JSON: `inputs` must be an array of objects")
        if len(inputs) > MAX_INPUTS * 10:
            raise errors.validation(f"Batch input size {len(inputs)} exceeds the maximum of {MAX_INPUTS * 10}")
        note(request, records=len(inputs))
        return inputs

    def _missing(self, ot_ids: list[tuple[ObjectType, str]]) -> dict[str, Any] | None:
        missing = [object_id for ot, object_id in ot_ids if self._live(ot, object_id) is None]
        if not missing:
            return None
        return standard_error(
            "VALIDATION_ERROR", f"Could not find objects with ids {', '.join(missing)}", {"ids": missing}
        )

    async def batch_create(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        inputs = await self._inputs(request, "associations.v4.batch.create")
        started = self.ctx.runtime.clock.now_ms()
        results, problems = [], []
        for item in inputs:
            from_id, to_id = _id_of(item.get("from"), "from"), _id_of(item.get("to"), "to")
            types_raw = item.get("types")
            if not isinstance(types_raw, list) or not types_raw:
                raise errors.validation("Invalid input JSON: each input needs a non-empty `types` array")
            types = [association_type_spec(from_ot, spec) for spec in types_raw]
            problem = self._missing([(from_ot, from_id), (to_ot, to_id)])
            if problem is not None:
                problems.append(problem)
                continue
            live_from, live_to = self._require(from_ot, from_id), self._require(to_ot, to_id)
            self.ctx.portal.associate(from_ot, live_from, to_ot, live_to, types, writer)
            results.append(self._labels_result(from_ot, live_from, to_ot, live_to))
        return self._timing(started, results, problems, 201)

    async def batch_default(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        inputs = await self._inputs(request, "associations.v4.batch.default")
        atype = self._pair_exists(from_ot, to_ot)
        started = self.ctx.runtime.clock.now_ms()
        results: list[dict[str, Any]] = []
        problems = []
        for item in inputs:
            from_id, to_id = _id_of(item.get("from"), "from"), _id_of(item.get("to"), "to")
            problem = self._missing([(from_ot, from_id), (to_ot, to_id)])
            if problem is not None:
                problems.append(problem)
                continue
            live_from, live_to = self._require(from_ot, from_id), self._require(to_ot, to_id)
            self.ctx.portal.associate(from_ot, live_from, to_ot, live_to, [atype], writer)
            results += self._default_results(from_ot, live_from, to_ot, live_to, atype)
        return self._timing(started, results, problems, 200)

    async def batch_read(self, request: Request) -> Response:
        self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        inputs = await self._inputs(request, "associations.v4.batch.read")
        started = self.ctx.runtime.clock.now_ms()
        results, missing = [], []
        for item in inputs:
            from_id = _id_of(item, "inputs[]")
            record = self.ctx.portal.collection(from_ot).get(from_id)
            if record is None:
                missing.append(from_id)
                continue
            results.append({"from": {"id": from_id}, "to": self._rows(from_ot, from_id, to_ot)})
        problems = []
        if missing:
            message = f"No {from_ot.label} records found for ids {', '.join(missing)}"
            problems.append(standard_error("OBJECT_NOT_FOUND", message, {"ids": missing}))
        return self._timing(started, results, problems, 200)

    async def batch_archive(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        inputs = await self._inputs(request, "associations.v4.batch.archive")
        plan = []
        for item in inputs:
            from_id = _id_of(item.get("from"), "from")
            targets = item.get("to")
            if not isinstance(targets, list):
                raise errors.validation("Invalid input JSON: `to` must be an array of {id}")
            plan.append((from_id, [_id_of(t, "to[]") for t in targets]))
        for from_id, to_ids in plan:
            for to_id in to_ids:
                self.ctx.portal.associate(from_ot, from_id, to_ot, to_id, [], writer, remove=True)
        return Response(status_code=204)

    async def v3_batch_create(self, request: Request) -> Response:
        writer = self.ctx.writer(request)
        from_ot, to_ot = self._types(request)
        inputs = await self._inputs(request, "associations.v3.batch.create")
        started = self.ctx.runtime.clock.now_ms()
        results: list[dict[str, Any]] = []
        problems = []
        for item in inputs:
            from_id, to_id = _id_of(item.get("from"), "from"), _id_of(item.get("to"), "to")
            atype = type_named(str(item.get("type", "")))
            if atype is None or atype.from_type != from_ot.singular or atype.to_type != to_ot.singular:
                raise errors.validation(f"Invalid association type {item.get('type')!r} for {from_ot.label}")
            problem = self._missing([(from_ot, from_id), (to_ot, to_id)])
            if problem is not None:
                problems.append(problem)
                continue
            live_from, live_to = self._require(from_ot, from_id), self._require(to_ot, to_id)
            types = [atype]
            plain = default_type(from_ot, to_ot)
            if atype.label is not None and plain is not None:
                types.append(plain)  # a primary association always comes with the unlabeled one
            self.ctx.portal.associate(from_ot, live_from, to_ot, live_to, types, writer)
            inverse = association_type(atype.inverse_id)
            if inverse is not None:
                results.append({"from": {"id": live_to}, "to": {"id": live_from}, "type": inverse.name})
            results.append({"from": {"id": live_from}, "to": {"id": live_to}, "type": atype.name})
        return self._timing(started, results, problems, 201)
