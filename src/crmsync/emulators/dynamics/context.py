"""One Web API call as the handlers see it (top-level or a `$batch` part), plus OData response helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.options import Prefer, parse_prefer
from crmsync.emulators.dynamics.responses import no_content as no_content
from crmsync.emulators.dynamics.responses import odata_json as odata_json

_PREFER_CACHE: dict[str, Prefer] = {}  # shared, so never mutated after parsing


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
            text = self.headers.get("prefer", "")
            found = _PREFER_CACHE.get(text)
            if found is None:
                # Parsed once per distinct header: every part of a `$batch` usually sends the same one.
                found = parse_prefer([text])
                if len(_PREFER_CACHE) >= 512:
                    _PREFER_CACHE.clear()
                _PREFER_CACHE[text] = found
            self._prefer = found
        return self._prefer

    def json_body(self, entity_set: str = "") -> Any:
        if not self.body.strip():
            errors.bad_request("The request body is empty; a JSON payload was expected.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            errors.payload_error(entity_set, f"Invalid JSON. A token was not recognized in the JSON content. ({exc})")
