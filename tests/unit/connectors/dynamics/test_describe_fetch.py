"""`describe()` (attributes, option sets, alternate keys, opportunity stages) and `fetch()` (found, missing, merged)."""

from __future__ import annotations

import httpx

from crmsync.connectors.base import RemoteRecord, Tombstone, WriteOp
from crmsync.connectors.dynamics import DynamicsConnector

from .conftest import EXTERNAL_ID, control


async def test_describe_maps_attributes_keys_and_option_sets(connector: DynamicsConnector) -> None:
    schema = await connector.describe("account")
    assert (schema.name, schema.id_field, schema.modstamp_field) == ("account", "accountid", "modifiedon")
    name = schema.fields["name"]
    assert (name.type, name.required, name.length) == ("string", True, 160)
    assert schema.fields["accountnumber"].unique  # a declared alternate key
    external = schema.fields[EXTERNAL_ID]
    assert (external.external_id, external.unique, external.custom) == (True, True, True)
    industry = schema.fields["industrycode"]
    assert industry.type == "picklist" and "1" in industry.picklist_values
    assert schema.fields["statecode"].picklist_values == ("0", "1")
    assert schema.fields["primarycontactid"].references == ("contact",)
    assert schema.fields["modifiedon"].read_only
    assert schema.fields["revenue"].type == "currency"
    assert not schema.stages
    assert await connector.describe("account") is schema  # cached per connector


async def test_opportunity_stages_come_from_state_and_status(connector: DynamicsConnector) -> None:
    schema = await connector.describe("opportunity")
    assert schema.stages["0:1"] == ("In Progress", False, False)
    assert schema.stages["1:3"] == ("Won", True, True)
    assert schema.stages["2:4"] == ("Canceled", True, False)
    assert schema.stages["2:5"] == ("Out-Sold", True, False)
    assert schema.fields["estimatedclosedate"].type == "date"
    assert schema.fields["customerid"].references == ("account", "contact")


async def test_fetch_returns_records_tombstones_and_re_points(
    connector: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    results = await connector.apply(
        "contact",
        [
            WriteOp("create", f"c-{i}", fields={"lastname": f"L{i}"}, external_id=(EXTERNAL_ID, f"c-{i}"))
            for i in range(3)
        ],
    )
    keep, merged, deleted = (r.id for r in results)
    assert keep and merged and deleted
    await control(client, "POST", "merge", {"table": "contact", "target": keep, "subordinate": merged})
    await connector.apply("contact", [WriteOp("delete", "c-2", id=deleted)])
    found = await connector.fetch("contact", [merged, "not-a-guid", keep, deleted], fields=["lastname"])
    assert isinstance(found[0], Tombstone) and found[0].merged_into == keep
    assert found[1] == Tombstone(object="contact", id="not-a-guid")
    assert isinstance(found[2], RemoteRecord) and found[2].fields["lastname"] == "L0"
    assert found[3] == Tombstone(object="contact", id=deleted)


async def test_fetch_chunks_use_few_calls(connector: DynamicsConnector, client: httpx.AsyncClient) -> None:
    ops = [
        WriteOp("create", f"a-{i}", fields={"subject": f"A{i}"}, external_id=(EXTERNAL_ID, f"a-{i}"))
        for i in range(1200)
    ]
    ids = [r.id for r in await connector.apply("task", ops) if r.id]
    await control(client, "DELETE", "stats")
    found = await connector.fetch("task", ids)
    assert [f.id for f in found] == ids
    assert all(isinstance(f, RemoteRecord) for f in found)
    stats = await control(client, "GET", "stats")
    assert stats["total_calls"] == 3  # ceil(1200 / 500 ids per In(...) filter)


async def test_survivors_list_the_ids_they_absorbed(connector: DynamicsConnector, client: httpx.AsyncClient) -> None:
    ops = [WriteOp("create", f"m-{i}", fields={"name": f"M{i}"}, external_id=(EXTERNAL_ID, f"m-{i}")) for i in range(4)]
    survivor, first, second, bystander = (r.id for r in await connector.apply("account", ops))
    assert survivor and first and second and bystander
    cursor = [p async for p in connector.changes("account", None, fields=["name"])][-1].cursor
    for absorbed in (first, second):
        await control(client, "POST", "merge", {"table": "account", "target": survivor, "subordinate": absorbed})
    fetched = await connector.fetch("account", [survivor, bystander])
    assert isinstance(fetched[0], RemoteRecord) and fetched[0].merged_ids == tuple(sorted((first, second)))
    assert isinstance(fetched[1], RemoteRecord) and fetched[1].merged_ids == ()
    pages = [p async for p in connector.changes("account", cursor)]
    records = {r.id: r for p in pages for r in p.upserts}
    assert records[survivor].merged_ids == tuple(sorted((first, second)))
    assert set(records[survivor].fields) >= {"name", "accountid"}
    assert {(t.id, t.merged_into) for p in pages for t in p.tombstones} == {(first, survivor), (second, survivor)}
