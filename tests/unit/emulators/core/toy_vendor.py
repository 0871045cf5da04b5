"""A minimal vendor used to exercise the shared emulator machinery (not an emulator of anything)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from crmsync.emulators.core.app import build_app, partial_failure_share
from crmsync.emulators.core.http import ApiError, json_response, note, read_json
from crmsync.emulators.core.limits import RollingWindow
from crmsync.emulators.core.tokens import TokenBook
from crmsync.emulators.core.vendor import Admission, EmulatorRuntime


class ToyVendor:
    name = "toy"

    def __init__(self) -> None:
        self.runtime = EmulatorRuntime.create()
        self.tokens = TokenBook(self.runtime.clock)
        self.tokens.issue("tester", 3600, token="good-token")
        self.window = RollingWindow(self.runtime.clock, limit=1000, window_ms=10_000)
        self.items = self.runtime.store.collection("items")

    def error_response(self, status: int, message: str, *, retry_after_s: float | None = None) -> Response:
        headers = {"Retry-After": str(int(retry_after_s))} if retry_after_s is not None else None
        return json_response({"toyError": message, "status": status}, status, headers)

    def rate_limited_response(self, retry_after_s: float | None) -> Response:
        return self.error_response(429, "slow down", retry_after_s=retry_after_s or 1)

    def admit(self, scope: Scope) -> Admission:
        if not self.window.try_take():
            return Admission(rejection=self.rate_limited_response(1))
        return Admission(headers=[(b"x-toy-remaining", str(self.window.remaining()).encode())])

    def release(self, scope: Scope) -> None:
        return None

    def expire_token_of(self, request: Request) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.tokens.expire(token)

    def credentials(self) -> dict[str, Any]:
        return {"token": "good-token"}

    def reset(self) -> None:
        self.runtime.store.clear()

    def seed(self, seed: int, records: int) -> dict[str, int]:
        for i in range(records):
            self.items.insert(str(i), {"n": i, "seed": seed}, source="seed", emit=False)
        return {"items": records}

    async def control(self, action: str, request: Request) -> Response:
        if action == "echo":
            return json_response({"action": action})
        return json_response({"error": f"unknown action {action}"}, 404)

    def openapi(self) -> dict[str, Any]:
        return {"openapi": "3.1.0", "info": {"title": "toy", "version": "1"}, "paths": {}}

    def _auth(self, request: Request) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        state, _ = self.tokens.check(token)
        if state != "ok":
            raise ApiError(self.error_response(401, f"token {state}"))

    async def get_item(self, request: Request) -> Response:
        self._auth(request)
        record = self.items.get(request.path_params["item_id"])
        if record is None:
            raise ApiError(self.error_response(404, "no such item"))
        note(request, op="item.get", records=1)
        return json_response({"id": record.id, **record.fields})

    async def create_items(self, request: Request) -> Response:
        self._auth(request)
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise ApiError(self.error_response(400, str(exc))) from exc
        share = partial_failure_share(request)
        results: list[dict[str, object]] = []
        for index, fields in enumerate(body):
            if index < len(body) * share:
                results.append({"ok": False})
                continue
            record_id = str(len(self.items.records))
            self.items.insert(record_id, fields, source="api")
            results.append({"ok": True, "id": record_id})
        note(request, op="items.batch", records=len(body))
        return json_response(results)

    async def boom(self, request: Request) -> Response:
        raise RuntimeError("a bug")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/items/{item_id}", self.get_item, methods=["GET"]),
            Route("/items", self.create_items, methods=["POST"]),
            Route("/boom", self.boom, methods=["GET"]),
        ]


def toy_app() -> Starlette:
    return build_app(ToyVendor())
