"""The hand-written OpenAPI 3.1 document of the emulated HubSpot subset (`/_emulator/openapi.json`)."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.hubspot.openapi_meta import association_paths, association_schemas, metadata_paths, oauth_paths
from crmsync.emulators.hubspot.openapi_objects import object_paths
from crmsync.emulators.hubspot.openapi_schemas import component_schemas

_DESCRIPTION = (
    "The subset of HubSpot's CRM v3/v4 API that crmsync's local emulator serves, written from HubSpot's "
    "documented behaviour and from what the emulator answers. Authenticate with the private-app token or an "
    "OAuth access token as a bearer token."
)


def build_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "crmsync HubSpot emulator", "version": "1", "description": _DESCRIPTION},
        "security": [{"bearer": []}],
        "paths": {**object_paths(), **association_paths(), **metadata_paths(), **oauth_paths()},
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a private-app token (never expires) or an OAuth access token (1,800 s)",
                }
            },
            "schemas": {**component_schemas(), **association_schemas()},
        },
    }
