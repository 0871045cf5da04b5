"""Relationships as HubSpot associations (v4): batch read into links by role, batch create/archive to set them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from crmsync.connectors.base import WriteError
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot.objects import LinkRole, ObjectInfo
from crmsync.connectors.hubspot.records import results_of
from crmsync.connectors.limits import Priority
from crmsync.errors import VendorResponseError

T = TypeVar("T")
Links = dict[str, tuple[str, ...]]


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class LinkChange:
    """Set (`target` id) or clear (None) one role of one record; `fresh` records have no links to replace."""

    record_id: str
    role: LinkRole
    target: str | None
    fresh: bool = False


def _row_targets(rows: Any, context: str, record_id: str) -> tuple[str, ...]:
    if not isinstance(rows, list):
        raise VendorResponseError(f"{context}: record {record_id}: association `to` is not an array")
    ranked: list[tuple[int, str]] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("toObjectId"), int | str):
            raise VendorResponseError(f"{context}: record {record_id}: an association has no toObjectId")
        types = row.get("associationTypes") or []
        primary = any(isinstance(t, dict) and t.get("label") == "Primary" for t in types)
        ranked.append((0 if primary else 1, str(row["toObjectId"])))
    ranked.sort(key=lambda item: item[0])
    return tuple(dict.fromkeys(i for _, i in ranked))


async def read_links(
    http: VendorHttp,
    info: ObjectInfo,
    ids: Sequence[str],
    *,
    batch_size: int,
    roles: Sequence[LinkRole] | None = None,
    priority: Priority = Priority.LIVE,
) -> dict[str, Links]:
    """Links of these records by role (every role present; ids HubSpot no longer knows read as none)."""
    roles = info.links if roles is None else roles
    out: dict[str, Links] = {record_id: {role.role: () for role in roles} for record_id in ids}
    unique = list(dict.fromkeys(ids))
    for role in roles:
        context = f"hubspot {info.name} associations to {role.target} batch/read"
        for chunk in chunks(unique, batch_size):
            response = await http.request(
                "POST",
                f"/crm/v4/associations/{info.name}/{role.target}/batch/read",
                context=context,
                json={"inputs": [{"id": record_id} for record_id in chunk]},
                accept=(207,),
                priority=priority,
            )
            full_context = f"{http.connection}: {context}"
            for result in results_of(parse_json(response, full_context), full_context):
                source = result.get("from")
                record_id = str(source.get("id")) if isinstance(source, dict) else None
                if record_id not in out:
                    raise VendorResponseError(f"{full_context}: a result names no requested `from.id`")
                out[record_id][role.role] = _row_targets(result.get("to"), full_context, record_id)
    return out


def _missing_ids(body: Any) -> set[str]:
    found: set[str] = set()
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        context = error.get("context") if isinstance(error, dict) else None
        ids = context.get("ids") if isinstance(context, dict) else None
        if isinstance(ids, list):
            found.update(str(i) for i in ids)
    return found


async def apply_links(
    http: VendorHttp, info: ObjectInfo, changes: Sequence[LinkChange], *, batch_size: int
) -> dict[str, WriteError]:
    """Make each role point at exactly its target (or nothing); errors by record id for the writes' results."""
    failed: dict[str, WriteError] = {}
    by_role: dict[str, list[LinkChange]] = {}
    for change in changes:
        by_role.setdefault(change.role.role, []).append(change)
    for items in by_role.values():
        role = items[0].role
        existing = [c.record_id for c in items if not c.fresh]
        current = await read_links(http, info, existing, batch_size=batch_size, roles=[role]) if existing else {}
        archive: list[dict[str, Any]] = []
        create: list[tuple[str, str]] = []
        for change in items:
            have = current.get(change.record_id, {}).get(role.role, ())
            drop = [t for t in have if t != change.target]
            if drop:
                archive.append({"from": {"id": change.record_id}, "to": [{"id": t} for t in drop]})
            if change.target is not None and change.target not in have:
                create.append((change.record_id, change.target))
        base = f"/crm/v4/associations/{info.name}/{role.target}"
        for chunk in chunks(archive, batch_size):
            await http.request(
                "POST",
                f"{base}/batch/archive",
                context=f"hubspot {info.name} unlink {role.role}",
                json={"inputs": chunk},
            )
        for pairs in chunks(create, batch_size):
            inputs = [
                {
                    "from": {"id": source},
                    "to": {"id": target},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": role.type_id}],
                }
                for source, target in pairs
            ]
            context = f"hubspot {info.name} link {role.role}"
            response = await http.request(
                "POST", f"{base}/batch/create", context=context, json={"inputs": inputs}, accept=(207,)
            )
            if response.status_code == 207:
                missing = _missing_ids(parse_json(response, f"{http.connection}: {context}"))
                for source, target in pairs:
                    if source in missing or target in missing:
                        failed[source] = WriteError(
                            "invalid",
                            "ASSOCIATION_TARGET_NOT_FOUND",
                            f"{http.connection}: {info.name} {source}: cannot link {role.role} {target}: "
                            "HubSpot does not know one of the records",
                            fields=(role.role,),
                            scope="record",
                        )
    return failed
