"""Generic read cases: full read, incremental read, shared stamps across pages, resuming, describe."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.connectors.base import Connector, Cursor, RemoteRecord, Tombstone
from crmsync.testing.conformance import ROLES, ConformanceTarget, ConnectorOptions, MergeOutcome, Role, Transport
from crmsync.testing.conformance import expect as check
from crmsync.testing.rig import ReadResult, Rig, duplicates, open_rig, read_all


def _short(ids: Sequence[str] | set[str], limit: int = 8) -> str:
    items = sorted(ids)
    return ", ".join(items[:limit]) + (f" … (+{len(items) - limit})" if len(items) > limit else "")


def check_exact(label: str, delivered: Sequence[str], expected: set[str]) -> None:
    """Delivered ids equal the expected set, each exactly once."""
    dup = duplicates(delivered)
    check(not dup, f"{label}: delivered twice: {_short(set(dup))}")
    missing, extra = expected - set(delivered), set(delivered) - expected
    check(not missing, f"{label}: {len(missing)} record(s) never delivered: {_short(missing)}")
    check(not extra, f"{label}: {len(extra)} unexpected record(s) delivered: {_short(extra)}")


async def full_read(target: ConformanceTarget, transport: Transport) -> None:
    """A full read (cursor None) delivers exactly the emulator's live records of every role, once each."""
    async with open_rig(target, transport) as rig:
        await rig.seed(120)
        connector = await rig.connector()
        for role in ROLES:
            obj = target.objects[role]
            result = await read_all(connector, obj, None)
            remote = await target.remote_records(rig, role)
            check(len(remote) > 0, f"{target.vendor} {obj}: the seed created no records (fix the target)")
            check_exact(f"{target.vendor} {obj} full read", result.upsert_ids(), set(remote))
            check(all(r.object == obj for r in result.upserts), f"{obj}: records carry another object name")
            live_tombstones = {t.id for t in result.tombstones} & set(remote)
            check(not live_tombstones, f"{obj}: live records reported as deleted: {_short(live_tombstones)}")
            check(result.cursor is not None, f"{obj}: a full read ended without a cursor")


async def _changes_since(
    target: ConformanceTarget, rig: Rig, connector: Connector, role: Role, cursor: Cursor | None, base: set[str]
) -> None:
    """Creates, edits, deletes and (where possible) a merge by a user, then one incremental read."""
    obj = target.objects[role]
    existing = sorted(base)
    check(len(existing) >= 7, f"{obj}: the seed left fewer than 7 records (fix the target)")
    await rig.clock(advance_ms=60_000)
    created = await target.user_create(rig, role, [target.sample(role, 9000 + i) for i in range(3)])
    edited = existing[:3]
    for n, record_id in enumerate(edited):
        await target.user_update(rig, role, record_id, target.edited(role, n))
    deleted = existing[3:5]
    for record_id in deleted:
        await target.user_delete(rig, role, record_id)
    merge: MergeOutcome | None = None
    if role in target.mergeable:
        merge = await target.user_merge(rig, role, existing[5], existing[6])
    await rig.clock(advance_ms=1_000)

    result = await read_all(connector, obj, cursor)
    label = f"{target.vendor} {obj} incremental read"
    expected_upserts = set(created) | set(edited)
    upserts = result.upsert_ids()
    if merge is not None:
        # The survivor may be re-delivered (its stamp moves in most CRMs); it must not be tombstoned.
        upserts = [i for i in upserts if i != merge.survivor or merge.survivor in expected_upserts]
    check_exact(f"{label} (upserts)", upserts, expected_upserts)
    tombstones = {t.id: t for t in result.tombstones}
    check(len(tombstones) == len(result.tombstones), f"{label}: a tombstone was delivered twice")
    for record_id in deleted:
        check(record_id in tombstones, f"{label}: delete of {record_id} not delivered as a Tombstone")
        check(tombstones[record_id].merged_into is None, f"{label}: delete of {record_id} reported as a merge")
    absorbed = set(merge.absorbed) if merge else set()
    for record_id in absorbed:
        assert merge is not None
        check(record_id in tombstones, f"{label}: merged-away {record_id} not delivered as a Tombstone")
        got = tombstones[record_id].merged_into
        check(got == merge.survivor, f"{label}: {record_id} merged into {merge.survivor}, Tombstone says {got}")
    extra = set(tombstones) - set(deleted) - absorbed
    check(not extra, f"{label}: tombstones for records nobody deleted: {_short(extra)}")
    if merge is not None:
        check(merge.survivor not in tombstones, f"{label}: the merge survivor {merge.survivor} was tombstoned")


