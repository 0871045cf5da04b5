"""A test rig: one emulator, the connector's HTTP client (recorded), a raw client for users and the control plane.

The emulator is reached over `httpx.ASGITransport` (fast, in-process) or over real loopback through
`serve_in_thread` (dropped connections only show up there). The connector's client records every
request and response status, so cases can count token refreshes and over-limit answers, and can
lose the response of chosen requests after the emulator processed them (a dropped connection
mid-create). `sleep` records waits instead of waiting, so retries cost no time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from crmsync.connectors.base import ChangePage, Connector, Cursor, RemoteRecord, Tombstone
from crmsync.emulators.server import serve_in_thread
from crmsync.testing.conformance import ConformanceTarget, ConnectorOptions, Transport, expect

ASGI_BASE_URL = "http://emulator.test"


class SleepRecorder:
    """An injected `sleep` that records how long the connector wanted to wait, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Exchange:
    method: str
    path: str
    status: int | None  # None: the connection failed (or the response was lost on purpose)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport: records every exchange; can lose responses of matching requests."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []
        self._lose: Callable[[httpx.Request], bool] | None = None
        self._lose_left = 0
        self.lost = 0

    def lose_responses(self, matches: Callable[[httpx.Request], bool], times: int) -> None:
        """The next `times` matching requests reach the emulator, but their responses never arrive."""
        self._lose, self._lose_left = matches, times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            self.exchanges.append(Exchange(request.method, request.url.path, None))
            raise
        if self._lose is not None and self._lose_left > 0 and self._lose(request):
            self._lose_left -= 1
            self.lost += 1
            await response.aread()
            await response.aclose()
            self.exchanges.append(Exchange(request.method, request.url.path, None))
            raise httpx.ReadError("connection reset after the request was sent (injected)", request=request)
        self.exchanges.append(Exchange(request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def count(self, path_pattern: str, *, statuses: Sequence[int] | None = None) -> int:
        pattern = re.compile(path_pattern)
        return sum(
            1
            for e in self.exchanges
            if pattern.search(e.path) and (statuses is None or (e.status is not None and e.status in statuses))
        )


@dataclass
class Rig:
    """Everything one case needs: the emulator, the connector's client, a raw client, the recorder."""

    target: ConformanceTarget
    transport_kind: Transport
    base_url: str
    client: httpx.AsyncClient  # the connector's client (recorded)
    raw: httpx.AsyncClient  # users and the control plane; never recorded, never faulted by the rig
    recorder: RecordingTransport
    sleep: SleepRecorder = field(default_factory=SleepRecorder)
    connectors: list[Connector] = field(default_factory=list)

    async def connector(self, options: ConnectorOptions | None = None) -> Connector:
        connector = await self.target.connector(self, options or ConnectorOptions())
        self.connectors.append(connector)
        return connector

    # ---- control plane ------------------------------------------------------------------------
    async def control(self, method: str, action: str, body: Any = None) -> Any:
        response = await self.raw.request(
            method,
            f"/_emulator/{action}".rstrip("/"),
            content=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"} if body is not None else None,
        )
        expect(response.status_code < 400, f"control plane {method} {action}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def seed(self, records: int, seed: int = 1) -> dict[str, int]:
        result = await self.control("POST", "seed", {"seed": seed, "records": records})
        return dict(result["seeded"])

    async def set_faults(self, rules: Sequence[Mapping[str, Any]], seed: int = 7) -> None:
        await self.control("PUT", "faults", {"rules": list(rules), "seed": seed})

    async def clear_faults(self) -> list[dict[str, Any]]:
        """Clear the fault plan; returns the report of the plan it replaced (rules with fired counts)."""
        report = await self.control("GET", "faults")
        await self.control("DELETE", "faults")
        return list(report["rules"])

    async def clock(self, **body: Any) -> dict[str, Any]:
        return dict(await self.control("POST", "clock", body))

    async def stats(self) -> dict[str, Any]:
        return dict(await self.control("GET", "stats"))


@contextlib.asynccontextmanager
async def open_rig(
    target: ConformanceTarget, transport: Transport = "asgi", **emulator_settings: Any
) -> AsyncIterator[Rig]:
    """A fresh emulator for `target` and clients to it; closes every connector it built."""
    app = target.emulator(**emulator_settings)
    with contextlib.ExitStack() as stack:
        if transport == "asgi":
            base_url = ASGI_BASE_URL
            inner: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
            raw_transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
        else:
            served = stack.enter_context(serve_in_thread(app))
            base_url = served.base_url
            inner = httpx.AsyncHTTPTransport()
            raw_transport = httpx.AsyncHTTPTransport()
        recorder = RecordingTransport(inner)
        timeout = httpx.Timeout(30.0)
        async with (
            httpx.AsyncClient(transport=recorder, base_url=base_url, timeout=timeout) as client,
            httpx.AsyncClient(transport=raw_transport, base_url=base_url, timeout=timeout) as raw,
        ):
            rig = Rig(target, transport, base_url, client, raw, recorder)
            try:
                yield rig
            finally:
                for connector in rig.connectors:
                    await connector.aclose()


# ---- reading helpers ------------------------------------------------------------------------------
@dataclass
class ReadResult:
    """Everything a `changes()` run delivered, page by page, with the cursor after each page."""

    pages: list[ChangePage]

    @property
    def upserts(self) -> list[RemoteRecord]:
        return [r for p in self.pages for r in p.upserts]

    @property
    def tombstones(self) -> list[Tombstone]:
        return [t for p in self.pages for t in p.tombstones]

    @property
    def cursor(self) -> Cursor | None:
        return self.pages[-1].cursor if self.pages else None

    def upsert_ids(self) -> list[str]:
        return [r.id for r in self.upserts]


async def read_all(
    connector: Connector, obj: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None, max_pages: int = 500
) -> ReadResult:
    """Pages until the connector says there is no more (bounded, so a looping cursor fails the case).

    A `changes()` iterator may stop after a page with `more=True` (it wants to be asked again now):
    the read goes on from that page's cursor, as the engine would.
    """
    pages: list[ChangePage] = []
    position = cursor
    while True:
        more = False
        stream = connector.changes(obj, position, fields=fields)
        try:
            async for page in stream:
                pages.append(page)
                expect(len(pages) <= max_pages, f"{obj}: more than {max_pages} pages: the cursor does not advance")
                more = page.more
                if not more:
                    break
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        if not more:
            return ReadResult(pages)
        position = pages[-1].cursor


def duplicates(ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for i in ids:
        if i in seen:
            dup.append(i)
        seen.add(i)
    return dup
