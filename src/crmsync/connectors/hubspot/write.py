"""Batch writes: create, upsert by external id, update and archive (≤100 each), with per-item results.

Every create/update/upsert input carries an `objectWriteTraceId` (the op's ref), so HubSpot reports a
bad input as its own error (207) instead of failing the call. A call refused as a whole (400, e.g. two
upserts of one key, or an input HubSpot cannot parse) is bisected so the valid items still land.
Creates that carry an external id go through `batch/upsert`, so a retried create never duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from crmsync.connectors.base import WriteError, WriteOp, WriteResult
from crmsync.connectors.http import Sleep, VendorHttp, parse_json
from crmsync.connectors.hubspot.errors import HubSpotRequestError, error_for_exception, write_error
from crmsync.connectors.hubspot.links import LinkChange, apply_links
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.errors import AuthError, CrmSyncError, QuotaExhaustedError, RateLimitedError, VendorResponseError

Path = Literal["create", "upsert", "update", "archive"]
IDEMPOTENT: frozenset[Path] = frozenset(("upsert", "update", "archive"))


def hubspot_value(value: Any) -> str:
    """HubSpot property values are strings; "" clears a value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(hubspot_value(v) for v in value)
    return str(value)


@dataclass
class _Item:
    index: int
    op: WriteOp
    path: Path
    key: str  # the record this input addresses (id, or idProperty:value): one per batch
    trace: str = ""
    result: WriteResult | None = None
    inline_links: list[dict[str, Any]] = field(default_factory=list)