async def _incremental(target: ConformanceTarget, transport: Transport, roles: Sequence[Role]) -> None:
    async with open_rig(target, transport) as rig:
        await rig.seed(120)
        connector = await rig.connector()
        for role in roles:
            obj = target.objects[role]
            base = await read_all(connector, obj, None)
            await _changes_since(target, rig, connector, role, base.cursor, set(base.upsert_ids()))
            # Reading again from the final cursor delivers nothing new.
            first = await read_all(connector, obj, base.cursor)
            again = await read_all(connector, obj, first.cursor)
            check(
                not again.upserts and not again.tombstones,
                f"{target.vendor} {obj}: a read from the latest cursor re-delivered "
                f"{_short(again.upsert_ids() + [t.id for t in again.tombstones])}",
            )


async def incremental_read(target: ConformanceTarget, transport: Transport) -> None:
    """After a full read, user creates/edits/deletes/merges of companies and contacts come back exactly."""
    await _incremental(target, transport, ("company", "contact"))


async def incremental_read_deals(target: ConformanceTarget, transport: Transport) -> None:
    """After a full read, user creates/edits/deletes of deals come back exactly (upserts and Tombstones)."""
    await _incremental(target, transport, ("deal",))


async def merges(target: ConformanceTarget, transport: Transport) -> None:
    """After a user merge, fetch() re-points the absorbed ids and the survivor lists them in merged_ids."""
    async with open_rig(target, transport) as rig:
        await rig.seed(120)
        connector = await rig.connector()
        for role in target.mergeable:
            obj = target.objects[role]
            existing = sorted(await target.remote_records(rig, role))
            merge = await target.user_merge(rig, role, existing[0], existing[1])
            label = f"{target.vendor} {obj} merge of {existing[1]} into {existing[0]}"
            fetched = await connector.fetch(obj, [merge.survivor, *merge.absorbed])
            check(len(fetched) == 1 + len(merge.absorbed), f"{label}: fetch returned {len(fetched)} results")
            survivor, *gone = fetched
            check(
                isinstance(survivor, RemoteRecord) and survivor.id == merge.survivor,
                f"{label}: fetch(survivor) returned {survivor}",
            )
            for absorbed, result in zip(merge.absorbed, gone, strict=True):
                check(
                    isinstance(result, Tombstone) and result.id == absorbed and result.merged_into == merge.survivor,
                    f"{label}: fetch({absorbed}) returned {result}, want Tombstone(merged_into={merge.survivor})",
                )


async def merged_ids(target: ConformanceTarget, transport: Transport) -> None:
    """A merge survivor lists the ids it absorbed in `merged_ids`, on fetch() and on the incremental read."""
    async with open_rig(target, transport) as rig:
        await rig.seed(120)
        connector = await rig.connector()
        for role in target.mergeable:
            obj = target.objects[role]
            base = await read_all(connector, obj, None)
            existing = sorted(base.upsert_ids())
            merge = await target.user_merge(rig, role, existing[0], existing[1])
            label = f"{target.vendor} {obj} merge of {existing[1]} into {existing[0]}"
            [survivor] = await connector.fetch(obj, [merge.survivor])
            check(isinstance(survivor, RemoteRecord), f"{label}: fetch(survivor) returned {survivor}")
            assert isinstance(survivor, RemoteRecord)
            missing = set(merge.absorbed) - set(survivor.merged_ids)
            check(
                not missing, f"{label}: fetch: the survivor's merged_ids {survivor.merged_ids} lack {_short(missing)}"
            )
            result = await read_all(connector, obj, base.cursor)
            for record in (r for r in result.upserts if r.id == merge.survivor):
                missing = set(merge.absorbed) - set(record.merged_ids)
                check(not missing, f"{label}: changes(): merged_ids {record.merged_ids} lack {_short(missing)}")


async def _frozen_block(target: ConformanceTarget, rig: Rig, role: Role, count: int) -> list[str]:
    """`count` records created by a user while the emulator clock is frozen: all share one stamp."""
    await rig.clock(freeze=True)
    ids = await target.user_create(rig, role, [target.sample(role, 5000 + i) for i in range(count)])
    await rig.clock(freeze=False)
    await rig.clock(advance_ms=2_000)
    return ids


