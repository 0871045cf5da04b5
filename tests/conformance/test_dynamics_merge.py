"""Dataverse `WriteOp("merge")` on the emulator: the `Merge` action, per-record results, the merged row read back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import RemoteRecord, Tombstone, WriteOp, can_merge
from crmsync.connectors.dynamics import TABLES, DynamicsConnector, DynamicsSettings
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app

BASE = "https://dv.merge"
EXT = "new_crmsyncid"


@pytest.fixture
async def env() -> AsyncIterator[tuple[DynamicsConnector, list[dict[str, Any]]]]:
    """A connector on the emulator, and the JSON bodies of every `Merge` request it sent inside a `$batch`."""
    column = CustomColumn(name=EXT, max_length=100, alternate_key=True)
    config = DynamicsConfig(custom_columns={table: [column] for table in TABLES})
    settings = DynamicsSettings(
        org_url=BASE,
        authority=BASE,
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=SecretStr(config.client_secret),
        external_ids=dict.fromkeys(TABLES, EXT),
    )
    merges: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        body = request.content if request.url.path.endswith("/$batch") else b""
        for part in body.split(b"\r\n\r\n"):
            if part.lstrip().startswith(b'{"Target"'):
                merges.append(orjson.loads(part.split(b"\r\n")[0]))

    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, event_hooks={"request": [record]}) as client:
        yield DynamicsConnector(settings, connection="dv-merge", client=client), merges


def create(ref: str, links: dict[str, str | None] | None = None, **fields: Any) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXT, ref), links=links or {})


async def test_merge_folds_the_subordinate_into_the_target_and_reads_back_as_a_re_point(
    env: tuple[DynamicsConnector, list[dict[str, Any]]],
) -> None:
    connector, sent = env
    target, subordinate = await connector.apply("contact", [create("t", lastname="Kept"), create("s", lastname="Gone")])
    assert target.id and subordinate.id
    [task] = await connector.apply("task", [create("task", {"contact": subordinate.id}, subject="Call")])
    assert task.id
    cursor = [page async for page in connector.changes("contact", None)][-1].cursor

    [merged] = await connector.apply("contact", [WriteOp("merge", "ref-1", id=subordinate.id, into=target.id)])
    assert (merged.ref, merged.ok, merged.id, merged.error) == ("ref-1", True, target.id, None)
    # The vendor's own action, as documented: typed references, nothing to update, no parenting checks.
    entity = "Microsoft.Dynamics.CRM.contact"
    assert sent == [
        {
            "Target": {"@odata.type": entity, "contactid": target.id},
            "Subordinate": {"@odata.type": entity, "contactid": subordinate.id},
            "UpdateContent": {"@odata.type": entity},
            "PerformParentingChecks": False,
        }
    ]
    # The subordinate stays readable but comes back as merged into the target, which lists it as absorbed.
    kept, gone = await connector.fetch("contact", [target.id, subordinate.id])
    assert isinstance(gone, Tombstone) and (gone.id, gone.merged_into) == (subordinate.id, target.id)
    assert isinstance(kept, RemoteRecord) and kept.merged_ids == (subordinate.id,)
    assert kept.fields["lastname"] == "Kept"
    changed = [page async for page in connector.changes("contact", cursor)]
    assert [(t.id, t.merged_into) for page in changed for t in page.tombstones] == [(subordinate.id, target.id)]
    # Its children moved to the target.
    [child] = await connector.fetch("task", [task.id])
    assert isinstance(child, RemoteRecord) and child.links == {"contact": (target.id,)}


async def test_each_merge_gets_its_own_result_with_the_vendors_error(
    env: tuple[DynamicsConnector, list[dict[str, Any]]],
) -> None:
    connector, _ = env
    first, second, third = await connector.apply("account", [create(n, name=n) for n in ("a1", "a2", "a3")])
    assert first.id and second.id and third.id
    missing = str(uuid.uuid4())
    ops = [
        WriteOp("merge", "unknown", id=missing, into=first.id),
        WriteOp("merge", "fine", id=second.id, into=first.id),
        WriteOp("merge", "itself", id=third.id, into=third.id),
        WriteOp("merge", "no-target", id=third.id),
    ]
    unknown, fine, itself, no_target = await connector.apply("account", ops)
    assert [r.ref for r in (unknown, fine, itself, no_target)] == [op.ref for op in ops]
    assert fine.ok and fine.id == first.id
    assert not unknown.ok and unknown.error is not None
    assert unknown.error.classification == "not_found"
    assert missing in unknown.error.message  # the vendor's words name the record that is not there
    assert itself.error is not None and (itself.error.classification, itself.error.code) == ("invalid", "merge_itself")
    assert no_target.error is not None and no_target.error.classification == "invalid"
    # The refused merges changed nothing: the third account is still live.
    [still] = await connector.fetch("account", [third.id])
    assert isinstance(still, RemoteRecord)


async def test_only_accounts_and_contacts_merge(env: tuple[DynamicsConnector, list[dict[str, Any]]]) -> None:
    connector, sent = env
    assert [table for table in TABLES if can_merge(connector, table)] == ["account", "contact"]
    one, two = await connector.apply("opportunity", [create("o1", name="One"), create("o2", name="Two")])
    assert one.id and two.id
    [refused] = await connector.apply("opportunity", [WriteOp("merge", "deal", id=two.id, into=one.id)])
    assert not refused.ok and refused.error is not None
    assert (refused.error.classification, refused.error.code) == ("invalid", "merge_unsupported")
    assert sent == []  # refused before anything was sent
