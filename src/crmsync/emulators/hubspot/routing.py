"""One route table entry for all HubSpot routes: finds candidates by literal path prefix instead of trying each."""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

_KEY_SEGMENTS = 3  # every HubSpot path starts with three literal segments (/crm/v3/objects, /oauth/v1/token)
_MATCHED = "crmsync.route"


def _key(parts: list[str]) -> tuple[int, tuple[str, ...]]:
    """parts of a path split on "/" (parts[0] is the empty text before the leading slash)."""
    return len(parts), tuple(parts[1 : _KEY_SEGMENTS + 1])


class RouteTable(BaseRoute):
    """Starlette's router tries routes one by one (a regex each); with ~45 HubSpot routes that was a fifth of a
    single-record read. Routes are bucketed by segment count and leading literal segments; a request only tries
    its bucket, in the original order, so it gets the same FULL/PARTIAL (405) answer as a linear scan."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes
        self._buckets: dict[tuple[int, tuple[str, ...]], list[BaseRoute]] = {}
        self._anywhere: list[BaseRoute] = []  # routes whose shape is not known up front: tried for every path
        for route in routes:
            parts = route.path.split("/") if isinstance(route, Route) else []
            literal = not any("{" in part for part in parts[: _KEY_SEGMENTS + 1])
            if not isinstance(route, Route) or not literal or any(":path}" in part for part in parts):
                self._anywhere.append(route)
            else:
                self._buckets.setdefault(_key(parts), []).append(route)
        if self._anywhere:
            # Keeping the original order across buckets and the rest is only possible by trying everything.
            self._buckets = {}
            self._anywhere = list(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        candidates = self._anywhere or self._buckets.get(_key(get_route_path(scope).split("/")), [])
        partial: tuple[BaseRoute, Scope] | None = None
        for route in candidates:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, _MATCHED: route}
            if match is Match.PARTIAL and partial is None:
                partial = route, child_scope
        if partial is not None:
            return Match.PARTIAL, {**partial[1], _MATCHED: partial[0]}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(_MATCHED)
        scope["route"] = route  # statistics name an operation by its route's path
        await route.handle(scope, receive, send)
