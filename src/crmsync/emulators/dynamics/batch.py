"""`$batch`: multipart/mixed parsing, change sets as transactions with `$n` references, multipart responses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.responses import Response

from crmsync.emulators.core.store import ChangeEvent
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call
from crmsync.emulators.dynamics.paths import API_PREFIX
from crmsync.emulators.dynamics.state import DataverseState, Transaction

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_ENTITY_ID = re.compile(r"/([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)$")
_HEADER_CASE = {
    "odata-version": "OData-Version",
    "odata-entityid": "OData-EntityId",
    "location": "Location",
    "content-type": "Content-Type",
    "etag": "ETag",
    "preference-applied": "Preference-Applied",
}
Handle = Callable[[Call], Response]
Publish = Callable[[list[ChangeEvent]], None]


@dataclass
class Part:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


def boundary_of(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        errors.bad_request("The $batch request must be multipart/mixed with a boundary.")
    return match.group(1)


def _split(text: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    pieces = text.split(delimiter)
    if len(pieces) < 2:
        errors.bad_request(f"The batch body does not contain the boundary '{boundary}'.")
    parts: list[str] = []
    for piece in pieces[1:]:
        if piece.startswith("--"):
            break
        parts.append(piece.lstrip("\r\n").lstrip(" \t"))
    return parts


def _headers_and_rest(text: str) -> tuple[dict[str, str], str]:
    normalised = text.replace("\r\n", "\n")
    head, _, rest = normalised.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            errors.bad_request(f"Malformed header line in a batch part: '{line[:80]}'.")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(part_text: str) -> Part:
    part_headers, rest = _headers_and_rest(part_text)
    if "application/http" not in part_headers.get("content-type", "application/http").lower():
        errors.bad_request("Each batch part must have Content-Type application/http.")
    rest = rest.lstrip("\n")
    line, _, after = rest.partition("\n")
    pieces = line.strip().split(" ")
    if len(pieces) < 2 or pieces[0] not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        errors.bad_request(f"Malformed request line in a batch part: '{line[:80]}'.")
    headers, body = _headers_and_rest(after) if after.strip() else ({}, "")
    content_id = part_headers.get("content-id") or headers.get("content-id")
    return Part(pieces[0], pieces[1], headers, body.rstrip("\n").encode("utf-8"), content_id)


def parse_batch(body: bytes, content_type: str) -> list[Part | ChangeSet]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        errors.bad_request("The $batch body is not valid UTF-8.")
    items: list[Part | ChangeSet] = []
    for part_text in _split(text, boundary_of(content_type)):
        headers, rest = _headers_and_rest(part_text)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            change_set = ChangeSet([_request(p) for p in _split(rest, boundary_of(part_type))])
            if any(p.method == "GET" for p in change_set.parts):
                errors.bad_request("GET requests are not allowed inside a change set.")
            items.append(change_set)
        else:
            items.append(_request(part_text))
    total = sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items)
    if total > MAX_REQUESTS:
        errors.bad_request(
            f"The batch contains {total} requests; the maximum number of requests in a batch is {MAX_REQUESTS}."
        )
    if total == 0:
        errors.bad_request("The $batch request contains no requests.")
    return items


class BatchRunner:
    def __init__(self, state: DataverseState, handle: Handle, publish: Publish) -> None:
        self.state = state
        self.handle = handle
        self.publish = publish

    def run(self, outer: Call) -> Response:
        items = parse_batch(outer.body, outer.headers.get("content-type", ""))
        continue_on_error = outer.prefer.continue_on_error
        share = outer.partial_failure
        index = 0
        rendered: list[str] = []
        boundary = f"batchresponse_{uuid.uuid4()}"
        failed_batch = False
        records = 0
        for item in items:
            if isinstance(item, Part):
                response = self._run_part(outer, item, None, self._injected(share, index))
                index += 1
                records += 1
                rendered.append(_render_part(response, None))
                if response.status_code >= 400 and not continue_on_error:
                    rendered = rendered[-1:]
                    failed_batch = True
                    break
                continue
            responses, failure = self._run_change_set(outer, item, share, index)
            index += len(item.parts)
            records += len(item.parts)
            if failure is not None:
                rendered.append(_render_part(failure, None))
                if not continue_on_error:
                    rendered = rendered[-1:]
                    failed_batch = True
                    break
                continue
            inner = f"changesetresponse_{uuid.uuid4()}"
            chunks = [f"--{inner}\r\n{_render_part(r, cid)}" for r, cid in responses]
            rendered.append(
                f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n" + "".join(chunks) + f"--{inner}--\r\n"
            )
        outer.records = records
        body = "".join(f"--{boundary}\r\n{chunk}" for chunk in rendered) + f"--{boundary}--\r\n"
        return Response(
            body.encode("utf-8"),
            status_code=400 if failed_batch else 200,
            headers={**errors.ODATA_HEADERS},
            media_type=f"multipart/mixed; boundary={boundary}",
        )

    @staticmethod
    def _injected(share: float, index: int) -> bool:
        return share > 0 and int((index + 1) * share) > int(index * share)

    def _run_change_set(
        self, outer: Call, change_set: ChangeSet, share: float, start: int
    ) -> tuple[list[tuple[Response, str | None]], Response | None]:
        tx = Transaction()
        self.state.tx = tx
        refs: dict[str, tuple[str, str]] = {}
        results: list[tuple[Response, str | None]] = []
        failure: Response | None = None
        try:
            for offset, part in enumerate(change_set.parts):
                response = self._run_part(outer, part, refs, self._injected(share, start + offset))
                if response.status_code >= 400:
                    failure = response
                    break
                results.append((response, part.content_id))
                location = dict(response.headers).get("odata-entityid")
                if part.content_id and location:
                    match = _ENTITY_ID.search(location)
                    if match is not None:
                        refs[f"${part.content_id}"] = (match.group(1), match.group(2))
        finally:
            self.state.tx = None
        if failure is not None:
            for undo in reversed(tx.undo):
                undo()
            return [], failure
        self.publish(tx.events)
        return results, None

    def _run_part(self, outer: Call, part: Part, refs: dict[str, tuple[str, str]] | None, inject: bool) -> Response:
        if inject:
            return errors.error_response(
                503, errors.UNAVAILABLE, "An unexpected error occurred. Please retry the request."
            )
        url = part.url
        if url.startswith("$"):
            head, _, rest = url[1:].partition("/")
            found = (refs or {}).get(f"${head}")
            if found is None:
                return errors.error_response(
                    400, errors.ODATA, f"Content-ID Reference: '${head}' does not exist in the batch context."
                )
            url = f"{found[0]}({found[1]})" + (f"/{rest}" if rest else "")
        split = urlsplit(url)
        path = unquote(split.path)  # as for top-level requests: key values arrive percent-decoded
        at = path.find(API_PREFIX)
        if at >= 0:
            path = path[at + len(API_PREFIX) :]
        elif path.startswith("/"):
            path = path.lstrip("/")
        if path == "$batch":
            return errors.error_response(400, errors.ODATA, "A batch request cannot contain another batch request.")
        call = Call(
            method=part.method,
            path=path,
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=part.headers,
            body=part.body,
            api_root=outer.api_root,
            principal=outer.principal,
            refs=refs,
        )
        return self.handle(call)


def _render_part(response: Response, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    try:
        reason = HTTPStatus(response.status_code).phrase
    except ValueError:
        reason = ""
    head = [f"HTTP/1.1 {response.status_code} {reason}"]
    for name, value in response.raw_headers:
        if name.lower() in (b"content-length",):
            continue
        text = name.decode("latin-1")
        head.append(f"{_HEADER_CASE.get(text, text)}: {value.decode('latin-1')}")
    body = bytes(response.body).decode("utf-8", "replace")
    return "\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(head) + "\r\n\r\n" + body + "\r\n"
