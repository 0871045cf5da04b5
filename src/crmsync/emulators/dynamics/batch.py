"""`$batch`: multipart/mixed parsing, change sets as transactions with `$n` references, multipart responses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from starlette.responses import Response

from crmsync.emulators.core.store import ChangeEvent
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call
from crmsync.emulators.dynamics.paths import API_PREFIX
from crmsync.emulators.dynamics.responses import ODataResponse
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
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_PART_HEAD = b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary"
_STATUS_LINES: dict[int, bytes] = {}
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


def _split(data: bytes, boundary: str) -> list[bytes]:
    pieces = data.split(b"--" + boundary.encode("utf-8"))
    if len(pieces) < 2:
        errors.bad_request(f"The batch body does not contain the boundary '{boundary}'.")
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.lstrip(b"\r\n").lstrip(b" \t"))
    return parts


def _headers_and_rest(data: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) up to the first blank line, and the bytes after it (line ends already LF)."""
    head, _, rest = data.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8").split("\n"):
        name, colon, value = line.partition(":")
        if not colon:
            if not line.strip():
                continue
            errors.bad_request(f"Malformed header line in a batch part: '{line[:80]}'.")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(part_headers: dict[str, str], rest: bytes) -> Part:
    if "application/http" not in part_headers.get("content-type", "application/http").lower():
        errors.bad_request("Each batch part must have Content-Type application/http.")
    rest = rest.lstrip(b"\n")
    raw_line, _, after = rest.partition(b"\n")
    line = raw_line.decode("utf-8")
    pieces = line.strip().split(" ")
    if len(pieces) < 2 or pieces[0] not in _METHODS:
        errors.bad_request(f"Malformed request line in a batch part: '{line[:80]}'.")
    headers, body = _headers_and_rest(after) if after.strip() else ({}, b"")
    content_id = part_headers.get("content-id") or headers.get("content-id")
    return Part(pieces[0], pieces[1], headers, body.rstrip(b"\n"), content_id)


def parse_batch(body: bytes, content_type: str) -> list[Part | ChangeSet]:
    boundary = boundary_of(content_type)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        errors.bad_request("The $batch body is not valid UTF-8.")
    # One pass in C to make every line end LF; the parts are then cut with bytes operations only.
    data = body.replace(b"\r\n", b"\n")
    items: list[Part | ChangeSet] = []
    total = 0
    for piece in _split(data, boundary):
        headers, rest = _headers_and_rest(piece)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            inner = [_request(*_headers_and_rest(p)) for p in _split(rest, boundary_of(part_type))]
            if any(p.method == "GET" for p in inner):
                errors.bad_request("GET requests are not allowed inside a change set.")
            items.append(ChangeSet(inner))
            total += len(inner)
        else:
            items.append(_request(headers, rest))
            total += 1
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
        self._queries: dict[str, list[tuple[str, str]]] = {}

    def run(self, outer: Call) -> Response:
        items = parse_batch(outer.body, outer.headers.get("content-type", ""))
        continue_on_error = outer.prefer.continue_on_error
        share = outer.partial_failure
        index = 0
        rendered: list[bytes] = []
        boundary = f"batchresponse_{uuid.uuid4()}"
        failed_batch = False
        records = 0
        for item in items:
            if isinstance(item, Part):
                response = self._run_part(outer, item, None, self._injected(share, index))
                index += 1
                records += 1
                rendered.append(render_part(response, None))
                if response.status_code >= 400 and not continue_on_error:
                    rendered = rendered[-1:]
                    failed_batch = True
                    break
                continue
            responses, failure = self._run_change_set(outer, item, share, index)
            index += len(item.parts)
            records += len(item.parts)
            if failure is not None:
                rendered.append(render_part(failure, None))
                if not continue_on_error:
                    rendered = rendered[-1:]
                    failed_batch = True
                    break
                continue
            inner = f"changesetresponse_{uuid.uuid4()}".encode()
            chunks = [b"--%s\r\n%s" % (inner, render_part(r, cid)) for r, cid in responses]
            rendered.append(
                b"Content-Type: multipart/mixed; boundary=%s\r\n\r\n%s--%s--\r\n" % (inner, b"".join(chunks), inner)
            )
        outer.records = records
        delimiter = f"--{boundary}\r\n".encode()
        body = delimiter + delimiter.join(rendered) + f"--{boundary}--\r\n".encode()
        return Response(
            body,
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
                location = _header(response, "odata-entityid")
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
        # What urlsplit would give, without its per-call cost: a thousand parts per call come through here.
        path, _, query = url.partition("#")[0].partition("?")
        scheme_end = path.find("://")
        if scheme_end >= 0:
            slash = path.find("/", scheme_end + 3)
            path = path[slash:] if slash >= 0 else ""
        if "%" in path:
            path = unquote(path)  # as for top-level requests: key values arrive percent-decoded
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
            query=self._query(query),
            headers=part.headers,
            body=part.body,
            api_root=outer.api_root,
            principal=outer.principal,
            refs=refs,
        )
        return self.handle(call)

    def _query(self, query: str) -> list[tuple[str, str]]:
        if not query:
            return []
        found = self._queries.get(query)
        if found is None:
            found = parse_qsl(query, keep_blank_values=True)
            if len(self._queries) >= 256:
                self._queries.clear()
            self._queries[query] = found
        return list(found)


def _header(response: Response, lower_name: str) -> str | None:
    if isinstance(response, ODataResponse):
        for name, value in response.plain_headers.items():
            if name.lower() == lower_name:
                return value
        return None
    return dict(response.headers).get(lower_name)


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {reason}".encode()
    return line


def render_part(response: Response, content_id: str | None) -> bytes:
    """One response part: the part's MIME headers, the HTTP status line and headers, then the body."""
    head = [_PART_HEAD]
    if content_id:
        head.append(f"\r\nContent-ID: {content_id}".encode())
    head.append(b"\r\n\r\n")
    head.append(_status_line(response.status_code))
    if isinstance(response, ODataResponse):
        for name, value in response.plain_headers.items():
            lowered = name.lower()
            if lowered != "content-length":
                head.append(f"\r\n{_HEADER_CASE.get(lowered, lowered)}: {value}".encode())
        if response.media_type is not None:
            head.append(b"\r\nContent-Type: " + response.media_type.encode("latin-1"))
    else:
        for raw_name, raw_value in response.raw_headers:
            if raw_name.lower() == b"content-length":
                continue
            text = raw_name.decode("latin-1")
            head.append(f"\r\n{_HEADER_CASE.get(text, text)}: {raw_value.decode('latin-1')}".encode())
    head.append(b"\r\n\r\n")
    head.append(bytes(response.body))
    head.append(b"\r\n")
    return b"".join(head)
