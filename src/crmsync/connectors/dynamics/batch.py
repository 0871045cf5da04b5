"""`$batch` wire format: independent parts (no change sets) in a multipart/mixed body, and the parts' responses."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from crmsync.errors import VendorResponseError

_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3})")


@dataclass(slots=True)
class BatchRequest:
    """One request inside a `$batch`: method, URL (absolute), extra headers, optional JSON body."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BatchResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body.strip() else None


def encode(requests: list[BatchRequest]) -> tuple[str, bytes]:
    """(Content-Type, body) of a `$batch` with every request as its own part (failures stay independent)."""
    boundary = f"batch_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for request in requests:
        head = [
            f"--{boundary}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            f"{request.method} {request.url} HTTP/1.1",
        ]
        for name, value in request.headers.items():
            head.append(f"{name}: {value}")
        if request.body is not None:
            head.append("Content-Type: application/json; type=entry")
            chunks.append(("\r\n".join(head) + "\r\n\r\n").encode())
            chunks.append(orjson.dumps(request.body))
            chunks.append(b"\r\n")
        else:
            chunks.append(("\r\n".join(head) + "\r\n\r\n").encode())
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)


def decode(content_type: str, body: bytes, context: str) -> list[BatchResponse]:
    """The parts of a `$batch` response in order; change-set responses are flattened."""
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise VendorResponseError(f"{context}: the $batch response is not multipart/mixed ({content_type[:80]})")
    delimiter = f"--{match.group(1)}".encode()
    pieces = body.split(delimiter)
    if len(pieces) < 2 or not pieces[-1].lstrip().startswith(b"--"):
        raise VendorResponseError(f"{context}: the $batch response is truncated (no closing boundary)")
    responses: list[BatchResponse] = []
    for piece in pieces[1:-1]:
        head, _, rest = _split_head(piece.lstrip(b"\r\n"))
        part_type = head.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            responses.extend(decode(part_type, rest, context))
            continue
        responses.append(_http_response(rest, context))
    return responses


def _split_head(data: bytes) -> tuple[dict[str, str], bytes, bytes]:
    """Headers (lower-case names) up to the first blank line, and what follows."""
    normalised = data.replace(b"\r\n", b"\n")
    head, sep, rest = normalised.partition(b"\n\n")
    if not sep:
        return {}, head, b""
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, head, rest


def _http_response(data: bytes, context: str) -> BatchResponse:
    data = data.lstrip(b"\r\n")
    line, _, after = data.replace(b"\r\n", b"\n").partition(b"\n")
    match = _STATUS_LINE.match(line.decode("latin-1"))
    if match is None:
        raise VendorResponseError(f"{context}: a $batch part has no HTTP status line")
    headers, _, body = _split_head(after) if after.strip() else ({}, b"", b"")
    if not headers and after.strip() and b"\n\n" not in after:
        headers = _split_head(after + b"\n\n")[0]
    return BatchResponse(int(match.group(1)), headers, body.rstrip(b"\n"))
