"""Batch writes in sObject Collections shapes (200 per call, allOrNone=false) with per-item, classified results.

Creates carry the canonical id in the external-id field and go through the collection upsert, so a
retried create updates instead of duplicating. Items that failed retryably (row locks) are re-sent a
few times; everything else comes back per item. Deal -> contact links become OpportunityContactRole rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from crmsync.connectors.base import WriteError, WriteOp, WriteResult
from crmsync.connectors.http import UnreadableResponseError
from crmsync.connectors.salesforce.api import SalesforceApi
from crmsync.connectors.salesforce.errors import delete_item_error, item_error
from crmsync.connectors.salesforce.links import JUNCTION, LinkWriteError, deal_contact, write_link_fields
from crmsync.connectors.salesforce.records import is_id, soql_ids, to_id18
from crmsync.errors import FatalError, InvalidRecordError, RetryableError, VendorResponseError

Sleep = Callable[[float], Awaitable[None]]
ShapeKey = tuple[str, str | None]  # (create | upsert | update | delete, external-id field)
_SKIP = object()  # a role call that failed as a whole
CROSS_REFERENCE = "INVALID_CROSS_REFERENCE_KEY"


@dataclass(frozen=True, slots=True)
class Prepared:
    index: int
    op: WriteOp
    body: dict[str, Any] | None  # None for deletes


def _invalid(op: WriteOp, code: str, message: str) -> WriteResult:
    return WriteResult(op.ref, False, op.id, error=WriteError("invalid", code, message, scope="record"))


class Writer:
    def __init__(
        self,
        api: SalesforceApi,
        *,
        batch: int,
        item_retries: int,
        external_ids: dict[str, str],
        sleep: Sleep,
    ) -> None:
        self.api = api
        self.batch = batch
        self.item_retries = item_retries
        self.external_ids = external_ids
        self.sleep = sleep

    def _shape(self, obj: str, op: WriteOp) -> tuple[ShapeKey, dict[str, Any] | None]:
        """The collection call an op belongs to and its record body; raises LinkWriteError/ValueError when invalid."""
        if op.kind == "merge":
            raise ValueError("a merge goes through the SOAP merge() call (soap_merge), not a REST collection")
        if op.kind == "delete":
            if not op.id or not is_id(op.id):
                raise ValueError("a delete needs the record's Salesforce id")
            return ("delete", None), None
        body: dict[str, Any] = {"attributes": {"type": obj}, **op.fields, **write_link_fields(obj, op.links)}
        ext = op.external_id
        if ext is None and op.kind in ("create", "upsert") and obj in self.external_ids:
            field = self.external_ids[obj]
            if op.fields.get(field) not in (None, ""):
                ext = (field, str(op.fields[field]))
        if op.kind in ("create", "upsert") and ext is not None:
            body[ext[0]] = ext[1]
            return ("upsert", ext[0]), body
        if op.kind == "create":
            return ("create", None), body
        if not op.id or not is_id(op.id):
            raise ValueError(f"an {op.kind} without an external id needs the record's Salesforce id")
        body["id"] = op.id
        return ("update", None), body

    async def apply(self, obj: str, ops: Sequence[WriteOp], *, context: str) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(ops)
        groups: dict[ShapeKey, list[Prepared]] = {}
        for index, op in enumerate(ops):
            try:
                key, body = self._shape(obj, op)
            except (LinkWriteError, ValueError) as exc:
                results[index] = _invalid(op, "CRMSYNC_INVALID_OP", f"{context}: {op.ref}: {exc}")
                continue
            groups.setdefault(key, []).append(Prepared(index, op, body))
        for key, items in groups.items():
            for start in range(0, len(items), self.batch):
                chunk = items[start : start + self.batch]
                for item, result in zip(chunk, await self._with_item_retries(obj, key, chunk, context), strict=True):
                    results[item.index] = result
        if ("update", None) in groups:
            await self._updates_of_purged(obj, groups[("update", None)], results, context=context)
        if obj == "Opportunity":
            await self._deal_contacts(ops, results, context=context)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    async def _updates_of_purged(
        self, obj: str, items: list[Prepared], results: list[WriteResult | None], *, context: str
    ) -> None:
        """A collection update of an id no record holds (hard-deleted, or purged from the Recycle Bin) fails
        with INVALID_CROSS_REFERENCE_KEY, the code a bad lookup value gets too: ask queryAll which it was."""
        suspects: dict[str, list[int]] = {}
        for item in items:
            result = results[item.index]
            error = result.error if result is not None else None
            if error is not None and error.code == CROSS_REFERENCE and item.op.id:
                suspects.setdefault(to_id18(item.op.id), []).append(item.index)
        if not suspects:
            return
        found: set[str] = set()
        ids = list(suspects)
        for start in range(0, len(ids), 500):
            soql = f"SELECT Id FROM {obj} WHERE Id IN {soql_ids(ids[start : start + 500])}"
            async for page in self.api.query(soql, context=f"{context} purged check", all_rows=True):
                found.update(str(row.get("Id")) for row in page.records if isinstance(row, dict))
        for rid, indexes in suspects.items():
            if rid in found:
                continue  # the record is there: a lookup value was bad
            for index in indexes:
                prior = results[index]
                assert prior is not None and prior.error is not None
                gone = replace(prior.error, classification="not_found")
                results[index] = replace(prior, error=gone)

    async def _with_item_retries(
        self, obj: str, key: ShapeKey, chunk: list[Prepared], context: str
    ) -> list[WriteResult]:
        results = await self._send(obj, key, chunk, context)
        for attempt in range(self.item_retries):
            again = [i for i, r in enumerate(results) if r.error is not None and r.error.retryable]
            if not again:
                break
            await self.sleep(0.2 * 2**attempt)
            retried = await self._send(obj, key, [chunk[i] for i in again], context)
            for i, result in zip(again, retried, strict=True):
                results[i] = result
        return results

    async def _send(self, obj: str, key: ShapeKey, chunk: list[Prepared], context: str) -> list[WriteResult]:
        kind, ext_field = key
        where = f"{context} {kind}" + (f" by {ext_field}" if ext_field else "")
        try:
            if kind == "delete":
                ids = ",".join(str(p.op.id) for p in chunk)
                body = await self.api.call(
                    "DELETE", "/composite/sobjects", context=where, params={"ids": ids, "allOrNone": "false"}
                )
            else:
                payload = {"allOrNone": False, "records": [p.body for p in chunk]}
                method, path = {
                    "upsert": ("PATCH", f"/composite/sobjects/{obj}/{ext_field}"),
                    "create": ("POST", "/composite/sobjects"),
                    "update": ("PATCH", "/composite/sobjects"),
                }[kind]
                # A create without an external id is not safe to re-send after an unreadable answer.
                body = await self.api.call(method, path, context=where, json=payload, idempotent=kind != "create")
        except FatalError:
            raise  # credentials, quota, configuration: stop the connection, not just this batch
        except UnreadableResponseError as exc:
            # A plain create answered with an unreadable body may have created the records: not re-sent.
            error = WriteError("fatal", "UNKNOWN_OUTCOME", f"{exc} (create outcome unknown)", scope="call")
            return [WriteResult(p.op.ref, False, p.op.id, error=error) for p in chunk]
        except (InvalidRecordError, RetryableError, VendorResponseError) as exc:
            retryable = isinstance(exc, RetryableError) or (isinstance(exc, VendorResponseError) and exc.retryable)
            # The call failed as a whole, after the HTTP layer's retries: no item was answered for.
            error = WriteError("retryable" if retryable else "invalid", type(exc).__name__, str(exc), scope="call")
            return [WriteResult(p.op.ref, False, p.op.id, error=error) for p in chunk]
        if not isinstance(body, list) or len(body) != len(chunk):
            message = f"{self.api.http.connection}: {where}: the response does not hold one result per record"
            error = WriteError("retryable", "MALFORMED_RESPONSE", message, scope="call")
            return [WriteResult(p.op.ref, False, p.op.id, error=error) for p in chunk]
        return [self._result(kind, p, item) for p, item in zip(chunk, body, strict=True)]

    def _result(self, kind: str, prepared: Prepared, item: Any) -> WriteResult:
        op = prepared.op
        if not isinstance(item, dict) or not isinstance(item.get("success"), bool):
            error = WriteError("retryable", "MALFORMED_RESULT", repr(item)[:200], scope="record")
            return WriteResult(op.ref, False, op.id, error=error)
        rid = item.get("id") if isinstance(item.get("id"), str) else op.id
        if not item["success"]:
            error = (delete_item_error if kind == "delete" else item_error)(item.get("errors"))
            return WriteResult(op.ref, False, rid, error=error)
        created = kind == "create" or (kind == "upsert" and item.get("created") is True)
        return WriteResult(op.ref, True, rid, created=created)

    async def _deal_contacts(self, ops: Sequence[WriteOp], results: list[WriteResult | None], *, context: str) -> None:
        """Add an OpportunityContactRole for `contact: id`; remove the deal's roles for `contact: None`."""
        wanted: dict[int, tuple[str, str | None]] = {}
        for index, op in enumerate(ops):
            result = results[index]
            if result is None or not result.ok or result.id is None or op.kind == "delete":
                continue
            try:
                given, contact = deal_contact(op.links)
            except LinkWriteError as exc:
                results[index] = _invalid(op, "CRMSYNC_INVALID_OP", f"{context}: {op.ref}: {exc}")
                continue
            if given:
                wanted[index] = (result.id, contact)
        if not wanted:
            return
        ctx = f"{context} {JUNCTION}"
        deals = list(dict.fromkeys(deal for deal, _ in wanted.values()))
        existing: dict[str, dict[str, str]] = {deal: {} for deal in deals}  # deal -> contact -> role id
        for start in range(0, len(deals), 500):
            in_list = soql_ids(deals[start : start + 500])
            soql = f"SELECT Id, OpportunityId, ContactId FROM {JUNCTION} WHERE OpportunityId IN {in_list}"
            async for page in self.api.query(soql, context=ctx):
                for row in page.records:
                    existing.setdefault(str(row.get("OpportunityId")), {})[str(row.get("ContactId"))] = str(
                        row.get("Id")
                    )
        creates: list[tuple[int, dict[str, Any]]] = []
        deletes: list[tuple[int, str]] = []
        for index, (deal, contact) in wanted.items():
            if contact is None:
                deletes.extend((index, role) for role in existing.get(deal, {}).values())
            elif contact not in existing.get(deal, {}):
                creates.append((index, {"attributes": {"type": JUNCTION}, "OpportunityId": deal, "ContactId": contact}))
                existing.setdefault(deal, {})[contact] = ""
        failures: dict[int, WriteError] = {}
        for start in range(0, len(creates), self.batch):
            chunk = creates[start : start + self.batch]
            records = [b for _, b in chunk]
            body = await self._role_call(
                [i for i, _ in chunk],
                failures,
                "POST",
                context=ctx,
                json={"allOrNone": False, "records": records},
                idempotent=False,
            )
            self._collect(body, [i for i, _ in chunk], failures, ctx)
        for start in range(0, len(deletes), self.batch):
            chunk_d = deletes[start : start + self.batch]
            params = {"ids": ",".join(r for _, r in chunk_d), "allOrNone": "false"}
            body = await self._role_call([i for i, _ in chunk_d], failures, "DELETE", context=ctx, params=params)
            self._collect(body, [i for i, _ in chunk_d], failures, ctx, ignore_not_found=True)
        for index, error in failures.items():
            op = ops[index]
            prior = results[index]
            results[index] = WriteResult(op.ref, False, prior.id if prior else op.id, error=error)

    async def _role_call(
        self,
        indexes: list[int],
        failures: dict[int, WriteError],
        method: str,
        *,
        context: str,
        json: Any = None,
        params: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """One OpportunityContactRole collection call; a failed call fails its deals' items, not the batch."""
        try:
            return await self.api.call(
                method, "/composite/sobjects", context=context, json=json, params=params, idempotent=idempotent
            )
        except FatalError:
            raise
        except UnreadableResponseError as exc:
            error = WriteError("fatal", "UNKNOWN_OUTCOME", f"{exc} (contact role outcome unknown)", scope="call")
        except (InvalidRecordError, RetryableError, VendorResponseError) as exc:
            retryable = isinstance(exc, RetryableError) or (isinstance(exc, VendorResponseError) and exc.retryable)
            error = WriteError("retryable" if retryable else "invalid", type(exc).__name__, str(exc), scope="call")
        for index in indexes:
            failures[index] = error
        return _SKIP

    def _collect(
        self,
        body: Any,
        indexes: list[int],
        failures: dict[int, WriteError],
        ctx: str,
        *,
        ignore_not_found: bool = False,
    ) -> None:
        if body is _SKIP:
            return  # the call failed as a whole; `_role_call` recorded it
        if not isinstance(body, list) or len(body) != len(indexes):
            for index in indexes:
                failures[index] = WriteError(
                    "retryable", "MALFORMED_RESPONSE", f"{ctx}: one result per row expected", scope="call"
                )
            return
        for index, item in zip(indexes, body, strict=True):
            if isinstance(item, dict) and item.get("success") is True:
                continue
            errors = item.get("errors") if isinstance(item, dict) else None
            error = delete_item_error(errors) if ignore_not_found else item_error(errors)
            if ignore_not_found and error.classification == "not_found":
                continue
            failures[index] = error
