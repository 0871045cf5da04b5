"""fetch, apply (collections upsert/create/update/delete with per-item results) and relationships."""

from __future__ import annotations

from starlette.applications import Starlette

from crmsync.connectors.base import RemoteRecord, Tombstone, WriteOp
from crmsync.connectors.salesforce import SalesforceConnector

from .conftest import Admin, Sleeps

EXT = "Crmsync_Id__c"


def create(ref: str, **fields: object) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXT, ref))


async def test_fetch_live_deleted_merged_and_missing(connector: SalesforceConnector, admin: Admin) -> None:
    live = await admin.create("Contact", {"LastName": "Live"})
    gone = await admin.create("Contact", {"LastName": "Gone"})
    victim = await admin.create("Contact", {"LastName": "Victim"})
    await admin.delete("Contact", gone)
    await admin.control("merge", {"object": "Contact", "master_id": live, "victim_ids": [victim]})
    result = await connector.fetch("Contact", [live, gone, victim, "003dM00000zzzzzQAA", live[:15]])
    assert isinstance(result[0], RemoteRecord) and result[0].fields["LastName"] == "Live"
    assert result[1] == Tombstone("Contact", gone, result[1].deleted_at)  # type: ignore[union-attr]
    assert isinstance(result[2], Tombstone) and result[2].merged_into == live
    assert isinstance(result[3], Tombstone) and result[3].merged_into is None
    assert isinstance(result[4], RemoteRecord) and result[4].id == live


async def test_retried_create_does_not_duplicate(app: Starlette, connector: SalesforceConnector) -> None:
    first = await connector.apply("Account", [create("acc-1", Name="Acme")])
    again = await connector.apply("Account", [create("acc-1", Name="Acme Inc")])
    assert first[0].ok and first[0].created
    assert again[0].ok and not again[0].created and again[0].id == first[0].id
    assert len(list(app.state.vendor.org.coll("Account").scan())) == 1


async def test_partial_failures_come_back_per_item_in_order(connector: SalesforceConnector, admin: Admin) -> None:
    existing = await admin.create("Contact", {"LastName": "Old"})
    deleted = await admin.create("Contact", {"LastName": "Deleted"})
    await admin.delete("Contact", deleted)
    ops = [
        create("c-ok", LastName="Fine"),
        create("c-bad", LastName="X", Email="not-an-email"),
        WriteOp("create", "c-plain", fields={"LastName": "No key"}),
        WriteOp("update", "c-upd", id=existing, fields={"FirstName": "New"}),
        WriteOp("update", "c-gone", id=deleted, fields={"FirstName": "New"}),
        WriteOp("delete", "c-del", id=existing),
        WriteOp("update", "c-noid", fields={"FirstName": "x"}),
    ]
    results = await connector.apply("Contact", ops)
    assert [r.ref for r in results] == [op.ref for op in ops]
    assert [r.ok for r in results] == [True, False, True, True, False, True, False]
    assert results[1].error is not None and results[1].error.classification == "invalid"
    assert results[1].error.code == "INVALID_EMAIL_ADDRESS"
    assert results[2].created and results[2].id is not None and results[2].id.startswith("003")
    assert results[4].error is not None and results[4].error.classification == "not_found"
    assert results[6].error is not None and results[6].error.code == "CRMSYNC_INVALID_OP"


async def test_an_update_of_a_purged_record_is_not_found_and_a_bad_lookup_invalid(
    connector: SalesforceConnector, admin: Admin
) -> None:
    """Both fail a collection update with INVALID_CROSS_REFERENCE_KEY: one queryAll tells them apart."""
    existing = await admin.create("Contact", {"LastName": "Here"})
    ops = [
        WriteOp("update", "purged", id="003dM00000zzzzzQAA", fields={"FirstName": "x"}),
        WriteOp("update", "bad-lookup", id=existing, fields={"AccountId": "001dM00000zzzzzQAA"}),
    ]
    await admin.control("stats", method="DELETE")
    purged, bad_lookup = await connector.apply("Contact", ops)
    assert purged.error is not None and purged.error.classification == "not_found"
    assert purged.error.code == "INVALID_CROSS_REFERENCE_KEY" and purged.id == "003dM00000zzzzzQAA"
    assert bad_lookup.error is not None and bad_lookup.error.classification == "invalid"
    assert (await admin.stats())["operations"]["query_all"]["calls"] == 1


async def test_a_delete_of_a_purged_record_is_not_found(connector: SalesforceConnector, admin: Admin) -> None:
    """Salesforce answers INVALID_CROSS_REFERENCE_KEY for an id no record holds: for a delete, already gone."""
    binned = await admin.create("Contact", {"LastName": "Binned"})
    await admin.delete("Contact", binned)
    ops = [WriteOp("delete", "purged", id="003dM00000zzzzzQAA"), WriteOp("delete", "binned", id=binned)]
    purged, in_bin = await connector.apply("Contact", ops)
    assert purged.error is not None and purged.error.code == "INVALID_CROSS_REFERENCE_KEY"
    assert purged.error.classification == "not_found" and purged.id == "003dM00000zzzzzQAA"
    assert in_bin.error is not None and in_bin.error.classification == "not_found"


async def test_duplicate_external_id_value_is_classified(connector: SalesforceConnector, admin: Admin) -> None:
    holder = await admin.create("Account", {"Name": "Holder", EXT: "taken"})
    other = await admin.create("Account", {"Name": "Other"})
    results = await connector.apply("Account", [WriteOp("update", "a", id=other, fields={EXT: "taken"})])
    assert results[0].error is not None and results[0].error.classification == "duplicate"
    assert results[0].error.existing_id == holder


