"""Small HTTP helpers shared by the emulators: fast JSON responses, body parsing, absolute URLs."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


class ApiError(Exception):
    """An error already rendered in the vendor's own shape; raised anywhere, answered by the app."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class FastJSONResponse(Response):
    """JSON via orjson: serialisation is the emulators' hot path."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str | None = None
) -> Response:
    return FastJSONResponse(content, status_code=status, headers=headers, media_type=media_type)


async def read_json(request: Request) -> Any:
    """The parsed body, or ValueError with a human reason (the caller renders the vendor's error)."""
    body = await request.body()
    if not body.strip():
        raise ValueError("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from exc


def base_url(request: Request) -> str:
    """scheme://host[:port] as the client addressed us (paging links must come back to the same place)."""
    scheme = request.url.scheme
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{scheme}://{host}"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def note(request: Request, *, op: str | None = None, records: int | None = None) -> None:
    """Tell the statistics what this call was and how many records it carried."""
    if op is not None:
        request.scope["crmsync.op"] = op
    if records is not None:
        request.scope["crmsync.records"] = records
