"""Generic write cases: partial batch failures, idempotent re-creates, links, merges, token expiry mid-run."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

import httpx

from crmsync.connectors.base import Connector, RemoteRecord, Tombstone, WriteOp, WriteResult, can_merge
from crmsync.testing.conformance import ConformanceTarget, ConnectorOptions, Role, Transport
from crmsync.testing.conformance import expect as check
from crmsync.testing.rig import Rig, open_rig, read_all


def create_ops(target: ConformanceTarget, role: Role, prefix: str, count: int, start: int = 0) -> list[WriteOp]:
    """Creates carrying the canonical id in the external-id field (the engine's shape for new records)."""
    field = target.external_id_field(role)
    return [
        WriteOp(
            kind="create",
            ref=f"{prefix}-{i}",
            fields=target.sample(role, start + i),
            external_id=(field, f"{prefix}-{i}"),
        )
        for i in range(count)
    ]


def multi_page_seed(target: ConformanceTarget) -> int:
    """A seed size whose contacts (half the records) fill at least two small pages."""
    return max(60, target.small_page * 5)


def check_results(label: str, ops: Sequence[WriteOp], results: Sequence[WriteResult]) -> None:
    check(len(results) == len(ops), f"{label}: {len(results)} results for {len(ops)} ops")
    refs = [r.ref for r in results]
    check(refs == [op.ref for op in ops], f"{label}: results not in op order: {refs}")
    for result in results:
        check(result.ok == (result.error is None), f"{label}: {result.ref}: ok={result.ok} but error={result.error}")
        if result.ok:
            check(bool(result.id), f"{label}: {result.ref} succeeded without a remote id")


async def check_once_each(
    target: ConformanceTarget, rig: Rig, role: Role, refs: Sequence[str], label: str
) -> dict[str, str]:
    """Every canonical id is held by exactly one live remote record; returns ref -> remote id."""
    remote = await target.remote_records(rig, role)
    held = Counter(value for value in remote.values() if value is not None)
    for ref in refs:
        check(held[ref] == 1, f"{label}: {held[ref]} remote records carry external id {ref} (want exactly 1)")
    return {value: rid for rid, value in remote.items() if value is not None}


async def apply_until_done(
    connector: Connector, obj: str, ops: Sequence[WriteOp], rounds: int = 4
) -> list[WriteResult]:
    """Apply; re-apply the items that failed retryably (what the engine does); final result per op."""
    final: dict[str, WriteResult] = {}
    pending = list(ops)
    for _ in range(rounds):
        results = await connector.apply(obj, pending)
        check_results(f"apply({obj})", pending, results)
        for result in results:
            final[result.ref] = result
        pending = [op for op, r in zip(pending, results, strict=True) if not r.ok and r.error and r.error.retryable]
        if not pending:
            break
    return [final[op.ref] for op in ops]


async def batch_partial_failure(target: ConformanceTarget, transport: Transport) -> None:
    """One invalid item in a batch fails alone with a classified error; the others land."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        role: Role = "contact"
        obj = target.objects[role]
        ops = create_ops(target, role, "bad-batch", 6)
        ops[2] = WriteOp(kind="create", ref=ops[2].ref, fields=target.invalid(role), external_id=ops[2].external_id)
        results = await connector.apply(obj, ops)
        label = f"{target.vendor} apply({obj}) with one invalid item"
        check_results(label, ops, results)
        bad = results[2]
        check(not bad.ok and bad.error is not None, f"{label}: the invalid item was accepted")
        assert bad.error is not None
        check(bad.error.classification == "invalid", f"{label}: invalid item classified {bad.error.classification}")
        check(bool(bad.error.message), f"{label}: the error has no message")
        good = [r for i, r in enumerate(results) if i != 2]
        failed = [f"{r.ref}: {r.error}" for r in good if not r.ok]
        check(not failed, f"{label}: valid items failed with the invalid one: {failed}")
        check(all(r.created for r in good), f"{label}: new records not reported as created")
        by_ref = await check_once_each(target, rig, role, [op.ref for i, op in enumerate(ops) if i != 2], label)
        check(ops[2].ref not in by_ref, f"{label}: the invalid item reached the CRM")

        # Updates: one of a record that no longer exists fails alone, as not_found.
        [gone] = await target.user_create(rig, role, [target.sample(role, 77)])
        await target.user_delete(rig, role, gone)
        updates = [
            WriteOp(kind="update", ref="upd-0", id=results[0].id, fields=target.edited(role, 0)),
            WriteOp(kind="update", ref="upd-gone", id=gone, fields=target.edited(role, 1)),
            WriteOp(kind="update", ref="upd-1", id=results[1].id, fields=target.edited(role, 2)),
        ]
        updated = await connector.apply(obj, updates)
        label = f"{target.vendor} apply({obj}) updates with one deleted record"
        check_results(label, updates, updated)
        check(updated[0].ok and updated[2].ok, f"{label}: valid updates failed: {updated}")
        error = updated[1].error
        check(not updated[1].ok and error is not None, f"{label}: the update of a deleted record succeeded")
        assert error is not None
        check(error.classification == "not_found", f"{label}: deleted record classified {error.classification}")


async def partial_batch_fault(target: ConformanceTarget, transport: Transport) -> None:
    """Items the vendor failed transiently come back retryable (or are retried inside); a retry lands them."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        role: Role = "contact"
        obj = target.objects[role]
        await rig.set_faults(
            [{"kind": "partial_batch", "path": target.batch_write_path, "fail_share": 0.5, "times": 1}]
        )
        ops = create_ops(target, role, "partial", 10)
        results = await connector.apply(obj, ops)
        report = await rig.clear_faults()
        label = f"{target.vendor} apply({obj}) under a partial batch failure"
        check(sum(int(r["fired"]) for r in report) == 1, f"{label}: the fault never fired (batch path wrong?)")
        check_results(label, ops, results)
        not_retryable = [f"{r.ref}: {r.error}" for r in results if not r.ok and not (r.error and r.error.retryable)]
        check(not not_retryable, f"{label}: transient item failures classified as final: {not_retryable}")
        final = await apply_until_done(connector, obj, [op for op, r in zip(ops, results, strict=True) if not r.ok])
        check(all(r.ok for r in final), f"{label}: retried items still fail: {[r.error for r in final if not r.ok]}")
        await check_once_each(target, rig, role, [op.ref for op in ops], label)


async def idempotent_recreate(target: ConformanceTarget, transport: Transport) -> None:
    """The same create applied twice, or retried after a lost response, leaves one remote record."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        for role in ("company", "contact"):
            obj = target.objects[role]
            label = f"{target.vendor} apply({obj}) twice"
            ops = create_ops(target, role, f"again-{role}", 4)
            first = await connector.apply(obj, ops)
            check_results(label, ops, first)
            check(all(r.ok and r.created for r in first), f"{label}: first apply: {first}")
            second = await connector.apply(obj, ops)
            check_results(label, ops, second)
            check(all(r.ok for r in second), f"{label}: second apply failed: {[r.error for r in second]}")
            check([r.id for r in second] == [r.id for r in first], f"{label}: the re-create made new records")
            check(not any(r.created for r in second), f"{label}: the re-create claims it created records")
            await check_once_each(target, rig, role, [op.ref for op in ops], label)

            label = f"{target.vendor} apply({obj}) with the response lost"
            pattern = re.compile(target.batch_write_path)

            def is_write(request: httpx.Request, pattern: re.Pattern[str] = pattern) -> bool:
                return request.method in {"POST", "PATCH", "PUT"} and bool(pattern.search(request.url.path))

            rig.recorder.lose_responses(is_write, times=1)
            lost_ops = create_ops(target, role, f"lost-{role}", 4, start=40)
            results = await apply_until_done(connector, obj, lost_ops)
            check(rig.recorder.lost == 1, f"{label}: no write matched {target.batch_write_path}")
            rig.recorder.lost = 0
            check(all(r.ok for r in results), f"{label}: {[r.error for r in results if not r.ok]}")
            await check_once_each(target, rig, role, [op.ref for op in lost_ops], label)


def _link_ids(record: RemoteRecord, role: str) -> tuple[str, ...]:
    return tuple(record.links.get(role, ()))


async def links(target: ConformanceTarget, transport: Transport) -> None:
    """Contacts under a company, deals with company and contacts, activities with parents: written and read."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        made: dict[str, str] = {}

        async def create(role: Role, linked: Mapping[str, str | None]) -> str:
            ops = create_ops(target, role, f"link-{role}", 1, start=60)
            op = WriteOp(
                kind="create", ref=ops[0].ref, fields=ops[0].fields, external_id=ops[0].external_id, links=linked
            )
            [result] = await connector.apply(target.objects[role], [op])
            check(result.ok and result.id is not None, f"{target.vendor}: create {role} with links: {result.error}")
            assert result.id is not None
            return result.id

        made["company"] = await create("company", {})
        for role in ("contact", "deal", "activity"):
            wanted = {link: made[link] for link in target.link_roles[role]}
            made[role] = await create(role, wanted)
            label = f"{target.vendor} {target.objects[role]} links"
            [fetched] = await connector.fetch(target.objects[role], [made[role]])
            check(isinstance(fetched, RemoteRecord), f"{label}: fetch returned {fetched}")
            assert isinstance(fetched, RemoteRecord)
            for link, remote_id in wanted.items():
                check(remote_id in _link_ids(fetched, link), f"{label}: fetch shows {link}={_link_ids(fetched, link)}")
            result = await read_all(connector, target.objects[role], None)
            [read] = [r for r in result.upserts if r.id == made[role]]
            for link, remote_id in wanted.items():
                check(remote_id in _link_ids(read, link), f"{label}: changes() shows {link}={_link_ids(read, link)}")

        # Clearing a link: the contact leaves its company.
        contact = target.objects["contact"]
        [cleared] = await connector.apply(
            contact, [WriteOp(kind="update", ref="unlink", id=made["contact"], links={"company": None})]
        )
        check(cleared.ok, f"{target.vendor}: clearing contact.company failed: {cleared.error}")
        [fetched] = await connector.fetch(contact, [made["contact"]])
        assert isinstance(fetched, RemoteRecord)
        check(not _link_ids(fetched, "company"), f"{target.vendor}: contact still linked: {fetched.links}")


async def token_expiry(target: ConformanceTarget, transport: Transport) -> None:
    """Tokens expiring mid-run (control plane, then the emulator clock) cost one refresh each; the run completes."""
    async with open_rig(target, transport) as rig:
        await rig.seed(multi_page_seed(target))
        connector = await rig.connector(ConnectorOptions(small_pages=True))
        role: Role = "contact"
        obj = target.objects[role]
        remote = set(await target.remote_records(rig, role))
        ids: list[str] = []
        pages = 0
        stream = connector.changes(obj, None)
        async for page in stream:
            pages += 1
            ids.extend(r.id for r in page.upserts)
            if pages == 1:
                await target.expire_tokens(rig)
            if not page.more:
                break
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
        label = f"{target.vendor} {obj} read with the token expired after page 1"
        check(pages >= 2, f"{label}: the read had one page; the expiry was not mid-run")
        check(sorted(ids) == sorted(remote), f"{label}: delivered {len(ids)} of {len(remote)}, or twice")
        fetches = rig.recorder.count(target.token_path)
        check(fetches == 2, f"{label}: {fetches} token requests (want the first and one refresh)")

        await rig.clock(advance_ms=3 * 3600 * 1000)  # past every vendor's token lifetime
        results = await connector.apply(obj, create_ops(target, role, "after-expiry", 3))
        check(all(r.ok for r in results), f"{label}: writes after the clock passed the token lifetime failed")
        fetches = rig.recorder.count(target.token_path)
        check(fetches == 3, f"{label}: {fetches} token requests after lifetime expiry (want 3)")
        unauthorized = rig.recorder.count(target.api_path, statuses=[401])
        check(unauthorized <= 2, f"{label}: {unauthorized} calls answered 401 (one per expiry at most)")


async def merge_or_refuse(target: ConformanceTarget, transport: Transport) -> None:
    """A merge op is the vendor's merge where the connector merges contacts, else refused alone as invalid."""
    async with open_rig(target, transport) as rig:
        connector = await rig.connector()
        role: Role = "contact"
        obj = target.objects[role]
        created = await connector.apply(obj, create_ops(target, role, "merge", 3))
        check(all(r.ok and r.id for r in created), f"{target.vendor}: creates before the merge: {created}")
        kept, gone, other = (str(r.id) for r in created)
        ops = [
            WriteOp(kind="merge", ref="merge", id=gone, into=kept),
            WriteOp(kind="update", ref="beside", id=other, fields=target.edited(role, 0)),
        ]
        label = f"{target.vendor} apply({obj}) of a merge beside an update"
        merged, beside = await connector.apply(obj, ops)
        check_results(label, ops, [merged, beside])
        check(beside.ok, f"{label}: the update failed with the merge: {beside.error}")
        [after] = await connector.fetch(obj, [gone])
        if can_merge(connector, obj):
            check(merged.ok, f"{label}: the merge failed: {merged.error}")
            # The result names the survivor (a new id where the vendor renews it); the merged id re-points to it.
            re_pointed = isinstance(after, Tombstone) and after.merged_into == merged.id
            check(re_pointed, f"{label}: the merged record reads back as {after}, not merged into {merged.id}")
        else:
            error = merged.error
            check(not merged.ok and error is not None, f"{label}: a connector without merges accepted one")
            assert error is not None
            check(error.classification == "invalid", f"{label}: a refused merge classified {error.classification}")
            check(isinstance(after, RemoteRecord), f"{label}: the refused merge changed the record: {after}")
