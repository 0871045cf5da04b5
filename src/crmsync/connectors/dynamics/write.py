"""`apply()`: WriteOps → `$batch` parts (upsert by alternate key, `@odata.bind`, `$ref` clears, Win/Lose, Merge).

Each op becomes one to four independent parts, in order: the record write, the `$ref` deletes that clear
links, the state change of a record created inactive (a PATCH of `statecode`/`statuscode`: a create always
lands in the default state 0 and refuses a status of another state), and the opportunity close action. Parts
never share a change set, so one failure never takes the others down (`Prefer: odata.continue-on-error`).
Parts that failed retryably and are safe to resend (every write except a POST create without an external id)
are resent in later rounds. A POST create learns its record's id only from the response, so its state change
or close is sent in a second step, once the id is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from crmsync.connectors.base import WriteError, WriteOp, WriteResult
from crmsync.connectors.dynamics import batch
from crmsync.connectors.dynamics.errors import write_error
from crmsync.connectors.dynamics.links import write_links
from crmsync.connectors.dynamics.settings import DynamicsSettings, TableInfo
from crmsync.connectors.http import UnreadableResponseError
from crmsync.errors import FatalError, RetryableError, VendorResponseError

Send = Callable[[list[batch.BatchRequest], str, bool], Awaitable[list[batch.BatchResponse]]]
"""Sends a `$batch` (requests, context, idempotent: whether every part is safe to send again)."""
Sleep = Callable[[float], Awaitable[None]]
Build = Callable[[str], batch.BatchRequest]  # the new record's id -> a request that addresses it
WON_STATUSES = frozenset({3})
LOST_STATUSES = frozenset({4, 5})
_KEY_SAFE = "'=(),:@!$*+;-._~"


def key_literal(value: str) -> str:
    """A string alternate-key value as an OData literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def in_url(address: str) -> str:
    """A key segment as it goes into a request URL (unsafe bytes percent-encoded)."""
    return quote(address, safe=_KEY_SAFE)


@dataclass(slots=True)
class _Part:
    request: batch.BatchRequest
    role: str  # "main", "ref", "state", "close"
    retry_safe: bool
    response: batch.BatchResponse | None = None
    error: WriteError | None = None

    @property
    def done(self) -> bool:
        return self.response is not None and self.response.status < 400


@dataclass(slots=True)
class _Plan:
    op: WriteOp
    parts: list[_Part] = field(default_factory=list)
    error: WriteError | None = None  # refused before sending
    # (role, build) of parts that must address the record a POST creates: sent once its id is known
    deferred: list[tuple[str, Build]] = field(default_factory=list)