async def shared_stamp_pages(target: ConformanceTarget, transport: Transport) -> None:
    """Records sharing one modification stamp across page boundaries are all delivered, once each."""
    async with open_rig(target, transport) as rig:
        await rig.seed(30)
        connector = await rig.connector(ConnectorOptions(small_pages=True))
        role: Role = "contact"
        obj = target.objects[role]
        base = await read_all(connector, obj, None)
        check_exact(f"{target.vendor} {obj} full read", base.upsert_ids(), set(await target.remote_records(rig, role)))
        count = target.small_page * 2 + target.small_page // 2 + 1
        block = await _frozen_block(target, rig, role, count)
        result = await read_all(connector, obj, base.cursor)
        check(len(result.pages) >= 2 or target.small_page >= count, f"{obj}: {count} records fit in one page")
        check_exact(
            f"{target.vendor} {obj} incremental read of {count} same-stamp records", result.upsert_ids(), set(block)
        )
        full = await read_all(connector, obj, None)
        check_exact(f"{target.vendor} {obj} full read", full.upsert_ids(), set(await target.remote_records(rig, role)))


def _check_resumes(label: str, run: ReadResult, resumed: list[ReadResult]) -> None:
    delivered: set[str] = set()
    total = set(run.upsert_ids())
    for i, rest in enumerate(resumed):
        delivered |= {r.id for r in run.pages[i].upserts}
        again = delivered & set(rest.upsert_ids())
        check(not again, f"{label}: resuming after page {i + 1} re-delivered {_short(again)}")
        check_exact(f"{label}: resuming after page {i + 1}", rest.upsert_ids(), total - delivered)


async def resume_every_cursor(target: ConformanceTarget, transport: Transport) -> None:
    """Resuming from every intermediate cursor delivers nothing twice and skips nothing."""
    async with open_rig(target, transport) as rig:
        await rig.seed(60)
        connector = await rig.connector(ConnectorOptions(small_pages=True))
        role: Role = "contact"
        obj = target.objects[role]
        full = await read_all(connector, obj, None)
        resumed = [await read_all(connector, obj, page.cursor) for page in full.pages[:-1]]
        _check_resumes(f"{target.vendor} {obj} full read", full, resumed)
        block = await _frozen_block(target, rig, role, target.small_page * 2 + 3)
        incremental = await read_all(connector, obj, full.cursor)
        check_exact(f"{target.vendor} {obj} incremental read", incremental.upsert_ids(), set(block))
        resumed = [await read_all(connector, obj, page.cursor) for page in incremental.pages[:-1]]
        _check_resumes(f"{target.vendor} {obj} incremental read", incremental, resumed)


async def describe(target: ConformanceTarget, transport: Transport) -> None:
    """Schema discovery reports required, external-id and picklist fields, and deal stages."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        for role in ROLES:
            obj = target.objects[role]
            schema = await connector.describe(obj)
            label = f"{target.vendor} describe({obj})"
            check(schema.name.lower() == obj.lower(), f"{label}: schema is named {schema.name!r}")
            check(len(schema.fields) > 3, f"{label}: only {len(schema.fields)} fields")
            check(schema.field(schema.id_field) is not None or schema.id_field != "", f"{label}: no id field")
            ext = schema.field(target.external_id_field(role))
            check(ext is not None, f"{label}: the external-id field {target.external_id_field(role)} is missing")
            assert ext is not None
            check(ext.external_id, f"{label}: {ext.name} is not reported as an external id")
            for name in target.required_fields(role):
                found = schema.field(name)
                check(found is not None and found.required, f"{label}: {name} is not reported as required")
            picklist = target.picklist_field(role)
            if picklist is not None:
                found = schema.field(picklist)
                check(found is not None and bool(found.picklist_values), f"{label}: {picklist} lists no values")
            if role == "deal":
                stages = schema.stages.values()
                check(any(not closed for _, closed, _ in stages), f"{label}: no open deal stage")
                check(any(closed and won for _, closed, won in stages), f"{label}: no closed-won deal stage")
                check(any(closed and not won for _, closed, won in stages), f"{label}: no closed-lost deal stage")
