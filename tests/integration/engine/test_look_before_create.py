"""A person typed into HubSpot and, before crmsync's create reaches Salesforce, into Salesforce too (their Salesforce
notification not read yet): crmsync looks the person up by email before creating, meets their own record there and
links it, instead of creating a second Salesforce contact for an operator to merge. A first sync, which read every
record there already, looks nothing up.

The interleaving is forced: the person is typed into Salesforce once the create to Salesforce is planned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from crmsync.connectors.base import RemoteRecord, WriteError, WriteOp, WriteResult
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.engine import deliver as deliver_module
from crmsync.engine import look_first as look_first_module
from crmsync.engine.delivery_types import Planned
from crmsync.engine.look_first import SYNCED_AS_ANOTHER
from crmsync.engine.merges import DUPLICATE
from crmsync.errors import InvalidRecordError
from tests.integration.engine.both_backends import crm_on_either, either_database, queue_hint  # noqa: F401
from tests.integration.engine.conftest import Crm
from tests.integration.store.conftest import postgres_url  # noqa: F401  (the session's PostgreSQL database)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """(vendor, the values asked for) of each look-up in Salesforce and Dataverse."""
    asked: list[tuple[str, list[str]]] = []
    for cls in (SalesforceConnector, DynamicsConnector):
        real = cls.find_by

        async def find_by(
            self: Any, object: str, field: str, values: Sequence[str], *, real: Any = real, **kw: Any
        ) -> list[RemoteRecord]:
            asked.append((self.vendor, sorted(values)))
            return cast(list[RemoteRecord], await real(self, object, field, values, **kw))

        monkeypatch.setattr(cls, "find_by", find_by)
    return asked


@pytest.mark.usefixtures("database")  # set up first, outside the event loop the async fixtures run in
async def test_a_person_typed_into_salesforce_before_the_create_lands_is_met_not_created_twice(
    crm: Crm, monkeypatch: pytest.MonkeyPatch, lookups: list[tuple[str, list[str]]]
) -> None:
    await crm.sync()  # every CRM read once
    email = "typed.after@look.example"
    hubspot = await crm.sb.hubspot.create("contact", {"firstname": "Ann", "lastname": "Later", "email": email})
    await queue_hint(crm, "hubspot", hubspot)
    own: list[str] = []
    real_plan = deliver_module._plan

    async def plan(ctx: Any, tx: Any, kind: Any, connection: str, jobs: Any, **kw: Any) -> list[Planned]:
        planned = await real_plan(ctx, tx, kind, connection, jobs, **kw)
        creates = [p for p in planned if p.op is not None and p.op.kind in ("create", "upsert")]
        if connection == "salesforce" and creates and not own:
            # The person is typed into Salesforce (another case, a title) as crmsync is about to create them there;
            # its notification is not read yet.
            fields = {"FirstName": "Ann", "LastName": "Later", "Email": "Typed.After@Look.example", "Title": "CTO"}
            own.append(await crm.sb.salesforce.create("contact", fields))
        return planned

    monkeypatch.setattr(deliver_module, "_plan", plan)
    report = await crm.sync(read=False, shared=True)  # a pass of hints (`crmsync serve` after the HubSpot webhook)
    monkeypatch.undo()

    assert own, "the create to Salesforce was never planned"
    assert [r["Id"] for r in await crm.sb.salesforce.find("contact", "Email", email)] == own  # ONE contact
    assert report.total("create_met") == 1
    canonical = await crm.canonical("contact", "hubspot", hubspot)
    assert canonical is not None
    async with crm.store.read() as tx:
        assert [lk.remote_id for lk in await tx.links.remote_links(canonical, "salesforce")] == own
    assert not [e for e in await crm.errors() if e.report.code == DUPLICATE]
    assert (await crm.golden(canonical)).get("title") == "CTO"  # met as a first meeting: the two merged

    await crm.sync(read=False, shared=True)  # what the meeting queued for the other CRMs goes out
    [in_hubspot] = await crm.sb.hubspot.find("contact", "email", email)
    assert in_hubspot["jobtitle"] == "CTO"
    quiet = await crm.sync()  # converged: nothing more to write anywhere (no ping-pong)
    assert quiet.total("created") + quiet.total("updated") == 0
    assert len(await crm.sb.salesforce.find("contact", "Email", email)) == 1


async def test_a_full_sync_looks_nothing_up_and_an_incremental_one_looks_once_per_round(
    crm: Crm, lookups: list[tuple[str, list[str]]]
) -> None:
    first = await crm.sb.hubspot.create("contact", {"lastname": "First", "email": "first@look.example"})
    await crm.sync(full=True)  # every CRM read in full: the look-ups would find nothing the reads did not meet
    assert lookups == []
    assert await crm.twin("contact", "hubspot", first, "salesforce")

    emails = [f"new{n}@look.example" for n in range(3)]
    for n, email in enumerate(emails):
        await crm.sb.hubspot.create("contact", {"lastname": f"New{n}", "email": email})
    await crm.sync()  # incremental: the round's three creates, in one look-up per CRM
    assert sorted(lookups) == [("dynamics", emails), ("salesforce", emails)]
    for email in emails:
        assert len(await crm.sb.salesforce.find("contact", "Email", email)) == 1


async def test_a_first_sync_looks_up_only_where_the_create_was_planned_after_the_read_of_everything(
    crm: Crm, lookups: list[tuple[str, list[str]]]
) -> None:
    await crm.sb.hubspot.create("contact", {"lastname": "First", "email": "first@look.example"})
    await crm.sync()  # reads Salesforce, then HubSpot (planning the creates), then Dataverse
    assert lookups == [("salesforce", ["first@look.example"])]  # Dataverse's read came after: it met everyone
    assert len(await crm.sb.dynamics.find("contact", "emailaddress1", "first@look.example")) == 1


async def test_a_person_found_synced_as_another_record_is_not_created_beside_it_and_said_so(
    crm: Crm, monkeypatch: pytest.MonkeyPatch, lookups: list[tuple[str, list[str]]]
) -> None:
    taken = await crm.sb.salesforce.create("contact", {"LastName": "Taken", "Email": "taken@look.example"})
    await crm.sync()
    assert await crm.canonical("contact", "salesforce", taken) is not None
    other = await crm.sb.dynamics.create("contact", {"lastname": "Other", "emailaddress1": "other@look.example"})
    real_apply = SalesforceConnector.apply

    async def refuse_creates(self: SalesforceConnector, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if any(op.kind in ("create", "upsert") for op in ops):  # Salesforce refuses this person (a validation rule)
            error = WriteError("invalid", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "refused", scope="record")
            return [WriteResult(op.ref, False, error=error) for op in ops]
        return await real_apply(self, object, ops)

    monkeypatch.setattr(SalesforceConnector, "apply", refuse_creates)
    await crm.sync()
    monkeypatch.setattr(SalesforceConnector, "apply", real_apply)
    mine = await crm.canonical("contact", "dynamics", other)
    assert mine is not None and await crm.remote(mine, "salesforce") is None

    # Given, in Dataverse, the address of the person Salesforce syncs as another record.
    await crm.sb.dynamics.update("contact", other, {"emailaddress1": "taken@look.example"})
    report = await crm.sync()
    assert ("salesforce", ["taken@look.example"]) in lookups
    assert [r["Id"] for r in await crm.sb.salesforce.find("contact", "Email", "taken@look.example")] == [taken]
    assert report.total("create_met") == 1
    [refused] = [e.report for e in await crm.errors() if e.report.code == SYNCED_AS_ANOTHER]
    assert (refused.connection, refused.canonical_id, refused.operation) == ("salesforce", mine, "create")
    assert taken in refused.message


async def test_a_pass_stopped_after_the_found_record_is_stored_neither_creates_nor_loses_the_person(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up only reads; what it found is stored in one transaction. Stopped right after that (the create's
    job still claimed), the next pass plans the job again and finds the person linked: no create, no loss."""
    await crm.sync()
    email = "stopped.between@look.example"
    hubspot = await crm.sb.hubspot.create("contact", {"lastname": "Between", "email": email})
    own = await crm.sb.salesforce.create("contact", {"LastName": "Between", "Email": email, "Title": "CFO"})
    await queue_hint(crm, "hubspot", hubspot)  # the Salesforce record's notification is not in yet

    async def stopped(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process stops here")

    monkeypatch.setattr(look_first_module, "_settle_met", stopped)
    with pytest.raises(RuntimeError, match="the process stops here"):
        await crm.sync(read=False, shared=True)
    monkeypatch.undo()
    canonical = await crm.canonical("contact", "hubspot", hubspot)
    assert canonical is not None and await crm.canonical("contact", "salesforce", own) == canonical  # stored

    await crm.sync(read=False, shared=True)  # the next pass
    assert [r["Id"] for r in await crm.sb.salesforce.find("contact", "Email", email)] == [own]
    async with crm.store.read() as tx:
        assert [lk.remote_id for lk in await tx.links.remote_links(canonical, "salesforce")] == [own]
    assert (await crm.golden(canonical)).get("title") == "CFO"
    assert not [e for e in await crm.errors() if e.report.code == DUPLICATE]


async def test_a_look_up_the_crm_refuses_leaves_the_creates_as_they_were(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    await crm.sync()
    email = "refused.question@look.example"
    await crm.sb.hubspot.create("contact", {"lastname": "Asked", "email": email})

    async def refused(self: SalesforceConnector, *args: Any, **kwargs: Any) -> list[RemoteRecord]:
        raise InvalidRecordError("MALFORMED_QUERY: unexpected token")

    monkeypatch.setattr(SalesforceConnector, "find_by", refused)
    report = await crm.sync()
    assert len(await crm.sb.salesforce.find("contact", "Email", email)) == 1  # created, as without a look-up
    assert any("look-up before creating was refused" in note for note in report.notes)
