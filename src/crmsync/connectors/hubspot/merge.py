"""`WriteOp("merge")`: HubSpot's merge endpoint, one pair per call, answering with the merged record's new id.

HubSpot merges contacts, companies and deals into a record with a new id; both old ids become aliases of
it. The result's `id` is that new id, so the engine can move the survivor's link to it. A merge resent
after its answer was lost finds both old ids already aliases of one record: that is reported as done.
"""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.connectors.base import Tombstone, WriteError, WriteOp, WriteResult
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot import read
from crmsync.connectors.hubspot.errors import HubSpotRequestError, error_for_exception, write_error
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.errors import AuthError, CrmSyncError, QuotaExhaustedError, VendorResponseError

MERGEABLE = frozenset(("contacts", "companies", "deals"))
"""Objects HubSpot's v3 merge endpoint accepts (of those crmsync syncs)."""


async def merge(
    http: VendorHttp, settings: HubSpotSettings, info: ObjectInfo, ops: Sequence[WriteOp]
) -> list[WriteResult]:
    """One result per op, in order. Sequential: a later merge may name the record an earlier one renewed."""
    return [await _merge_one(http, settings, info, op) for op in ops]


async def _merge_one(http: VendorHttp, settings: HubSpotSettings, info: ObjectInfo, op: WriteOp) -> WriteResult:
    def refused(code: str, message: str) -> WriteResult:
        text = f"{http.connection}: {info.name} {op.id or op.ref}: {message}"
        return WriteResult(op.ref, False, op.id, error=WriteError("invalid", code, text, scope="record"))

    if info.name not in MERGEABLE:
        return refused("MERGE_UNSUPPORTED", f"HubSpot merges {', '.join(sorted(MERGEABLE))} only")
    if not op.id or not op.into:
        return refused("NO_KEY", "a merge needs the merged id and `into` (the primary record)")
    if op.id == op.into:
        return refused("MERGE_ITSELF", "a record cannot be merged into itself")
    context = f"hubspot {info.name} merge"
    try:
        response = await http.request(
            "POST",
            f"/crm/v3/objects/{info.name}/merge",
            context=context,
            json={"primaryObjectId": op.into, "objectIdToMerge": op.id},
        )
    except (AuthError, QuotaExhaustedError):
        raise  # the connection stops: nothing else can be written now
    except HubSpotRequestError as exc:
        done = await _merged_already(http, settings, info, op.id, op.into)
        if done is not None:
            return WriteResult(op.ref, True, done)
        return WriteResult(op.ref, False, op.id, error=write_error(exc.body))
    except CrmSyncError as exc:
        return WriteResult(op.ref, False, op.id, error=error_for_exception(exc))
    body = parse_json(response, f"{http.connection}: {context}")
    new_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(new_id, str | int) or isinstance(new_id, bool) or not str(new_id):
        raise VendorResponseError(f"{http.connection}: {context} of {op.id} into {op.into}: the answer has no id")
    return WriteResult(op.ref, True, str(new_id))


async def _merged_already(
    http: VendorHttp, settings: HubSpotSettings, info: ObjectInfo, merged: str, into: str
) -> str | None:
    """The merged record's id when both ids already resolve to it (an earlier attempt landed), else None."""
    try:
        found = await read.fetch(http, settings, info, [merged, into], ["hs_object_id"])
    except (AuthError, QuotaExhaustedError):
        raise
    except CrmSyncError:
        return None  # cannot tell now: the merge's own error stands, and the engine retries it
    survivors = {item.merged_into for item in found if isinstance(item, Tombstone)}
    if len(found) == 2 and all(isinstance(item, Tombstone) for item in found) and len(survivors) == 1:
        return survivors.pop()
    return None
