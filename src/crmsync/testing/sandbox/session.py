"""One simulated user's HTTP session with a vendor API: bearer token, one re-login, rate-limit waits, vendor errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import httpx
import orjson

Sleep = Callable[[float], Awaitable[None]]
Login = Callable[["UserSession"], Awaitable[str]]
"""Gets a bearer token the way the vendor documents it (usually through `UserSession.form_token`)."""

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A pool that keeps no idle connection holds no socket between calls: the same client then works from
# any event loop (pytest gives each test its own) and needs no closing when a sync `with` ends.
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=0)


class VendorCallError(RuntimeError):
    """A vendor API answered a simulated user's call with an error; the message is the vendor's own."""

    def __init__(self, vendor: str, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{vendor} {method} {path} answered {status}: {message}")
        self.vendor = vendor
        self.method = method
        self.path = path
        self.status = status
        self.message = message


def vendor_message(response: httpx.Response) -> str:
    """The error in the vendor's words: Salesforce's `[{errorCode, message}]`, OAuth, HubSpot or OData shapes."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, list):
        parts = [
            f"{item.get('errorCode') or item.get('statusCode') or ''}: {item.get('message', '')}".lstrip(": ")
            for item in body
            if isinstance(item, dict)
        ]
        return "; ".join(parts) or response.text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # OData: {"error": {"code", "message"}}
            return f"{error.get('code') or ''}: {error.get('message', '')}".lstrip(": ")
        if isinstance(error, str):  # OAuth: {"error", "error_description"}
            description = body.get("error_description") or body.get("message") or body.get("details") or ""
            return f"{error}: {description}" if description else error
        if "message" in body:
            category = body.get("category")
            return f"{category}: {body['message']}" if category else str(body["message"])
    return response.text[:500]


class UserSession:
    """Sends a user's calls with a bearer token; logs in again once on 401 and waits out 429s a few times."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        login: Login,
        *,
        sleep: Sleep = asyncio.sleep,
        rate_limit_retries: int = 5,
        max_wait_s: float = 10.0,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, limits=LIMITS)
        self._login = login
        self._sleep = sleep
        self._retries = rate_limit_retries
        self._max_wait_s = max_wait_s
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"UserSession({self.vendor!r}, {self.base_url!r})"  # never the token

    async def token(self) -> str:
        if self._token is None:
            self._token = await self._login(self)
        return self._token

    def forget_token(self) -> None:
        self._token = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Collection[int] = (),
    ) -> httpx.Response:
        """The response to a 2xx (or a status in `ok`); anything else raises VendorCallError."""
        content = orjson.dumps(json) if json is not None else None
        relogged = False
        waits = 0
        while True:
            send_headers = {"Accept": "application/json", **(headers or {})}
            send_headers["Authorization"] = f"Bearer {await self.token()}"
            if content is not None:
                send_headers["Content-Type"] = "application/json"
            response = await self.http.request(method, path, content=content, params=params, headers=send_headers)
            status = response.status_code
            if status == 401 and not relogged:
                # Sessions end on the emulator's clock (or by the control plane): log in again, as a person would.
                self._token, relogged = None, True
                continue
            if status == 429 and waits < self._retries:
                waits += 1
                await self._sleep(self._retry_after(response))
                continue
            if response.is_success or status in ok:
                return response
            raise VendorCallError(self.vendor, method, path, status, vendor_message(response))

    async def form_token(self, path: str, form: Mapping[str, str]) -> str:
        """An OAuth token endpoint's `access_token` (the form carries a secret: errors quote only the vendor)."""
        response = await self.http.post(path, data=dict(form), headers={"Accept": "application/json"})
        if not response.is_success:
            raise VendorCallError(self.vendor, "POST", path, response.status_code, vendor_message(response))
        token = orjson.loads(response.content).get("access_token")
        if not isinstance(token, str) or not token:
            raise VendorCallError(self.vendor, "POST", path, response.status_code, "no access_token in the answer")
        return token

    def _retry_after(self, response: httpx.Response) -> float:
        try:
            wait = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        return min(max(wait, 0.1), self._max_wait_s)

    async def aclose(self) -> None:
        await self.http.aclose()


__all__ = ["Login", "Sleep", "UserSession", "VendorCallError", "vendor_message"]