class Writer:
    def __init__(self, settings: DynamicsSettings, send: Send, sleep: Sleep) -> None:
        self.settings = settings
        self.send = send
        self.sleep = sleep

    async def apply(self, table: TableInfo, ops: Sequence[WriteOp]) -> list[WriteResult]:
        plans = [self._plan(table, op) for op in ops]
        await self._run(table, [p for p in plans if p.error is None])
        followers = [p for p in plans if p.deferred and _release(table, p)]
        if followers:
            await self._run(table, followers)
        return [self._result(table, plan) for plan in plans]

    async def _run(self, table: TableInfo, pending: list[_Plan]) -> None:
        """Send the plans' unfinished parts, resending the retryable ones that are safe to resend."""
        for attempt in range(self.settings.part_retries + 1):
            outstanding = [(plan, [part for part in plan.parts if not part.done]) for plan in pending]
            outstanding = [(plan, parts) for plan, parts in outstanding if parts]
            if not outstanding:
                break
            if attempt > 0:
                await self.sleep(min(0.5 * 2 ** (attempt - 1), 10.0))
            await self._round(table, outstanding)
            pending = [plan for plan, parts in outstanding if _should_resend(parts)]

    # ---- planning ---------------------------------------------------------------------------
    def _plan(self, table: TableInfo, op: WriteOp) -> _Plan:
        plan = _Plan(op)
        if op.kind == "merge":
            return self._plan_merge(table, plan)
        root = f"{self.settings.api_root}/{table.entity_set}"
        links = write_links(table.logical_name, op.links)
        if links.error is not None:
            plan.error = WriteError("invalid", "unsupported_link", links.error, scope="record")
            return plan
        body: dict[str, Any] = dict(op.fields)
        body.pop("@odata.etag", None)
        close = _close_action(table, body)
        state = _initial_state(body) if op.kind in ("create", "upsert") else None
        body.update(links.binds)
        select = f"?$select={table.primary_id}"
        representation = {"Prefer": "return=representation"}
        address: str | None = None
        if op.kind == "delete":
            if not op.id:
                plan.error = WriteError(
                    "invalid", "missing_id", f"delete of {table.logical_name} needs the remote id", scope="record"
                )
                return plan
            plan.parts.append(_Part(batch.BatchRequest("DELETE", f"{root}({in_url(op.id)})"), "main", True))
            return plan
        if op.kind == "update":
            if not op.id:
                plan.error = WriteError(
                    "invalid", "missing_id", f"update of {table.logical_name} needs the remote id", scope="record"
                )
                return plan
            address = op.id
            if body:
                request = batch.BatchRequest("PATCH", f"{root}({in_url(address)})", body, {"If-Match": "*"})
                plan.parts.append(_Part(request, "main", True))
        else:
            external = op.external_id or self._default_external(table, op)
            if external is not None:
                column, value = external
                body.pop(column, None)  # the key travels in the URL; Dataverse strips it from updates anyway
                address = f"{column}={key_literal(value)}"
            elif op.id:
                address = op.id
            url = f"{root}({in_url(address)}){select}" if address is not None else f"{root}{select}"
            method = "PATCH" if address is not None else "POST"
            request = batch.BatchRequest(method, url, body, representation)
            # A POST create without any key is the one write a resend could duplicate.
            plan.parts.append(_Part(request, "main", retry_safe=address is not None))
        target = address
        for nav in links.clears:
            if target is None:
                continue  # a new record has no link to clear
            plan.parts.append(_Part(batch.BatchRequest("DELETE", f"{root}({in_url(target)})/{nav}/$ref"), "ref", True))
        follow: list[tuple[str, Build]] = []
        if state is not None:
            change = state  # a non-Optional name for the closure (mypy does not narrow into it)

            def state_request(at: str) -> batch.BatchRequest:
                # If-Match: * so that, should the upsert before it fail, this PATCH cannot create a bare record.
                return batch.BatchRequest("PATCH", f"{root}({in_url(at)})", change, {"If-Match": "*"})

            follow.append(("state", state_request))
        if close is not None:
            action, payload = close

            def close_request(at: str) -> batch.BatchRequest:
                payload["OpportunityClose"]["opportunityid@odata.bind"] = f"/{table.entity_set}({at})"
                return batch.BatchRequest("POST", f"{self.settings.api_root}/{action}", payload)

            follow.append(("close", close_request))
        if target is None:
            plan.deferred = follow
        else:
            plan.parts.extend(_Part(build(target), role, True) for role, build in follow)
        return plan

    def _plan_merge(self, table: TableInfo, plan: _Plan) -> _Plan:
        """The unbound `Merge` action: `op.id` (Subordinate) into `op.into` (Target).

        `UpdateContent` stays empty because the engine writes the merged values by normal delivery, and
        parenting checks are off: the records are one person or company already, whatever their parents.
        """
        op = plan.op
        name = table.logical_name
        if not table.mergeable:
            plan.error = WriteError(
                "invalid", "merge_unsupported", f"Dataverse merges accounts and contacts, not {name}", scope="record"
            )
        elif not op.id or not op.into:
            plan.error = WriteError(
                "invalid", "missing_id", f"a merge of {name} needs the merged id and `into`", scope="record"
            )
        elif op.id.lower() == op.into.lower():
            plan.error = WriteError(
                "invalid", "merge_itself", f"{name} {op.id} cannot be merged into itself", scope="record"
            )
        else:
            entity = f"Microsoft.Dynamics.CRM.{name}"
            body = {
                "Target": {"@odata.type": entity, table.primary_id: op.into},
                "Subordinate": {"@odata.type": entity, table.primary_id: op.id},
                "UpdateContent": {"@odata.type": entity},
                "PerformParentingChecks": False,
            }
            # Resending is safe: a merge that landed leaves the same state when repeated.
            request = batch.BatchRequest("POST", f"{self.settings.api_root}/Merge", body)
            plan.parts.append(_Part(request, "main", True))
        return plan

    def _default_external(self, table: TableInfo, op: WriteOp) -> tuple[str, str] | None:
        column = self.settings.external_ids.get(table.logical_name)
        if column is None or op.id:
            return None
        value = op.fields.get(column)
        return (column, value) if isinstance(value, str) and value else None

    # ---- sending ----------------------------------------------------------------------------
    async def _round(self, table: TableInfo, outstanding: list[tuple[_Plan, list[_Part]]]) -> None:
        chunks: list[list[_Part]] = []
        current: list[_Part] = []
        for _, parts in outstanding:
            if current and len(current) + len(parts) > self.settings.batch_size:
                chunks.append(current)
                current = []
            current.extend(parts)  # an op's parts stay together and in order: they run sequentially
        if current:
            chunks.append(current)
        gate = asyncio.Semaphore(self.settings.batch_concurrency)

        async def run(chunk: list[_Part]) -> None:
            async with gate:
                await self._send_chunk(table, chunk)

        await asyncio.gather(*(run(chunk) for chunk in chunks))

    async def _send_chunk(self, table: TableInfo, parts: list[_Part]) -> None:
        context = f"{table.logical_name} $batch of {len(parts)}"
        try:
            responses = await self.send([p.request for p in parts], context, all(p.retry_safe for p in parts))
        except FatalError:
            raise
        except UnreadableResponseError as exc:
            # Sent, unanswered, with a keyless create in it: that part may have created its record. The parts
            # safe to resend are tried again; the others' outcome is unknown, and they are not sent again.
            unknown = WriteError("fatal", "UNKNOWN_OUTCOME", f"{exc} (create outcome unknown)", scope="call")
            retry = WriteError("retryable", type(exc).__name__, str(exc), scope="call")
            for part in parts:
                part.response, part.error = None, retry if part.retry_safe else unknown
            return
        except (RetryableError, VendorResponseError) as exc:
            failure = WriteError("retryable", type(exc).__name__, str(exc), scope="call")  # the $batch as a whole
            for part in parts:
                part.response, part.error = None, failure
                if isinstance(exc, RetryableError):
                    part.retry_safe = False  # the HTTP layer already retried this batch; report, don't loop
            return
        for index, part in enumerate(parts):
            if index >= len(responses):
                part.response = None
                message = "the $batch response has no part for this request"
                part.error = WriteError("retryable", "no_response", message, scope="call")
                continue
            response = responses[index]
            part.response = response
            part.error = write_error(response.status, response.body) if response.status >= 400 else None

    # ---- results ----------------------------------------------------------------------------
    def _result(self, table: TableInfo, plan: _Plan) -> WriteResult:
        op = plan.op
        if plan.error is not None:
            return WriteResult(ref=op.ref, ok=False, id=op.id, error=plan.error)
        record_id = op.into if op.kind == "merge" else op.id  # a merge answers for its survivor
        created = False
        main = next((p for p in plan.parts if p.role == "main"), None)
        if main is not None and main.done and main.response is not None and op.kind not in ("delete", "merge"):
            found, created = _written_id(table, main.response)
            record_id = found or record_id
        failed = next((p for p in plan.parts if not p.done), None)
        if failed is not None:
            error = failed.error or WriteError("retryable", "no_response", "the part got no response", scope="call")
            return WriteResult(ref=op.ref, ok=False, id=record_id, created=created, error=error)
        if plan.deferred:
            error = WriteError(
                "retryable",
                "no_id",
                f"the create of {table.logical_name} answered no record id to set its state on",
                scope="record",
            )
            return WriteResult(ref=op.ref, ok=False, id=record_id, created=created, error=error)
        return WriteResult(ref=op.ref, ok=True, id=record_id, created=created)