async def test_full_batches_of_200(connector: SalesforceConnector, admin: Admin) -> None:
    results = await connector.apply("Contact", [create(f"c{i}", LastName=f"N{i}") for i in range(450)])
    assert all(r.ok and r.created for r in results)
    stats = await admin.stats()
    assert stats["operations"]["collections_upsert"]["calls"] == 3


async def test_row_locks_are_re_sent(connector: SalesforceConnector, admin: Admin) -> None:
    rule = {"kind": "partial_batch", "path": "composite/sobjects", "fail_share": 0.25, "times": 2}
    await admin.control("faults", {"rules": [rule]}, "PUT")
    results = await connector.apply("Contact", [create(f"c{i}", LastName="L") for i in range(20)])
    assert all(r.ok for r in results)
    assert (await admin.stats())["operations"]["collections_upsert"]["calls"] == 3


async def test_a_row_lock_is_the_records_error_and_an_outage_the_calls(
    connector: SalesforceConnector, admin: Admin, sleeps: Sleeps
) -> None:
    """The engine tells a CRM that is down from records it could not lock by this scope: both are retryable."""
    [made] = await connector.apply("Contact", [create("c", LastName="Locked")])
    assert made.ok and made.id
    update = WriteOp("update", "c", id=made.id, fields={"LastName": "Still locked"})
    # Every item of every update call locked: the item re-sends meet the lock too.
    lock = {"kind": "partial_batch", "method": "PATCH", "path": "composite/sobjects$", "fail_share": 1}
    await admin.control("faults", {"rules": [lock]}, "PUT")
    [locked] = await connector.apply("Contact", [update])
    assert sleeps.calls  # the lock was re-sent before it was reported
    assert locked.error is not None and not locked.ok
    assert (locked.error.classification, locked.error.code, locked.error.scope) == (
        "retryable",
        "UNABLE_TO_LOCK_ROW",
        "record",
    )
    assert made.id in locked.error.message
    await admin.control("faults", {"rules": [{"kind": "status", "status": 503, "path": "composite/sobjects"}]}, "PUT")
    [down] = await connector.apply("Contact", [update])
    assert down.error is not None and (down.error.classification, down.error.scope) == ("retryable", "call")
    await admin.control("faults", {"rules": []}, "PUT")
    [landed] = await connector.apply("Contact", [update])
    assert landed.ok


async def test_links_read_and_written_as_foreign_keys(connector: SalesforceConnector) -> None:
    [account] = await connector.apply("Account", [create("acc", Name="Acme")])
    [contact] = await connector.apply(
        "Contact",
        [WriteOp("create", "con", fields={"LastName": "L"}, external_id=(EXT, "con"), links={"company": account.id})],
    )
    [task] = await connector.apply(
        "Task",
        [
            WriteOp(
                "create",
                "t",
                fields={"Subject": "Call"},
                external_id=(EXT, "t"),
                links={"contact": contact.id, "company": account.id},
            )
        ],
    )
    assert account.id and contact.id and task.id
    [c, t] = [*(await connector.fetch("Contact", [contact.id])), *(await connector.fetch("Task", [task.id]))]
    assert isinstance(c, RemoteRecord) and c.links == {"company": (account.id,)}
    assert isinstance(t, RemoteRecord) and t.links == {"contact": (contact.id,), "company": (account.id,), "deal": ()}
    [cleared] = await connector.apply("Contact", [WriteOp("update", "con", id=contact.id, links={"company": None})])
    assert cleared.ok
    [c] = await connector.fetch("Contact", [contact.id])
    assert isinstance(c, RemoteRecord) and c.links == {"company": ()}
    [bad] = await connector.apply("Contact", [WriteOp("update", "con", id=contact.id, links={"deal": account.id})])
    assert bad.error is not None and bad.error.classification == "invalid"


async def test_deal_contacts_through_contact_roles(connector: SalesforceConnector, admin: Admin) -> None:
    [a, b] = await connector.apply("Contact", [create("a", LastName="A"), create("b", LastName="B")])
    deal = WriteOp(
        "create",
        "d",
        fields={"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-12-01"},
        external_id=(EXT, "d"),
        links={"contact": a.id},
    )
    [d] = await connector.apply("Opportunity", [deal])
    assert d.ok and d.id and a.id and b.id
    pages = [p async for p in connector.changes("Opportunity", None)]
    assert pages[-1].upserts[0].links["contact"] == (a.id,)
    cursor = pages[-1].cursor
    await admin.control("clock", {"advance_ms": 1000})
    # Adding a role does not touch the deal's stamp: the role stream must still report the deal.
    [again] = await connector.apply("Opportunity", [WriteOp("update", "d", id=d.id, links={"contact": b.id})])
    assert again.ok
    pages = [p async for p in connector.changes("Opportunity", cursor)]
    deals = [r for p in pages for r in p.upserts]
    assert deals and set(deals[-1].links["contact"]) == {a.id, b.id}
    [cleared] = await connector.apply("Opportunity", [WriteOp("update", "d", id=d.id, links={"contact": None})])
    assert cleared.ok
    [fetched] = await connector.fetch("Opportunity", [d.id])
    assert isinstance(fetched, RemoteRecord) and fetched.links["contact"] == ()