class BatchWriter:
    def __init__(
        self, http: VendorHttp, create_http: VendorHttp, settings: HubSpotSettings, info: ObjectInfo, sleep: Sleep
    ) -> None:
        self.http = http
        self.sleep = sleep
        self.create_http = create_http  # no automatic retries: a create whose outcome is unknown is not resent
        self.settings = settings
        self.info = info

    # ---- planning ---------------------------------------------------------------------------
    def _plan(self, index: int, op: WriteOp) -> _Item | WriteResult:
        def bad(code: str, message: str) -> WriteResult:
            text = f"{self.http.connection}: {self.info.name} {op.id or op.ref}: {message}"
            return WriteResult(op.ref, False, op.id, error=WriteError("invalid", code, text, scope="record"))

        unknown = [role for role in op.links if self.info.link(role) is None]
        if unknown:
            return bad("UNKNOWN_LINK_ROLE", f"{self.info.name} has no link role {', '.join(unknown)}")
        if op.kind in ("create", "upsert") and op.external_id is not None:
            prop, value = op.external_id
            if not value:
                return bad("NO_KEY", f"empty external id value for {prop}")
            return _Item(index, op, "upsert", f"{prop}:{value.lower()}")
        if op.kind == "create":
            return _Item(index, op, "create", f"create:{index}")
        if op.kind in ("update", "upsert"):
            if not op.id:
                return bad("NO_KEY", f"{op.kind} needs an id or an external id")
            return _Item(index, op, "update", op.id)
        if not op.id:
            return bad("NO_KEY", "delete needs an id")
        return _Item(index, op, "archive", op.id)

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(ops)
        items: list[_Item] = []
        for index, op in enumerate(ops):
            planned = self._plan(index, op)
            if isinstance(planned, WriteResult):
                results[index] = planned
            else:
                items.append(planned)
        # Consecutive items of one kind form a segment; segments run in order so that a create and a
        # later delete of one record keep their order.
        segment: list[_Item] = []
        for item in items:
            if segment and segment[-1].path != item.path:
                await self._segment(segment)
                segment = []
            segment.append(item)
        if segment:
            await self._segment(segment)
        await self._links(items)
        for item in items:
            results[item.index] = item.result
        return [r if r is not None else self._no_result(ops[i]) for i, r in enumerate(results)]

    def _no_result(self, op: WriteOp) -> WriteResult:
        message = f"{self.http.connection}: {self.info.name} {op.id or op.ref}: HubSpot returned no result for it"
        # HubSpot answered the call but not for this input: the record's outcome is what is unknown.
        return WriteResult(op.ref, False, op.id, error=WriteError("retryable", "NO_RESULT", message, scope="record"))

    async def _segment(self, items: list[_Item]) -> None:
        """Batches of one kind run concurrently, except that a record addressed twice waits its turn."""
        run: list[_Item] = []
        keys: set[str] = set()
        for item in items:
            if item.key in keys:
                await self._run(run)
                run, keys = [], set()
            run.append(item)
            keys.add(item.key)
        if run:
            await self._run(run)

    async def _run(self, items: list[_Item]) -> None:
        """Batches of distinct records, `concurrency` in flight (more would only queue at the limiter)."""
        size = self.settings.batch_size
        batches = [items[start : start + size] for start in range(0, len(items), size)]
        queue = iter(batches)

        async def worker() -> None:
            for batch in queue:
                await self._send(batch)

        await asyncio.gather(*(worker() for _ in range(min(self.settings.concurrency, len(batches)))))

    async def _send(self, batch: list[_Item]) -> None:
        try:
            await self._send_once(batch)
        except HubSpotRequestError as exc:
            if len(batch) > 1:
                # Refused as a whole for one bad input: halve until the bad ones stand alone.
                middle = len(batch) // 2
                await self._send(batch[:middle])
                await self._send(batch[middle:])
                return
            self._fail(batch, error_for_exception(exc))
        except (AuthError, QuotaExhaustedError):
            raise  # the connection stops: nothing else can be written now
        except CrmSyncError as exc:
            error = error_for_exception(exc)
            if batch[0].path == "create" and not isinstance(exc, RateLimitedError):
                # The call may have created records; resending could duplicate them.
                message = f"{exc} (create outcome unknown; not resent)"
                error = WriteError("fatal", "UNKNOWN_OUTCOME", message, scope="call")
            self._fail(batch, error)

    def _fail(self, batch: list[_Item], error: WriteError) -> None:
        for item in batch:
            item.result = WriteResult(item.op.ref, False, item.op.id, error=error)

    def _input(self, item: _Item) -> dict[str, Any]:
        op = item.op
        properties = {name: hubspot_value(value) for name, value in op.fields.items()}
        if item.path == "archive":
            return {"id": op.id}
        found: dict[str, Any] = {"properties": properties, "objectWriteTraceId": item.trace}
        if item.path == "upsert":
            assert op.external_id is not None
            found |= {"id": op.external_id[1], "idProperty": op.external_id[0]}
        elif item.path == "update":
            found["id"] = op.id
        else:
            associations = []
            for role_name, target in op.links.items():
                role = self.info.link(role_name)
                if role is not None and target is not None:
                    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": role.type_id}
                    associations.append({"to": {"id": target}, "types": [spec]})
            if associations:
                found["associations"] = associations
        return found

    async def _post(self, path: Path, inputs: list[dict[str, Any]]) -> Any:
        context = f"hubspot {self.info.name} batch/{path}"
        url = f"/crm/v3/objects/{self.info.name}/batch/{path}"
        if path != "create":
            response = await self.http.request("POST", url, context=context, json={"inputs": inputs}, accept=(207,))
        else:
            response = await self._post_create(url, context, inputs)
        if response.status_code == 204 or not response.content:
            return {}
        return parse_json(response, f"{self.http.connection}: {context}")

    async def _post_create(self, url: str, context: str, inputs: list[dict[str, Any]]) -> Any:
        """Creates are resent only after a 429 (HubSpot refused them unprocessed)."""
        attempt = 0
        while True:
            try:
                return await self.create_http.request(
                    "POST", url, context=context, json={"inputs": inputs}, accept=(207,)
                )
            except RateLimitedError as exc:
                attempt += 1
                if attempt >= self.http.retry.attempts:
                    raise
                await self.sleep(min(exc.retry_after or 1.0, self.http.retry.max_retry_after))

    async def _send_once(self, batch: list[_Item]) -> None:
        path = batch[0].path
        used: set[str] = set()
        for position, item in enumerate(batch):
            item.trace = item.op.ref if item.op.ref not in used else f"{item.op.ref}~{position}"
            used.add(item.trace)
        body = await self._post(path, [self._input(item) for item in batch])
        context = f"{self.http.connection}: hubspot {self.info.name} batch/{path}"
        if not isinstance(body, dict):
            raise VendorResponseError(f"{context}: the body is not an object")
        by_trace = {item.trace: item for item in batch}
        by_id: dict[str, list[_Item]] = {}
        for item in batch:
            key = item.op.external_id[1] if item.path == "upsert" and item.op.external_id else item.op.id
            if key:
                by_id.setdefault(key, []).append(item)
        for raw in body.get("errors") or []:
            if not isinstance(raw, dict):
                raise VendorResponseError(f"{context}: an `errors` entry is not an object")
            error = write_error(raw)
            raw_context = raw.get("context")
            ctx: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
            hit = [by_trace[t] for t in ctx.get("objectWriteTraceId") or [] if t in by_trace]
            hit += [i for value in ctx.get("ids") or [] for i in by_id.get(str(value), [])]
            for item in hit:
                item.result = WriteResult(item.op.ref, False, item.op.id, error=error)
        if path == "archive":
            for item in batch:
                if item.result is None:
                    item.result = WriteResult(item.op.ref, True, item.op.id)
            return
        results = body.get("results")
        if not isinstance(results, list):
            raise VendorResponseError(f"{context}: the response has no `results` array")
        for raw in results:
            owner = by_trace.get(str(raw.get("objectWriteTraceId"))) if isinstance(raw, dict) else None
            record_id = raw.get("id") if isinstance(raw, dict) else None
            if owner is None or not isinstance(record_id, str | int):
                raise VendorResponseError(f"{context}: a result has no id or no known objectWriteTraceId")
            created = path == "create" or raw.get("new") is True
            owner.result = WriteResult(owner.op.ref, True, str(record_id), created=created)

    async def _links(self, items: list[_Item]) -> None:
        changes: list[tuple[_Item, LinkChange]] = []
        for item in items:
            result = item.result
            if result is None or not result.ok or result.id is None or item.path in ("create", "archive"):
                continue
            for role_name, target in item.op.links.items():
                role = self.info.link(role_name)
                if role is not None:
                    changes.append((item, LinkChange(result.id, role, target, fresh=result.created)))
        if not changes:
            return
        try:
            failed = await apply_links(
                self.http, self.info, [c for _, c in changes], batch_size=self.settings.association_batch_size
            )
        except (AuthError, QuotaExhaustedError):
            raise
        except CrmSyncError as exc:
            error = replace(error_for_exception(exc), scope="call")  # the association call failed for all of them
            failed = {c.record_id: error for _, c in changes}
        for item, change in changes:
            link_error = failed.get(change.record_id)
            if link_error is not None and item.result is not None:
                item.result = WriteResult(item.op.ref, False, item.result.id, item.result.created, link_error)
