"""The hand-written OpenAPI 3.1 document of the emulated Salesforce REST subset (`/_emulator/openapi.json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync.emulators.salesforce.openapi_composite import composite_paths
from crmsync.emulators.salesforce.openapi_describe import describe_schemas
from crmsync.emulators.salesforce.openapi_meta import meta_paths, oauth_paths
from crmsync.emulators.salesforce.openapi_records import query_paths, record_paths
from crmsync.emulators.salesforce.openapi_schemas import component_parameters, component_responses, component_schemas
from crmsync.emulators.salesforce.routes_soap import soap_paths

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

_DESCRIPTION = (
    "The subset of the Salesforce REST API (and the SOAP API's merge) that crmsync's local emulator serves, "
    "written from Salesforce's documented behaviour and from what the emulator answers (Salesforce publishes no "
    "OpenAPI document). "
    "Authenticate with a session from `/services/oauth2/token` or the configured static session as a bearer "
    "token (`OAuth <token>` works too). Every path also answers with a trailing slash. Errors are a JSON array "
    "`[{message, errorCode, fields}]`; collection items report `{statusCode, message, fields}`."
)


def build_openapi(vendor: SalesforceVendor) -> dict[str, Any]:
    cfg = vendor.config
    objects = sorted(vendor.org.objects)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Salesforce REST (crmsync emulator)", "version": "1", "description": _DESCRIPTION},
        "security": [{"bearer": []}],
        "paths": _merge(
            oauth_paths(),
            meta_paths(),
            record_paths(),
            query_paths(),
            composite_paths(),
            soap_paths(cfg.min_api_version, cfg.max_api_version),
        ),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": f"a session id; sessions last {cfg.session_timeout_s} s of emulator time",
                }
            },
            "parameters": component_parameters(objects, cfg.min_api_version, cfg.max_api_version),
            "responses": component_responses(),
            "schemas": {**component_schemas(), **describe_schemas()},
        },
    }


def _merge(*groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Union of path groups; a path two groups share (GET basic info, POST create) keeps every method."""
    paths: dict[str, dict[str, Any]] = {}
    for group in groups:
        for path, item in group.items():
            methods = paths.setdefault(path, {})
            clash = methods.keys() & item.keys()
            if clash:
                raise ValueError(f"{path} is documented twice for {sorted(clash)}")
            methods.update(item)
    return paths
