"""Schema discovery: properties (incl. creating custom and unique ones), pipelines, owners, custom schemas."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.context import HubSpotContext
from crmsync.emulators.hubspot.options import label_of
from crmsync.emulators.hubspot.params import int_param, json_object, object_type_param
from crmsync.emulators.hubspot.pipelines import PIPELINE_BY_ID, PIPELINES, render_pipeline
from crmsync.emulators.hubspot.schema import FIELD_TYPES, PROPERTY_TYPES, ObjectType, PropertyDef
from crmsync.emulators.hubspot.timefmt import iso_ms

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def render_property(prop: PropertyDef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if prop.created_iso is not None:
        out["updatedAt"] = prop.created_iso
        out["createdAt"] = prop.created_iso
    labels = prop.option_labels or tuple(label_of(v) for v in prop.options)
    out |= {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group,
        "options": [
            {"label": label, "value": value, "displayOrder": i, "hidden": False}
            for i, (label, value) in enumerate(zip(labels, prop.options, strict=True))
        ],
        "displayOrder": prop.display_order,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hasUniqueValue": prop.unique,
        "hidden": False,
    }
    if prop.hubspot_defined:
        out["hubspotDefined"] = True
    else:
        out["archived"] = False
        out |= {k: v for k, v in prop.extra.items() if k in ("createdUserId", "updatedUserId")}
    out |= {k: v for k, v in prop.extra.items() if k in ("referencedObjectType", "showCurrencySymbol")}
    out["modificationMetadata"] = {
        "archivable": True,
        "readOnlyDefinition": prop.hubspot_defined,
        "readOnlyValue": prop.read_only,
    }
    out["formField"] = not prop.read_only and prop.hubspot_defined
    out["dataSensitivity"] = "non_sensitive"
    return out


def property_from_body(body: dict[str, Any], *, created_iso: str, user_id: str) -> PropertyDef:
    """A custom property definition from a create request, checked the way HubSpot checks it."""
    name, label = body.get("name"), body.get("label")
    type_, field_type, group = body.get("type"), body.get("fieldType"), body.get("groupName")
    if not isinstance(name, str) or not _NAME.match(name):
        raise errors.validation(f"Property name {name!r} is invalid: use lowercase letters, digits and underscores")
    if not isinstance(label, str) or not label:
        raise errors.validation("label is required")
    if type_ not in PROPERTY_TYPES:
        raise errors.validation(f"type {type_!r} is not one of {', '.join(PROPERTY_TYPES)}")
    if field_type not in FIELD_TYPES:
        raise errors.validation(f"fieldType {field_type!r} is not one of {', '.join(FIELD_TYPES)}")
    if not isinstance(group, str) or not group:
        raise errors.validation("groupName is required")
    raw_options = body.get("options") or []
    if not isinstance(raw_options, list) or not all(
        isinstance(o, dict) and isinstance(o.get("value"), str) and isinstance(o.get("label"), str) for o in raw_options
    ):
        raise errors.validation("options must be an array of {label, value} objects")
    if type_ == "enumeration" and not raw_options:
        raise errors.validation("An enumeration property needs at least one option")
    unique = body.get("hasUniqueValue", False)
    description = body.get("description", "")
    if not isinstance(unique, bool) or not isinstance(description, str):
        raise errors.validation("hasUniqueValue must be a boolean and description a string")
    display_order = body.get("displayOrder", -1)
    if not isinstance(display_order, int) or isinstance(display_order, bool):
        raise errors.validation("displayOrder must be an integer")
    return PropertyDef(
        name,
        label,
        type_,
        field_type,
        group,
        options=tuple(o["value"] for o in raw_options),
        option_labels=tuple(o["label"] for o in raw_options),
        unique=unique,
        hubspot_defined=False,
        description=description,
        created_iso=created_iso,
        display_order=display_order,
        extra={"createdUserId": user_id, "updatedUserId": user_id},
    )


class MetadataRoutes:
    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/crm/v3/properties/{object_type}", self.list_properties, methods=["GET"]),
            Route("/crm/v3/properties/{object_type}", self.create_property, methods=["POST"]),
            Route("/crm/v3/properties/{object_type}/{name}", self.get_property, methods=["GET"]),
            Route("/crm/v3/pipelines/{object_type}", self.list_pipelines, methods=["GET"]),
            Route("/crm/v3/pipelines/{object_type}/{pipeline_id}", self.get_pipeline, methods=["GET"]),
            Route("/crm/v3/owners", self.owners, methods=["GET"]),
            Route("/crm/v3/owners/", self.owners, methods=["GET"]),
            Route("/crm/v3/schemas", self.schemas, methods=["GET"]),
        ]

    def add_property(self, ot: ObjectType, body: dict[str, Any]) -> PropertyDef:
        """Create a custom property (API and control plane); unique ones become usable as idProperty."""
        portal = self.ctx.portal
        now = iso_ms(self.ctx.runtime.clock.now_ms())
        prop = property_from_body(body, created_iso=now, user_id=str(self.ctx.config.user_id))
        if portal.catalog.get(ot, prop.name) is not None:
            raise errors.api_error(409, f"A property named '{prop.name}' already exists.", "CONFLICT")
        portal.catalog.add(ot, prop)
        if prop.unique:
            portal.declare_uniques(ot)
        return prop

    async def list_properties(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.properties.list")
        props = [render_property(p) for p in self.ctx.portal.catalog.of(ot).values()]
        return json_response({"results": props})

    async def get_property(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.properties.read")
        prop = self.ctx.portal.catalog.get(ot, request.path_params["name"])
        if prop is None:
            raise errors.not_found(f"Unable to find property {request.path_params['name']} for {ot.label}")
        return json_response(render_property(prop))

    async def create_property(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.properties.create")
        prop = self.add_property(ot, await json_object(request))
        return json_response(render_property(prop), 201)

    async def list_pipelines(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.pipelines.list")
        pipelines = PIPELINES if ot.name == "deals" else ()
        return json_response({"results": [render_pipeline(p) for p in pipelines]})

    async def get_pipeline(self, request: Request) -> Response:
        self.ctx.writer(request)
        ot = object_type_param(request.path_params["object_type"])
        note(request, op=f"{ot.name}.pipelines.read")
        pipeline = PIPELINE_BY_ID.get(request.path_params["pipeline_id"]) if ot.name == "deals" else None
        if pipeline is None:
            raise errors.not_found(f"Unable to find pipeline {request.path_params['pipeline_id']}")
        return json_response(render_pipeline(pipeline))

    async def owners(self, request: Request) -> Response:
        self.ctx.writer(request)
        note(request, op="owners.list")
        limit = int_param(request, "limit", 100, 1, 500)
        email = request.query_params.get("email")
        owners = [o for o in self.owner_list() if email is None or o["email"] == email]
        return json_response({"results": owners[:limit]})

    def owner_list(self) -> list[dict[str, Any]]:
        cfg = self.ctx.config
        rows = [
            (str(cfg.user_id), f"owner@{cfg.hub_domain}", "Olivia", "Owner", cfg.user_id),
            ("32900489", f"sales@{cfg.hub_domain}", "Sam", "Seller", 32900489),
        ]
        return [
            {
                "id": owner_id,
                "email": email,
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": "2024-01-15T09:00:00.000Z",
                "updatedAt": "2024-01-15T09:00:00.000Z",
                "archived": False,
            }
            for owner_id, email, first, last, user_id in rows
        ]

    async def schemas(self, request: Request) -> Response:
        self.ctx.writer(request)
        note(request, op="schemas.list")
        return json_response({"results": []})
