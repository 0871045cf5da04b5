"""One route that stands for all the REST routes and finds a request's route without trying every one in turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

_ANY = "\0"  # the discriminating segment of a request that no route names literally


class Dispatch(BaseRoute):
    """Starlette's router tries routes in order; with some fifty Salesforce routes that costs more than reading
    the record. Here routes are bucketed by the request's segment count and its fifth segment (`sobjects`,
    `query`, `composite` ...): only the routes that could match are tried, in their original order, so the
    outcome (first full match, else first partial match for 405, else none) is exactly the router's.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = list(routes)
        self._shapes: list[tuple[int, bool, str | None]] = [self._shape(route) for route in self.routes]
        self._literals = {literal for _, _, literal in self._shapes if literal is not None}
        self._max_depth = max((depth for depth, wild, _ in self._shapes if not wild), default=0)
        self._buckets: dict[tuple[int, str], list[BaseRoute]] = {}

    @staticmethod
    def _shape(route: BaseRoute) -> tuple[int, bool, str | None]:
        """(slash count, matches deeper paths too, literal fifth segment or None)."""
        path = getattr(route, "path", None)
        if not isinstance(route, Route) or not isinstance(path, str):
            return 0, True, None  # unknown kind of route: a candidate for every request
        parts = path.split("/")
        literal = parts[4] if len(parts) > 4 and "{" not in parts[4] else None
        return path.count("/"), ":path}" in path, literal

    def _candidates(self, path: str) -> list[BaseRoute]:
        depth = min(path.count("/"), self._max_depth + 1)
        parts = path.split("/", 5)
        segment = parts[4] if len(parts) > 4 else ""
        key = (depth, segment if segment in self._literals else _ANY)
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = [
                route
                for route, (route_depth, wild, literal) in zip(self.routes, self._shapes, strict=True)
                if (route_depth == depth or (wild and route_depth <= depth)) and literal in (None, key[1])
            ]
        return found

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("root_path"):
            routes = self.routes  # the path the routes see is not scope["path"]: no shortcut
        else:
            routes = self._candidates(scope["path"])
        partial: tuple[BaseRoute, Scope] | None = None
        for route in routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, "route": route, "crmsync.route": route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            route, child_scope = partial
            return Match.PARTIAL, {**child_scope, "route": route, "crmsync.route": route}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope["crmsync.route"]
        await route.handle(scope, receive, send)
