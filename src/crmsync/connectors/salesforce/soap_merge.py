"""`WriteOp("merge")` through the partner SOAP API's `merge()`: Salesforce's only merge (REST has none).

A merge folds the victim (`op.id`) into the master (`op.into`): the victim is deleted with `MasterRecordId`
set and its children (contacts, opportunities, roles, activities) move to the master, so nothing hanging off
it is lost, as a delete would lose it. Accounts, contacts and leads merge. Up to 200 requests go in one call;
each request is its own transaction and has its own result. The session travels in the envelope's
`SessionHeader`; a session Salesforce refuses is fetched again once. A merge resent after its answer was lost
finds the victim deleted: when its `MasterRecordId` is the master, it is reported as done.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from crmsync.connectors.base import WriteError, WriteOp, WriteResult
from crmsync.connectors.http import TokenProvider
from crmsync.connectors.salesforce.api import SalesforceApi
from crmsync.connectors.salesforce.errors import item_class, item_scope
from crmsync.errors import AuthError, QuotaExhaustedError, TransientError, VendorResponseError

MERGEABLE = frozenset(("Account", "Contact", "Lead"))
"""The objects Salesforce's merge() accepts."""
MAX_REQUESTS = 200
"""Merge requests one SOAP call carries."""

_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARTNER = "urn:partner.soap.sforce.com"
_SOBJECT = "urn:sobject.partner.soap.sforce.com"
_NS = {"soapenv": _ENV, "p": _PARTNER}


async def merge(
    api: SalesforceApi,
    auth: TokenProvider,
    object: str,
    ops: Sequence[WriteOp],
    *,
    context: str,
    allowed: bool = True,
) -> list[WriteResult]:
    """One result per op, in order (ops that cannot be sent are refused without a call; all of them when the
    connection does not allow merges)."""
    results: dict[int, WriteResult] = {}
    sendable: list[tuple[int, WriteOp]] = []
    for index, op in enumerate(ops):
        refusal = _refusal(api.http.connection, object, op, allowed)
        if refusal is None:
            sendable.append((index, op))
        else:
            results[index] = refusal
    for start in range(0, len(sendable), MAX_REQUESTS):
        chunk = sendable[start : start + MAX_REQUESTS]
        answers = await _call(api, auth, object, [op for _, op in chunk], context)
        for (index, op), answer in zip(chunk, answers, strict=True):
            if not answer.ok and answer.error is not None and answer.error.code == "ENTITY_IS_DELETED":
                answer = await _merged_already(api, object, op, answer, context)
            results[index] = answer
    return [results[index] for index in range(len(ops))]


def _refusal(connection: str, object: str, op: WriteOp, allowed: bool) -> WriteResult | None:
    def refused(code: str, message: str) -> WriteResult:
        text = f"{connection}: {object} {op.id or op.ref}: {message}"
        return WriteResult(op.ref, False, op.id, error=WriteError("invalid", code, text, scope="record"))

    if not allowed:
        return refused("MERGE_DISABLED", "this connection does not merge (`merges: false`)")
    if object not in MERGEABLE:
        return refused("MERGE_UNSUPPORTED", f"Salesforce merges {', '.join(sorted(MERGEABLE))} only")
    if not op.id or not op.into:
        return refused("NO_KEY", "a merge needs the merged id and `into` (the master record)")
    if op.id == op.into:
        return refused("MERGE_ITSELF", "a record cannot be merged into itself")
    if not (op.id.isascii() and op.id.isalnum() and op.into.isascii() and op.into.isalnum()):
        return refused("MALFORMED_ID", "Salesforce ids are letters and digits")
    return None