def _release(table: TableInfo, plan: _Plan) -> bool:
    """Turn a created record's deferred parts into parts addressed by its new id; False while there is none."""
    main = next((p for p in plan.parts if p.role == "main"), None)
    if main is None or not main.done or main.response is None:
        return False  # the create failed: its error is the op's, and there is nothing to change the state of
    record_id, _ = _written_id(table, main.response)
    if record_id is None:
        return False
    plan.parts.extend(_Part(build(record_id), role, True) for role, build in plan.deferred)
    plan.deferred = []
    return True


def _should_resend(parts: list[_Part]) -> bool:
    first = next((p for p in parts if not p.done), None)
    return first is not None and first.error is not None and first.error.retryable and first.retry_safe


def _written_id(table: TableInfo, response: batch.BatchResponse) -> tuple[str | None, bool]:
    """(record id, created) from `return=representation` (201 insert / 200 update) or `OData-EntityId`."""
    created = response.status == 201
    try:
        body = response.json() if response.body else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get(table.primary_id), str):
        return body[table.primary_id], created
    entity_id = response.headers.get("odata-entityid", "")
    if entity_id.endswith(")") and "(" in entity_id:
        return entity_id[entity_id.rfind("(") + 1 : -1], created
    return None, created


def _initial_state(body: dict[str, Any]) -> dict[str, Any] | None:
    """Pull a non-default state out of a create body: records are created in state 0, then PATCHed to it."""
    state = body.get("statecode")
    if not isinstance(state, int) or isinstance(state, bool) or state == 0:
        return None
    change = {"statecode": body.pop("statecode")}
    if "statuscode" in body:
        change["statuscode"] = body.pop("statuscode")
    return change


def _close_action(table: TableInfo, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Pull a Won/Lost state out of an opportunity body: closing goes through Win/LoseOpportunity, not PATCH."""
    if table.logical_name != "opportunity":
        return None
    state = body.get("statecode")
    status = body.get("statuscode")
    won = state == 1 or (state is None and status in WON_STATUSES)
    lost = state == 2 or (state is None and status in LOST_STATUSES)
    if not (won or lost):
        return None
    body.pop("statecode", None)
    body.pop("statuscode", None)
    close: dict[str, Any] = {"subject": "Closed by crmsync"}
    if won and body.get("actualvalue") is not None:
        close["actualrevenue"] = body["actualvalue"]
    if body.get("actualclosedate") is not None:
        close["actualend"] = body["actualclosedate"]
    payload: dict[str, Any] = {"OpportunityClose": close, "Status": status if isinstance(status, int) else -1}
    return ("WinOpportunity" if won else "LoseOpportunity"), payload
