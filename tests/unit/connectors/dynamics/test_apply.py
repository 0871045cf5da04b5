"""`apply()`: `$batch` upserts by alternate key, per-item results, links, opportunity closing, retries, call counts."""

from __future__ import annotations

from typing import Any

import httpx

from crmsync.connectors.base import RemoteRecord, WriteOp
from crmsync.connectors.dynamics import DynamicsConnector

from .conftest import EXTERNAL_ID, Sleeps, control


def _create(ref: str, **fields: Any) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXTERNAL_ID, ref))


async def _one(connector: DynamicsConnector, obj: str, record_id: str) -> RemoteRecord:
    [found] = await connector.fetch(obj, [record_id])
    assert isinstance(found, RemoteRecord)
    return found


async def _batch_calls(client: httpx.AsyncClient) -> int:
    stats = await control(client, "GET", "stats")
    return sum(op["calls"] for name, op in stats["operations"].items() if "$batch" in name)


async def test_a_retried_create_updates_instead_of_duplicating(
    connector: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    [first] = await connector.apply("contact", [_create("canon-1", lastname="Ada")])
    [again] = await connector.apply("contact", [_create("canon-1", lastname="Lovelace")])
    assert first.ok and first.created and first.id
    assert again.ok and not again.created and again.id == first.id
    counts = (await client.get("/_emulator")).json()["counts"]
    assert counts["contact"] == 1
    record = await _one(connector, "contact", first.id)
    assert (record.fields["lastname"], record.fields[EXTERNAL_ID]) == ("Lovelace", "canon-1")


async def test_partial_failures_come_back_per_item_in_order(connector: DynamicsConnector) -> None:
    [existing] = await connector.apply("account", [_create("acc-0", name="Existing")])
    assert existing.id
    ops = [
        _create("acc-1", name="Good"),
        _create("acc-2", name="x" * 161),
        _create("acc-3", name="Fine", bogus_column=1),
        WriteOp("update", "acc-4", id="0d15ea5e-0000-4000-8000-00000000ffff", fields={"name": "Gone"}),
        WriteOp("update", "acc-5", id=existing.id, fields={"telephone1": "555"}),
        WriteOp("delete", "acc-6", id=existing.id),
        WriteOp("create", "acc-7", fields={"name": "No key"}),
    ]
    results = await connector.apply("account", ops)
    assert [r.ref for r in results] == [op.ref for op in ops]
    assert [r.ok for r in results] == [True, False, False, False, True, True, True]
    assert [r.error.classification if r.error else None for r in results] == [
        None,
        "invalid",
        "invalid",
        "not_found",
        None,
        None,
        None,
    ]
    assert results[1].error is not None and results[1].error.fields == ("name",)
    assert results[2].error is not None and results[2].error.fields == ("bogus_column",)
    assert results[6].created and results[6].id


async def test_an_alternate_key_taken_by_another_row_is_a_duplicate(connector: DynamicsConnector) -> None:
    _, second = await connector.apply("account", [_create("k-1", name="One"), _create("k-2", name="Two")])
    assert second.id
    [clash] = await connector.apply("account", [WriteOp("update", "k-2", id=second.id, fields={EXTERNAL_ID: "k-1"})])
    assert not clash.ok
    assert clash.error is not None and clash.error.classification == "duplicate"


async def test_links_are_written_read_and_cleared(connector: DynamicsConnector) -> None:
    company, other = await connector.apply("account", [_create("co-1", name="Co"), _create("co-2", name="Other")])
    assert company.id and other.id
    [person] = await connector.apply(
        "contact",
        [
            WriteOp(
                "create",
                "p-1",
                fields={"lastname": "P"},
                external_id=(EXTERNAL_ID, "p-1"),
                links={"company": company.id},
            )
        ],
    )
    assert person.id
    assert (await _one(connector, "contact", person.id)).links == {"company": (company.id,)}
    [deal] = await connector.apply(
        "opportunity",
        [
            WriteOp(
                "create",
                "d-1",
                fields={"name": "D"},
                external_id=(EXTERNAL_ID, "d-1"),
                links={"company": other.id, "contact": person.id},
            )
        ],
    )
    assert deal.id
    assert (await _one(connector, "opportunity", deal.id)).links == {"company": (other.id,), "contact": (person.id,)}
    [task] = await connector.apply(
        "task",
        [
            WriteOp(
                "create",
                "t-1",
                fields={"subject": "T"},
                external_id=(EXTERNAL_ID, "t-1"),
                links={"contact": person.id, "deal": deal.id},
            )
        ],
    )
    assert task.id
    assert (await _one(connector, "task", task.id)).links == {"deal": (deal.id,)}  # one regarding: the deal wins
    [note] = await connector.apply(
        "annotation",
        [
            WriteOp(
                "create",
                "n-1",
                fields={"subject": "N"},
                external_id=(EXTERNAL_ID, "n-1"),
                links={"company": company.id},
            )
        ],
    )
    assert note.id
    assert (await _one(connector, "annotation", note.id)).links == {"company": (company.id,)}
    cleared = await connector.apply("contact", [WriteOp("update", "p-1", id=person.id, links={"company": None})])
    cleared += await connector.apply(
        "task", [WriteOp("upsert", "t-1", external_id=(EXTERNAL_ID, "t-1"), links={"deal": None})]
    )
    cleared += await connector.apply(
        "opportunity", [WriteOp("update", "d-1", id=deal.id, fields={"name": "D2"}, links={"contact": None})]
    )
    assert all(r.ok for r in cleared), cleared
    assert (await _one(connector, "contact", person.id)).links == {}
    assert (await _one(connector, "task", task.id)).links == {}
    assert (await _one(connector, "opportunity", deal.id)).links == {"company": (other.id,)}


async def test_unsupported_link_roles_fail_only_their_op(connector: DynamicsConnector) -> None:
    results = await connector.apply(
        "contact",
        [
            WriteOp(
                "create",
                "x-1",
                fields={"lastname": "X"},
                external_id=(EXTERNAL_ID, "x-1"),
                links={"deal": "0d15ea5e-0000-4000-8000-000000000001"},
            ),
            _create("x-2", lastname="Y"),
        ],
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].error is not None and "deal" in results[0].error.message


async def test_closing_an_opportunity_goes_through_win_and_lose(connector: DynamicsConnector) -> None:
    won, lost = await connector.apply(
        "opportunity",
        [
            _create("o-won", name="Won deal", estimatedvalue=1000, statecode=1, statuscode=3),
            _create("o-lost", name="Lost deal", statuscode=5),
        ],
    )
    assert won.ok and lost.ok and won.id and lost.id, (won, lost)
    won_row = await _one(connector, "opportunity", won.id)
    lost_row = await _one(connector, "opportunity", lost.id)
    assert (won_row.fields["statecode"], won_row.fields["statuscode"]) == (1, 3)
    assert (lost_row.fields["statecode"], lost_row.fields["statuscode"]) == (2, 5)
    [reopened] = await connector.apply(
        "opportunity", [WriteOp("update", "o-lost", id=lost.id, fields={"statecode": 0})]
    )
    assert reopened.ok
    assert (await _one(connector, "opportunity", lost.id)).fields["statecode"] == 0


async def test_parts_failing_with_503_are_resent_when_safe(
    connector: DynamicsConnector, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    await control(
        client, "PUT", "faults", {"rules": [{"kind": "partial_batch", "path": "batch", "fail_share": 0.5, "times": 1}]}
    )
    ops = [_create(f"r-{i}", lastname=f"L{i}") for i in range(10)]
    ops.insert(1, WriteOp("create", "nokey", fields={"lastname": "N"}))  # part 2: the fault fails every other part
    results = await connector.apply("contact", ops)
    unkeyed = results.pop(1)
    assert all(r.ok for r in results), results
    assert sleeps.calls  # the resend waited (injected sleep, no real time)
    assert await _batch_calls(client) == 2
    # A POST create without a key is never resent blindly: it may have happened.
    assert not unkeyed.ok and unkeyed.error is not None and unkeyed.error.classification == "retryable"


async def test_a_batch_dropped_after_sending_resends_its_keyed_parts_but_not_a_keyless_create(
    connector: DynamicsConnector, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    # The connection is lost once the $batch was sent: the keyless POST may have created its record (here the
    # emulator dropped it before applying it, which the client cannot know), so it is not sent again.
    await control(client, "PUT", "faults", {"rules": [{"kind": "drop", "path": "batch", "times": 1}]})
    keyed, keyless = await connector.apply(
        "contact", [_create("drop-1", lastname="Keyed"), WriteOp("create", "nokey", fields={"lastname": "Keyless"})]
    )
    assert keyed.ok and keyed.created
    assert not keyless.ok and keyless.error is not None
    assert (keyless.error.classification, keyless.error.code) == ("fatal", "UNKNOWN_OUTCOME")
    assert "may have been applied" in keyless.error.message
    assert await _batch_calls(client) == 2  # the dropped one, then the keyed part alone
    counts = (await client.get("/_emulator")).json()["counts"]
    assert counts["contact"] == 1  # the keyless create was not sent twice (nor, here, applied at all)


async def test_a_failed_part_is_the_records_error_and_a_failed_batch_the_calls(
    connector: DynamicsConnector, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    """The engine tells a CRM that is down from records it could not write by this scope: both are retryable."""
    [made] = await connector.apply("contact", [_create("s-1", lastname="Scoped")])
    assert made.ok and made.id
    update = WriteOp("update", "s-1", id=made.id, fields={"firstname": "Part"})
    # Dataverse answers the $batch, and every part of it (one here) with a transient 503, resends included.
    plan = {"rules": [{"kind": "partial_batch", "path": "batch", "fail_share": 1}]}
    await control(client, "PUT", "faults", plan)
    [failed] = await connector.apply("contact", [update])
    assert sleeps.calls  # the part was resent before it was reported
    assert failed.error is not None and not failed.ok
    assert (failed.error.classification, failed.error.scope) == ("retryable", "record")
    await control(client, "PUT", "faults", {"rules": [{"kind": "status", "status": 503, "path": "batch"}]})
    [down] = await connector.apply("contact", [update])
    assert down.error is not None and (down.error.classification, down.error.scope) == ("retryable", "call")
    await control(client, "PUT", "faults", {"rules": []})
    [landed] = await connector.apply("contact", [update])
    assert landed.ok


async def test_full_batches_use_the_minimum_number_of_calls(
    connector: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    ops = [_create(f"bulk-{i}", name=f"Bulk {i}") for i in range(2500)]
    results = await connector.apply("account", ops)
    assert all(r.ok and r.created for r in results)
    assert await _batch_calls(client) == 3  # ceil(2500 / 1000)