async def _call(
    api: SalesforceApi, auth: TokenProvider, object: str, ops: Sequence[WriteOp], context: str
) -> list[WriteResult]:
    where = f"{api.http.connection}: {context} (SOAP merge)"
    path = f"/services/Soap/u/{api.version.removeprefix('v')}"
    refreshed = False
    while True:
        session = await auth.token()
        response = await api.http.request(
            "POST",
            path,
            context=f"{context} (SOAP merge)",
            content=_envelope(session, object, ops),
            headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'},
            accept=(500,),
        )
        root = _parse(response.content, where)
        fault = root.find("soapenv:Body/soapenv:Fault", _NS)
        if fault is None:
            return _results(root, ops, where, api.http.connection, object)
        code = (fault.findtext("faultcode") or "").rpartition(":")[2]
        message = fault.findtext("faultstring") or code
        if code == "INVALID_SESSION_ID" and not refreshed:
            auth.invalidate()  # an expired session: fetch another, once
            refreshed = True
            continue
        if code == "INVALID_SESSION_ID":
            raise AuthError(f"{where}: Salesforce refused the session after a refresh ({message})")
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise QuotaExhaustedError(f"{where}: {message}")
        if code in ("", "UNKNOWN_EXCEPTION", "Server"):  # Salesforce itself failed: try again later
            raise TransientError(f"{where}: {message}")
        raise VendorResponseError(f"{where}: Salesforce refused the merge call: {code}: {message}")


def _envelope(session: str, object: str, ops: Sequence[WriteOp]) -> bytes:
    requests = "".join(
        "<p:request><p:masterRecord>"
        f"<s:type>{escape(object)}</s:type><s:Id>{escape(op.into or '')}</s:Id>"
        f"</p:masterRecord><p:recordToMergeIds>{escape(op.id or '')}</p:recordToMergeIds></p:request>"
        for op in ops
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_ENV}" xmlns:p="{_PARTNER}" xmlns:s="{_SOBJECT}">'
        f"<soapenv:Header><p:SessionHeader><p:sessionId>{escape(session)}</p:sessionId></p:SessionHeader>"
        f"</soapenv:Header><soapenv:Body><p:merge>{requests}</p:merge></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _parse(raw: bytes, where: str) -> ElementTree.Element:
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise VendorResponseError(f"{where}: the answer declares a document type, which a SOAP answer never does")
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        # A 500 that is no SOAP envelope (a proxy's page, a cut connection): try again later.
        raise TransientError(f"{where}: the answer is not a SOAP envelope ({exc})") from None


def _results(
    root: ElementTree.Element, ops: Sequence[WriteOp], where: str, connection: str, object: str
) -> list[WriteResult]:
    found = root.findall("soapenv:Body/p:mergeResponse/p:result", _NS)
    if len(found) != len(ops):
        raise VendorResponseError(f"{where}: {len(found)} results for {len(ops)} merge requests")
    out: list[WriteResult] = []
    for op, result in zip(ops, found, strict=True):
        if result.findtext("p:success", namespaces=_NS) == "true":
            out.append(WriteResult(op.ref, True, result.findtext("p:id", namespaces=_NS) or op.into))
            continue
        error = result.find("p:errors", _NS)
        code = (error.findtext("p:statusCode", namespaces=_NS) if error is not None else None) or "UNKNOWN"
        message = (error.findtext("p:message", namespaces=_NS) if error is not None else None) or code
        fields = tuple(e.text or "" for e in error.findall("p:fields", _NS)) if error is not None else ()
        text = f"{connection}: {object} {op.id} into {op.into}: {code}: {message}"
        failure = WriteError(item_class(code), code, text, fields, scope=item_scope(code))
        out.append(WriteResult(op.ref, False, op.id, error=failure))
    return out


async def _merged_already(
    api: SalesforceApi, object: str, op: WriteOp, answer: WriteResult, context: str
) -> WriteResult:
    """Done when the deleted victim points at the master (an earlier attempt landed), else the error stands."""
    soql = f"SELECT Id, MasterRecordId FROM {object} WHERE Id = '{op.id}'"
    async for page in api.query(soql, context=f"{context} (was the merge done?)", all_rows=True):
        for row in page.records:
            if isinstance(row, dict) and row.get("MasterRecordId") == op.into:
                return WriteResult(op.ref, True, op.into)
    return answer


__all__ = ["MERGEABLE", "merge"]
