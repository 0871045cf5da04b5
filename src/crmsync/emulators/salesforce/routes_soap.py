"""The partner SOAP API's `merge()` call: the only way Salesforce's APIs merge records (REST has no merge).

`POST /services/Soap/u/{version}` with a SOAP 1.1 envelope: the session (an OAuth access token) travels in the
`SessionHeader`, the body holds `<merge>` with up to 200 `<request>`s, each a `masterRecord` (its `type`, `Id`
and any field values to keep) and one or two `recordToMergeIds`. Each request is its own transaction: the
answer carries one `result` per request (`id`, `mergedRecordIds`, `updatedRelatedIds`, `success`, `errors`).
A bad session or envelope is a SOAP fault (HTTP 500). Only `merge` is emulated; other operations are faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import note
from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.openapi_schemas import version_pattern

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
MAX_REQUESTS = 200
"""Merge requests one call may carry."""
LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
ILLEGAL_SESSION = "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session"
UNSUPPORTED_VERSION = "UNSUPPORTED_API_VERSION: Invalid Api version specified on URL"


class _Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def soap_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    async def endpoint(request: Request) -> Response:
        note(request, op="soap.merge")
        try:
            version = str(request.path_params["version"])
            if not _known_version(vendor, version):
                raise _Fault("sf:UNSUPPORTED_API_VERSION", UNSUPPORTED_VERSION)
            envelope = _parse(await request.body())
            user = _session_user(vendor, envelope)
            requests = _merge_requests(envelope)
            results = [_merge(vendor, item, user) for item in requests]
            vendor.outbound.flush()
        except _Fault as fault:
            return _fault(fault)
        return _envelope(vendor, "<mergeResponse>" + "".join(results) + "</mergeResponse>", 200)

    return [Route("/services/Soap/u/{version}", endpoint, methods=["POST"])]


def _known_version(vendor: SalesforceVendor, version: str) -> bool:
    major, dot, minor = version.partition(".")
    if not (major.isascii() and major.isdigit() and dot and minor == "0"):
        return False
    return vendor.config.min_api_version <= float(version) <= vendor.config.max_api_version


def _parse(raw: bytes) -> ElementTree.Element:
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise _Fault("soapenv:Client", "Document type declarations are not allowed")
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise _Fault("soapenv:Client", f"Unable to parse the request: {exc}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise _Fault("soapenv:VersionMismatch", "Wrong SOAP Version: the root is not a SOAP 1.1 Envelope")
    return root


def _session_user(vendor: SalesforceVendor, envelope: ElementTree.Element) -> str:
    token = envelope.findtext(f"{{{SOAP_ENV}}}Header/{{{PARTNER}}}SessionHeader/{{{PARTNER}}}sessionId") or ""
    state, issued = vendor.auth.tokens.check(token.strip())
    if state != "ok" or issued is None:
        raise _Fault("sf:INVALID_SESSION_ID", ILLEGAL_SESSION)
    return issued.principal


def _merge_requests(envelope: ElementTree.Element) -> list[ElementTree.Element]:
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    call = next(iter(body), None) if body is not None else None
    if call is None:
        raise _Fault("soapenv:Client", "No operation found in the SOAP Body")
    if call.tag != f"{{{PARTNER}}}merge":
        raise _Fault("soapenv:Client", f"No operation available for request {call.tag}")
    requests = call.findall(f"{{{PARTNER}}}request")
    if not requests:
        raise _Fault("sf:INVALID_FIELD", "INVALID_FIELD: merge needs at least one request")
    if len(requests) > MAX_REQUESTS:
        raise _Fault("sf:EXCEEDED_ID_LIMIT", f"EXCEEDED_ID_LIMIT: merge takes up to {MAX_REQUESTS} requests")
    return requests


def _merge(vendor: SalesforceVendor, request: ElementTree.Element, user: str) -> str:
    """One request, as its own transaction: its `<result>`."""
    org = vendor.org
    master = request.find(f"{{{PARTNER}}}masterRecord")
    victims = [(item.text or "").strip() for item in request.findall(f"{{{PARTNER}}}recordToMergeIds")]
    try:
        if master is None:
            raise SfError(400, "INVALID_FIELD", "masterRecord is required")
        type_name = (master.findtext(f"{{{SOBJECT}}}type") or "").strip()
        master_id = (master.findtext(f"{{{SOBJECT}}}Id") or "").strip()
        obj = org.object(type_name)
        if obj is None:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        fields = {
            child.tag.rpartition("}")[2]: child.text
            for child in master
            if child.tag not in (f"{{{SOBJECT}}}type", f"{{{SOBJECT}}}Id", f"{{{SOBJECT}}}fieldsToNull")
        }
        related: list[str] = []
        merged = org.merge(obj, master_id, victims, fields, user, related)
    except SfError as exc:
        fields_xml = "".join(f"<fields>{escape(name)}</fields>" for name in exc.fields or ())
        return (
            f"<result><errors>{fields_xml}<message>{escape(exc.message)}</message>"
            f'<statusCode>{escape(exc.code)}</statusCode></errors><id xsi:nil="true"/>'
            "<success>false</success></result>"
        )
    merged_ids = "".join(f"<mergedRecordIds>{escape(victim)}</mergedRecordIds>" for victim in victims)
    related_ids = "".join(f"<updatedRelatedIds>{escape(child)}</updatedRelatedIds>" for child in related)
    return f"<result><id>{escape(merged.id)}</id>{merged_ids}<success>true</success>{related_ids}</result>"


def _envelope(vendor: SalesforceVendor, body: str, status: int) -> Response:
    budget = vendor.budget
    header = (
        "<soapenv:Header><LimitInfoHeader><limitInfo>"
        f"<current>{budget.used}</current><limit>{budget.limit}</limit><type>API REQUESTS</type>"
        "</limitInfo></LimitInfoHeader></soapenv:Header>"
    )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
    return Response(text, status, media_type="text/xml; charset=utf-8")


def fault_response(code: str, message: str) -> Response:
    """A SOAP fault (HTTP 500, as the SOAP API answers every call it refuses whole)."""
    return _fault(_Fault(code, message))


def soap_paths(low: float, high: float) -> dict[str, dict[str, Any]]:
    """The OpenAPI entry of the SOAP call (the document is JSON-first; the envelope is described in words)."""
    xml = {"text/xml": {"schema": {"type": "string"}}}
    version = {"type": "string", "pattern": version_pattern(low, high).replace("^v", "^", 1)}
    return {
        "/services/Soap/u/{version}": {
            "post": {
                "operationId": "soap_merge",
                "summary": "Partner SOAP API: merge() only (a SessionHeader/sessionId carries the session)",
                "security": [],
                "parameters": [{"name": "version", "in": "path", "required": True, "schema": version}],
                "requestBody": {"required": True, "content": xml},
                "responses": {
                    "200": {"description": "a mergeResponse with one result per request", "content": xml},
                    "500": {"description": "a SOAP fault: bad session, envelope, operation or version", "content": xml},
                },
            }
        }
    }


def _fault(fault: _Fault) -> Response:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="urn:fault.partner.soap.sforce.com">'
        f"<soapenv:Body><soapenv:Fault><faultcode>{escape(fault.code)}</faultcode>"
        f"<faultstring>{escape(fault.message)}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(text, 500, media_type="text/xml; charset=utf-8")


__all__ = ["LIMIT_EXCEEDED", "fault_response", "soap_paths", "soap_routes"]
