"""The dashboard's server-rendered pages (Jinja2) and their form actions; works without JavaScript.

Browsers sign in on /login (a token, or a username and password) and get a signed HttpOnly, SameSite=Strict
session cookie. Every form that changes something carries the session's CSRF token; the login form uses a
double-submit cookie. After an action the page redirects back with a one-time signed flash message.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from crmsync.dashboard.access import CSRF_FIELD, FLASH_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, Access, Principal
from crmsync.dashboard.api import client_address
from crmsync.dashboard.backend import DashboardBackend, Unavailable
from crmsync.dashboard.chart import volume_chart
from crmsync.engine.views.common import NotFoundError, OperatorError
from crmsync.engine.views.deletes import describe as describe_delete
from crmsync.engine.views.status import pending_lines
from crmsync.model.values import OBJECT_KINDS, CanonicalValue

log = structlog.get_logger("crmsync.dashboard")

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a record's page links out to the CRMs: they learn nothing of this service
    "Cache-Control": "no-store",
}
FLASH_MAX_AGE_S = 60
FLASH_MAX_CHARS = 600
LOGIN_MAX_AGE_S = 3600


def show_value(value: CanonicalValue) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return "; ".join(value) or "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def show_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "—"


def show_age(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:  # a CRM's stamp, from a clock running ahead of this machine's
        return "ahead of this machine's clock"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def show_seconds(seconds: float) -> str:
    if seconds <= 0:
        return "none"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(value=show_value, when=show_time, ago=show_age, seconds=show_seconds, urlpart=quote)
    env.filters["delete_story"] = describe_delete
    return env


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme): no open redirect after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


Handler = Callable[[Request, Principal], Awaitable[Response]]


class Pages:
    """The HTML front end; `routes()` are mounted at `/` by the service after its own endpoints."""

    def __init__(self, backend: DashboardBackend, access: Access, *, openapi: Callable[[], dict[str, Any]]) -> None:
        self.backend = backend
        self.access = access
        self.openapi = openapi
        self.env = _environment()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self._page(self.overview), methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self._action(self.logout, operator=False), methods=["POST"]),
            Route("/conflicts", self._page(self.conflicts), methods=["GET"]),
            Route("/conflicts/resolve-bulk", self._action(self.resolve_bulk), methods=["POST"]),
            Route("/conflicts/{conflict_id:int}/resolve", self._action(self.resolve), methods=["POST"]),
            Route("/errors", self._page(self.errors), methods=["GET"]),
            Route("/errors/retry", self._action(self.retry), methods=["POST"]),
            Route("/records", self._page(self.records), methods=["GET"]),
            Route("/records/{kind}/{ident}", self._page(self.record), methods=["GET"]),
            Route("/api-docs", self._page(self.api_docs), methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # ---- plumbing -----------------------------------------------------------------------------
    def render(
        self, request: Request, template: str, who: Principal | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        flash = self.access.signer.unsign("flash", request.cookies.get(FLASH_COOKIE))
        html = self.env.get_template(template).render(
            who=who,
            csrf=who.csrf if who is not None else None,
            csrf_field=CSRF_FIELD,
            path=request.url.path,
            flash=flash,
            kinds=OBJECT_KINDS,
            **context,
        )
        response = HTMLResponse(html, status, headers=SECURITY_HEADERS)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def message(self, request: Request, who: Principal | None, status: int, title: str, text: str) -> HTMLResponse:
        """A page that only says something (refused, not found, starting)."""
        return self.render(request, "message.html", who, status, title=title, message=text)

    def _page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            if not self.access.configured:
                return self.render(request, "setup.html", None, 403)
            who = self.access.session(request.cookies.get(SESSION_COOKIE))
            if who is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': target})}", 303, headers=SECURITY_HEADERS)
            try:
                return await handler(request, who)
            except Unavailable:
                return self.message(
                    request, who, 503, "Starting", "The service is starting or stopping; reload in a moment."
                )
            except NotFoundError as exc:  # as the JSON API answers: 404 only when the id names nothing
                return self.message(request, who, 404, "Not found", str(exc))
            except OperatorError as exc:  # an ambiguous id, an unknown object kind: the request is wrong
                return self.message(request, who, 400, "Bad request", str(exc))

        return page

    def _action(
        self, handler: Callable[[Request, Principal, FormData], Awaitable[Response]], *, operator: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def action(request: Request) -> Response:
            if not self.access.configured:
                return self.render(request, "setup.html", None, 403)
            who = self.access.session(request.cookies.get(SESSION_COOKIE))
            if who is None:
                return RedirectResponse("/login", 303, headers=SECURITY_HEADERS)
            form = await request.form()
            sent = form.get(CSRF_FIELD)
            if not self.access.csrf_ok(who, sent if isinstance(sent, str) else None):
                log.warning("dashboard form refused: bad CSRF token", who=who.name, path=request.url.path)
                return self.message(
                    request,
                    who,
                    403,
                    "Refused",
                    "The form's security token is missing or out of date: reload the page and try again.",
                )
            if operator and not who.operator:
                return self.message(
                    request, who, 403, "Refused", f"{who.name} is a viewer: only an operator may resolve or retry."
                )
            try:
                return await handler(request, who, form)
            except Unavailable:
                return self.message(
                    request, who, 503, "Starting", "The service is starting or stopping; try again in a moment."
                )

        return action

    def redirect(self, target: str, message: str, *, ok: bool = True) -> Response:
        response = RedirectResponse(_safe_next(target), 303, headers=SECURITY_HEADERS)
        # Kept short: a cookie holds about 4 KB, and a vendor's message can be long.
        text = message if len(message) <= FLASH_MAX_CHARS else message[: FLASH_MAX_CHARS - 1] + "…"
        flash = self.access.signer.sign("flash", {"m": text, "ok": ok}, FLASH_MAX_AGE_S)
        response.set_cookie(FLASH_COOKIE, flash, max_age=FLASH_MAX_AGE_S, path="/", httponly=True, samesite="strict")
        return response

    # ---- signing in -------------------------------------------------------------------------------
    async def login_form(self, request: Request, *, failed: bool = False) -> Response:
        if not self.access.configured:
            return self.render(request, "setup.html", None, 403)
        nonce = self.access.signer.sign("login", {}, LOGIN_MAX_AGE_S)
        response = self.render(
            request,
            "login.html",
            None,
            401 if failed else 200,
            login_csrf=nonce,
            next=_safe_next(request.query_params.get("next")),
            failed=failed,
            users=bool(self.access.settings.users),
        )
        secure = request.url.scheme == "https"
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=LOGIN_MAX_AGE_S, path="/login", httponly=True, samesite="strict", secure=secure
        )
        return response

    async def login(self, request: Request) -> Response:
        if not self.access.configured:
            return self.render(request, "setup.html", None, 403)
        form = await request.form()
        nonce = form.get(CSRF_FIELD)
        cookie = request.cookies.get(LOGIN_COOKIE)
        if not isinstance(nonce, str) or cookie != nonce or self.access.signer.unsign("login", nonce) is None:
            return self.message(request, None, 403, "Refused", "The sign-in form expired; reload it and try again.")
        client = client_address(request)
        wait = self.access.failures.retry_after(client)
        if wait is not None:
            log.warning("dashboard sign-in throttled", client=client)
            refused = self.message(
                request, None, 429, "Too many attempts", f"Too many failed sign-ins; try again in {math.ceil(wait)} s."
            )
            refused.headers["Retry-After"] = str(math.ceil(wait))
            return refused
        token, username, password = (form.get(k) for k in ("token", "username", "password"))
        session = self.access.sign_in(
            token=token.strip() if isinstance(token, str) else None,
            username=username.strip() if isinstance(username, str) else None,
            password=password if isinstance(password, str) else None,
        )
        if session is None:
            # Logged without what was typed: a token or a password pasted into the wrong field is still a secret,
            # so a username is named only when it is a configured one.
            typed = username.strip() if isinstance(username, str) else ""
            known = {user.username for user in self.access.settings.users}
            who = typed if typed in known else ("an unknown username" if typed else "a token")
            log.warning("dashboard sign-in refused", who=who, client=client)
            self.access.failures.failed(client)
            return await self.login_form(request, failed=True)
        self.access.failures.succeeded(client)
        principal = self.access.session(session)
        log.info("dashboard sign-in", who=principal.name if principal else "?", client=client)
        target = form.get("next")
        response = RedirectResponse(
            _safe_next(target if isinstance(target, str) else None), 303, headers=SECURITY_HEADERS
        )
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=int(self.access.settings.session_max_age_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: Request, who: Principal, form: FormData) -> Response:
        response = RedirectResponse("/login", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ---- pages ------------------------------------------------------------------------------------
    async def overview(self, request: Request, who: Principal) -> Response:
        found = await self.backend.overview()
        return self.render(
            request,
            "overview.html",
            who,
            overview=found,
            pending=[text for text, _ in pending_lines(found.pending)],
            chart=volume_chart(found.volume),
            now=datetime.now(UTC),
            connections=list(self.backend.config.connections),
        )

    async def conflicts(self, request: Request, who: Principal) -> Response:
        kind = request.query_params.get("kind") or None
        field = request.query_params.get("field") or None
        include_resolved = request.query_params.get("all") == "1"
        found = await self.backend.conflicts(
            kind=kind if kind in OBJECT_KINDS else None, include_resolved=include_resolved
        )
        shown = [c for c in found if field is None or c.field == field]
        fields = sorted({c.field for c in found if not c.resolved})
        return self.render(
            request,
            "conflicts.html",
            who,
            conflicts=shown,
            fields=fields,
            kind=kind,
            field=field,
            include_resolved=include_resolved,
            connections=list(self.backend.config.connections),
        )

    async def errors(self, request: Request, who: Principal) -> Response:
        found = await self.backend.errors()
        return self.render(request, "errors.html", who, page=found)

    async def records(self, request: Request, who: Principal) -> Response:
        query = (request.query_params.get("q") or "").strip()
        hits = await self.backend.search(query) if query else ()
        return self.render(request, "records.html", who, query=query, hits=hits)

    async def record(self, request: Request, who: Principal) -> Response:
        page = await self.backend.record(request.path_params["kind"], request.path_params["ident"])
        explanation = page.explanation
        history = sorted((e for f in explanation.fields for e in f.history), key=lambda e: e.at, reverse=True)
        connections = [s.connection for s in explanation.fields[0].shadows] if explanation.fields else []
        return self.render(
            request, "record.html", who, page=page, record=explanation, history=history, connections=connections
        )

    async def api_docs(self, request: Request, who: Principal) -> Response:
        document = self.openapi()
        operations = [
            {
                "method": method.upper(),
                "path": "/api" + path,
                "summary": op.get("summary", ""),
                "operator": method != "get",
            }
            for path, methods in document.get("paths", {}).items()
            for method, op in methods.items()
        ]
        return self.render(request, "api.html", who, operations=operations)

    # ---- actions ----------------------------------------------------------------------------------
    async def resolve(self, request: Request, who: Principal, form: FormData) -> Response:
        conflict_id = int(request.path_params["conflict_id"])
        take, value = form.get("take"), form.get("value")
        back = _safe_next(str(form.get("back") or "/conflicts"))
        typed = form.get("action") == "typed"
        try:
            outcome = await self.backend.resolve(
                conflict_id,
                take=None if typed or not isinstance(take, str) else take,
                value=(value if isinstance(value, str) else "") if typed else None,
                by=f"dashboard:{who.name}",
            )
        except OperatorError as exc:
            return self.redirect(back, f"Conflict #{conflict_id} was not resolved: {exc}", ok=False)
        log.info("conflict resolved", conflict=conflict_id, by=who.name, typed=typed)
        where = ", ".join(sorted({w.connection for w in outcome.writes})) or "no CRM (they already agree)"
        return self.redirect(
            back,
            f"Conflict #{conflict_id} resolved: {outcome.field} = {show_value(outcome.value)}; writing to {where}.",
        )

    async def resolve_bulk(self, request: Request, who: Principal, form: FormData) -> Response:
        field, take, kind = form.get("field"), form.get("take"), form.get("kind")
        if not isinstance(field, str) or not field or not isinstance(take, str) or not take:
            return self.redirect("/conflicts", "Choose a field and the connection whose side wins.", ok=False)
        outcome = await self.backend.resolve_bulk(
            field=field,
            take=take,
            kind=kind if kind in OBJECT_KINDS else None,
            by=f"dashboard:{who.name}",
        )
        log.info("conflicts resolved in bulk", field=field, take=take, by=who.name, count=len(outcome.resolved))
        message = f"{len(outcome.resolved)} conflict(s) on {field} resolved with {take}'s side"
        if outcome.skipped:
            message += f"; {len(outcome.skipped)} skipped (#{outcome.skipped[0][0]}: {outcome.skipped[0][1]})"
        return self.redirect("/conflicts", message + ".", ok=not outcome.skipped)

    async def retry(self, request: Request, who: Principal, form: FormData) -> Response:
        try:
            error_ids = [int(v) for v in form.getlist("error_id") if isinstance(v, str)]
            job_ids = [int(v) for v in form.getlist("job_id") if isinstance(v, str)]
        except ValueError:
            return self.redirect("/errors", "The form named an id that is not a number.", ok=False)
        everything = form.get("all") == "1"
        if not (error_ids or job_ids or everything):
            return self.redirect("/errors", "Nothing was chosen to retry.", ok=False)
        outcome = await self.backend.retry(error_ids=error_ids, job_ids=job_ids, everything=everything)
        log.info("retry requested", by=who.name, requeued=len(outcome.requeued), skipped=len(outcome.skipped))
        message = f"{len(outcome.requeued)} re-queued"
        if outcome.skipped:
            message += "; not retried: " + "; ".join(f"#{s.id}: {s.reason}" for s in outcome.skipped[:3])
        return self.redirect("/errors", message + ".", ok=not outcome.skipped)


__all__ = ["SECURITY_HEADERS", "Pages", "show_value"]
