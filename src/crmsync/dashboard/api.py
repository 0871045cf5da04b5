"""The dashboard's JSON API under `/api` (FastAPI): the same views and actions as the pages, documented by OpenAPI.

Requests authenticate with `Authorization: Bearer <token>` or a signed-in browser's session cookie; a
session's state-changing requests must echo its CSRF token in `X-CSRF-Token`. Viewers read; operators act.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, local aliases included.
import math
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crmsync.dashboard.access import CSRF_HEADER, SESSION_COOKIE, Access, Principal
from crmsync.dashboard.backend import DashboardBackend, Unavailable
from crmsync.dashboard.models import (
    BulkResolutionModel,
    BulkResolveRequest,
    ConflictDetailModel,
    ConflictModel,
    Error,
    ErrorsModel,
    OverviewModel,
    RecordModel,
    ResolutionModel,
    ResolveRequest,
    RetryModel,
    RetryRequest,
    SearchModel,
    SkippedModel,
    WhoAmI,
)
from crmsync.engine.views.common import NotFoundError, OperatorError
from crmsync.model.values import ObjectKind

log = structlog.get_logger("crmsync.dashboard")

NOT_CONFIGURED = (
    "the dashboard has no credentials configured: add `service.dashboard.tokens` (or `users`) to crmsync.yaml; "
    "see the README's Dashboard section"
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "no credentials, or credentials that are not valid"},
    403: {"model": Error, "description": "not allowed: no credentials configured, a viewer acting, or no CSRF token"},
    429: {"model": Error, "description": "too many refused tokens from this client lately: wait `Retry-After` seconds"},
    503: {"model": Error, "description": "the service is starting or stopping"},
}
_MISSING: dict[int | str, dict[str, Any]] = {404: {"model": Error, "description": "no such id: the message names it"}}
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "the request cannot be carried out as asked: the message says why"},
}
_bearer = HTTPBearer(auto_error=False, description="a token from `service.dashboard.tokens`")

T = TypeVar("T")


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def build_api(backend: DashboardBackend, access: Access) -> FastAPI:
    """The FastAPI app mounted at `/api`; its OpenAPI document is served (to signed-in callers) at /api/openapi.json."""
    api = FastAPI(
        title="crmsync dashboard API",
        version="1",
        description="Sync health, parked conflicts, sync errors and records of a running `crmsync serve`.",
        openapi_url=None,  # served below, behind the same authentication as everything else
        docs_url=None,
        redoc_url=None,
        servers=[{"url": "/api"}],
        responses=_ERRORS,
    )

    async def principal(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        if not access.configured:
            raise HTTPException(403, NOT_CONFIGURED)
        if credentials is not None:
            client = client_address(request)
            wait = access.failures.retry_after(client)
            if wait is not None:
                seconds = str(math.ceil(wait))
                raise HTTPException(429, f"too many refused tokens; retry in {seconds} s", {"Retry-After": seconds})
            found = access.bearer(credentials.credentials)
            if found is None:
                log.warning("dashboard API token refused", client=client)
                access.failures.failed(client)
                raise HTTPException(401, "the bearer token is not valid", headers={"WWW-Authenticate": "Bearer"})
            return found
        if request.headers.get("authorization"):
            raise HTTPException(401, "expected `Authorization: Bearer <token>`", headers={"WWW-Authenticate": "Bearer"})
        session = access.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise HTTPException(
                401, "sign in, or send `Authorization: Bearer <token>`", headers={"WWW-Authenticate": "Bearer"}
            )
        return session

    async def operator(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.operator:
            raise HTTPException(403, f"{who.name} is a viewer: only an operator may resolve or retry")
        if not access.csrf_ok(who, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, f"a signed-in browser must send its CSRF token in {CSRF_HEADER}")
        return who

    Viewer = Annotated[Principal, Depends(principal)]
    Operator = Annotated[Principal, Depends(operator)]

    async def call(action: Callable[[], Awaitable[T]]) -> T:
        """The backend's refusals as HTTP answers: an id that names nothing is 404, any other operator error 400."""
        try:
            return await action()
        except Unavailable as exc:
            raise HTTPException(503, str(exc)) from None
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except OperatorError as exc:
            raise HTTPException(400, str(exc)) from None

    @api.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            429: "throttled",
            503: "unavailable",
        }
        body = {"error": code.get(exc.status_code, "error"), "message": str(exc.detail)}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "message": where}, 422)

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(who: Viewer) -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get("/whoami", response_model=WhoAmI, summary="Who the credentials belong to and their role")
    async def whoami(who: Viewer) -> WhoAmI:
        return WhoAmI(name=who.name, role=who.role, via=who.via)

    @api.get("/overview", response_model=OverviewModel, summary="Sync health per connection and object kind")
    async def overview(
        who: Viewer,
        hours: Annotated[int, Query(ge=1, le=24 * 31, description="the volume chart's span")] = 24,
        buckets: Annotated[int, Query(ge=1, le=500, description="bars in the volume chart")] = 48,
    ) -> OverviewModel:
        return OverviewModel.model_validate(await call(lambda: backend.overview(hours=hours, buckets=buckets)))

    @api.get("/conflicts", response_model=list[ConflictModel], summary="Parked conflicts, oldest first")
    async def conflicts(
        who: Viewer,
        kind: ObjectKind | None = None,
        include_resolved: Annotated[bool, Query(alias="all", description="resolved ones too")] = False,
    ) -> list[ConflictModel]:
        found = await call(lambda: backend.conflicts(kind=kind, include_resolved=include_resolved))
        return [ConflictModel.model_validate(c) for c in found]

    @api.get(
        "/conflicts/{conflict_id}",
        response_model=ConflictDetailModel,
        summary="One conflict and its record",
        responses=_MISSING,
    )
    async def conflict(who: Viewer, conflict_id: int) -> ConflictDetailModel:
        return ConflictDetailModel.model_validate(await call(lambda: backend.conflict(conflict_id)))

    @api.post(
        "/conflicts/{conflict_id}/resolve",
        response_model=ResolutionModel,
        summary="Settle a conflict with one side or a typed value; the writes are queued and delivered at once",
        responses={**_REFUSED, **_MISSING},
    )
    async def resolve(who: Operator, conflict_id: int, body: ResolveRequest) -> ResolutionModel:
        outcome = await call(
            lambda: backend.resolve(conflict_id, take=body.take, value=body.value, by=f"dashboard:{who.name}")
        )
        log.info("conflict resolved", conflict=conflict_id, by=who.name, take=body.take, typed=body.value is not None)
        return ResolutionModel.model_validate(outcome)

    @api.post(
        "/conflicts/resolve-bulk",
        response_model=BulkResolutionModel,
        summary="Settle every open conflict on one field with one connection's side",
    )
    async def resolve_bulk(who: Operator, body: BulkResolveRequest) -> BulkResolutionModel:
        outcome = await call(
            lambda: backend.resolve_bulk(field=body.field, take=body.take, kind=body.kind, by=f"dashboard:{who.name}")
        )
        log.info(
            "conflicts resolved in bulk", field=body.field, take=body.take, by=who.name, count=len(outcome.resolved)
        )
        return BulkResolutionModel(
            resolved=[ResolutionModel.model_validate(o) for o in outcome.resolved],
            skipped=[SkippedModel(id=i, reason=r) for i, r in outcome.skipped],
        )

    @api.get("/errors", response_model=ErrorsModel, summary="Sync errors grouped by cause, duplicates and dead jobs")
    async def errors(who: Viewer, connection: str | None = None, kind: ObjectKind | None = None) -> ErrorsModel:
        return ErrorsModel.model_validate(await call(lambda: backend.errors(connection=connection, kind=kind)))

    @api.post(
        "/errors/retry",
        response_model=RetryModel,
        summary="Re-queue sync errors and dead jobs; an unknown id refuses the whole request",
        responses={**_REFUSED, **_MISSING},
    )
    async def retry(who: Operator, body: RetryRequest) -> RetryModel:
        if not (body.error_ids or body.job_ids or body.all):
            raise HTTPException(400, "name error_ids or job_ids, or set all: true")
        outcome = await call(lambda: backend.retry(error_ids=body.error_ids, job_ids=body.job_ids, everything=body.all))
        log.info("retry requested", by=who.name, requeued=len(outcome.requeued), skipped=len(outcome.skipped))
        return RetryModel.model_validate(outcome)

    @api.get("/records", response_model=SearchModel, summary="Search records by email, name or any system's id")
    async def search(who: Viewer, q: Annotated[str, Query(min_length=1, max_length=200)]) -> SearchModel:
        hits = await call(lambda: backend.search(q))
        return SearchModel.model_validate({"query": q, "hits": hits}, from_attributes=True)

    @api.get(
        "/records/{kind}/{ident}",
        response_model=RecordModel,
        summary="One record: each system's values, links to it in each CRM, field-level history",
        responses={**_REFUSED, **_MISSING},
    )
    async def record(who: Viewer, kind: ObjectKind, ident: str) -> RecordModel:
        page = await call(lambda: backend.record(kind, ident))
        explanation = page.explanation
        data = {f.name: getattr(explanation, f.name) for f in fields(explanation)}
        data["links"] = page.links
        return RecordModel.model_validate(data, from_attributes=True)

    return api


__all__ = ["NOT_CONFIGURED", "build_api", "client_address"]
