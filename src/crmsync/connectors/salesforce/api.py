"""Thin calls over VendorHttp: versioned paths, JSON bodies, SOQL paging through nextRecordsUrl, composite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync.connectors.http import VendorHttp
from crmsync.connectors.limits import Priority
from crmsync.errors import VendorResponseError

Sleep = Callable[[float], Awaitable[None]]
MAX_COMPOSITE = 25  # subrequests per /composite call (the whole call counts as one API request)


@dataclass(frozen=True, slots=True)
class QueryPage:
    records: list[Any]
    done: bool
    next_url: str | None


class SalesforceApi:
    def __init__(self, http: VendorHttp, api_version: str, query_batch_size: int, sleep: Sleep) -> None:
        self.http = http
        self.sleep = sleep
        self.version = api_version
        self.batch_header = {"Sforce-Query-Options": f"batchSize={query_batch_size}"}

    def path(self, suffix: str) -> str:
        return f"/services/data/{self.version}{suffix}"

    async def call(
        self,
        method: str,
        suffix: str,
        *,
        context: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = Priority.LIVE,
        idempotent: bool = True,
    ) -> Any:
        """The JSON body of a successful call, parsed inside VendorHttp's retry loop: a truncated or non-JSON
        2xx body is re-requested when the call is idempotent (reads, upserts, updates, deletes) and raised at
        once otherwise (plain creates), so a create is never sent twice."""
        path = suffix if suffix.startswith("/services/") else self.path(suffix)
        return await self.http.request_json(
            method,
            path,
            context=context,
            params=params,
            json=json,
            headers=headers,
            priority=priority,
            idempotent=idempotent,
        )

    async def query(
        self, soql: str, *, context: str, all_rows: bool = False, priority: Priority = Priority.LIVE
    ) -> AsyncIterator[QueryPage]:
        """Pages of a SOQL query, following nextRecordsUrl; each page is checked against the documented shape."""
        body = await self.call(
            "GET",
            "/queryAll" if all_rows else "/query",
            context=context,
            params={"q": soql},
            headers=self.batch_header,
            priority=priority,
        )
        while True:
            page = self.page(body, context)
            yield page
            if page.done or page.next_url is None:
                return
            body = await self.call("GET", page.next_url, context=context, headers=self.batch_header, priority=priority)

    def page(self, body: Any, context: str) -> QueryPage:
        where = f"{self.http.connection}: {context}"
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise VendorResponseError(f"{where}: the query response has no records array")
        done = body.get("done")
        next_url = body.get("nextRecordsUrl")
        if not isinstance(done, bool) or (not done and not isinstance(next_url, str)):
            raise VendorResponseError(f"{where}: the query response lacks done/nextRecordsUrl")
        if isinstance(next_url, str) and not next_url.startswith("/services/data/"):
            raise VendorResponseError(f"{where}: unexpected nextRecordsUrl {next_url[:80]!r}")
        return QueryPage(body["records"], done, next_url if isinstance(next_url, str) else None)

    async def composite_get(self, urls: list[str], *, context: str) -> list[Any]:
        """Several GETs in one /composite call (one API request); bodies in order, failures as the vendor error."""
        out: list[Any] = []
        for start in range(0, len(urls), MAX_COMPOSITE):
            chunk = urls[start : start + MAX_COMPOSITE]
            request = {
                "allOrNone": False,
                "compositeRequest": [
                    {"method": "GET", "url": url, "referenceId": f"r{i}"} for i, url in enumerate(chunk)
                ],
            }
            body = await self.call("POST", "/composite", context=context, json=request)
            responses = body.get("compositeResponse") if isinstance(body, dict) else None
            if not isinstance(responses, list) or len(responses) != len(chunk):
                raise VendorResponseError(f"{self.http.connection}: {context}: malformed composite response")
            for item in responses:
                if not isinstance(item, dict) or item.get("httpStatusCode") != 200:
                    status = item.get("httpStatusCode") if isinstance(item, dict) else None
                    raise VendorResponseError(
                        f"{self.http.connection}: {context}: a composite subrequest failed (HTTP {status}): "
                        f"{str(item.get('body') if isinstance(item, dict) else item)[:200]}"
                    )
                out.append(item.get("body"))
        return out
