"""A Response that keeps its headers as a plain dict until it is sent (a `$batch` builds a thousand per call)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_MINIMAL = "application/json; odata.metadata=minimal"
ODATA_HEADERS = {"OData-Version": "4.0"}


class ODataResponse(Response):
    """Starlette encodes headers eagerly in `__init__`; batch parts only need the dict, so encoding is lazy."""

    def __init__(self, body: bytes, status: int, headers: dict[str, str], media_type: str | None = None) -> None:
        self.status_code = status
        self.body = body
        if media_type is not None:
            self.media_type = media_type
        self.background = None
        self.plain_headers = headers  # wire-case names, in order; Content-Type comes from media_type
        self._raw: list[tuple[bytes, bytes]] | None = None

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        if self._raw is None:
            self.init_headers(self.plain_headers)
        assert self._raw is not None
        return self._raw

    @raw_headers.setter
    def raw_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self._raw = value


def odata_json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> ODataResponse:
    merged = {**ODATA_HEADERS, **headers} if headers else dict(ODATA_HEADERS)
    return ODataResponse(orjson.dumps(content), status, merged, JSON_MINIMAL)


def no_content(headers: dict[str, str] | None = None, status: int = 204) -> ODataResponse:
    merged = {**ODATA_HEADERS, **headers} if headers else dict(ODATA_HEADERS)
    return ODataResponse(b"", status, merged)
