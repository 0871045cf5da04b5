"""One Web API call as the handlers see it (top-level or a `$batch` part), plus OData response helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from crmsync.emulators.core.http import json_response
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.options import Prefer, parse_prefer


@dataclass
class Call:
    method: str
    path: str  # decoded, relative to /api/data/v9.2/
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: bytes
    api_root: str  # absolute https://host:port/api/data/v9.2
    principal: str
    refs: dict[str, tuple[str, str]] | None = None
    partial_failure: float = 0.0
    op: str = ""
    records: int = 0
    _prefer: Prefer | None = field(default=None, repr=False)

    @property
    def prefer(self) -> Prefer:
        if self._prefer is None:
            self._prefer = parse_prefer([self.headers.get("prefer", "")])
        return self._prefer

    def json_body(self, entity_set: str = "") -> Any:
        if not self.body.strip():
            errors.bad_request("The request body is empty; a JSON payload was expected.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            errors.payload_error(entity_set, f"Invalid JSON. A token was not recognized in the JSON content. ({exc})")


def odata_json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        content,
        status,
        headers={**errors.ODATA_HEADERS, **(headers or {})},
        media_type=errors.JSON_MINIMAL,
    )


def no_content(headers: dict[str, str] | None = None, status: int = 204) -> Response:
    return Response(status_code=status, headers={**errors.ODATA_HEADERS, **(headers or {})})
