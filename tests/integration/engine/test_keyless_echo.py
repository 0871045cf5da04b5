"""A record with no match key, read from a CRM that keeps no crmsync id while crmsync writes to it, may be crmsync's
own create whose webhook arrived before the create was recorded: it is read again shortly, not made everywhere."""

from __future__ import annotations

from typing import Any

from crmsync.engine.outbox import refetch_job, refetch_kind, write_job
from crmsync.store import NewJob
from tests.integration.engine.conftest import CrmFactory

PLAIN: dict[str, dict[str, Any]] = {"salesforce": {"external_id_fields": {}}}


async def test_a_keyless_record_read_while_a_write_to_its_crm_is_in_flight_is_read_again_later(
    crm_factory: CrmFactory,
) -> None:
    crm = await crm_factory(connections=PLAIN)
    await crm.sync()  # every CRM read once
    async with crm.store.begin() as tx:  # another worker is writing to Salesforce's contacts, not settled yet
        await tx.jobs.enqueue_many([write_job("contact", "c-elsewhere", "salesforce")])
        assert len(await tx.jobs.claim("sync:elsewhere:1:w", ["write:contact:salesforce"])) == 1
    echo = await crm.sb.salesforce.create("contact", {"FirstName": "Ada", "LastName": "Echo"})  # no email
    hint = refetch_job("contact", "salesforce", crm.sb.objects["salesforce"]["contact"], echo, reason="webhook")
    async with crm.store.begin() as tx:
        await tx.jobs.enqueue_many([NewJob(hint.key, hint.kind, hint.payload, priority=10)])

    await crm.sync(read=False, shared=True)
    assert await crm.canonical("contact", "salesforce", echo) is None  # no new canonical record for it
    assert await crm.sb.hubspot.find("contact", "lastname", "Echo") == []
    assert await crm.sb.dynamics.find("contact", "lastname", "Echo") == []
    async with crm.store.read() as tx:
        [later] = await tx.jobs.list("pending", kind=refetch_kind("contact", "salesforce"))
    assert later.key == hint.key and later.run_after > later.created_at  # read again once the write settled
