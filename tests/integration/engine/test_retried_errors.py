"""A refused write that fails again is the same sync error: its id kept, its count and last-seen time moved on.

Operators follow an error by its id (E12) and judge it by how often it failed; a retry that filed a second
failure as a new error, seen once, lost both.
"""

from __future__ import annotations

from crmsync.engine.retrying import retry
from crmsync.store import SyncError
from tests.integration.engine.conftest import Crm

EMAIL = "grace.retried@example.com"


def _creates(errors: list[SyncError]) -> dict[str, SyncError]:
    """The create errors by connection."""
    return {e.report.connection: e for e in errors if e.report.operation == "create"}


async def test_a_write_refused_again_keeps_its_error_id_and_counts_every_failure(crm: Crm) -> None:
    hs = await crm.sb.hubspot.create("contact", {"firstname": "Grace", "email": EMAIL})
    await crm.sync()
    # No last name: Salesforce and Dataverse refuse the create.
    first = _creates(await crm.errors())
    assert sorted(first) == ["dynamics", "salesforce"] and all(e.count == 1 for e in first.values())

    # Changed at the source, not fixed: the write is tried again on its own and refused again.
    await crm.sb.hubspot.update("contact", hs, {"firstname": "Gracie"})
    await crm.sync()
    edited = _creates(await crm.errors())
    assert {c: (e.id, e.count) for c, e in edited.items()} == {c: (e.id, 2) for c, e in first.items()}

    # An operator's retry (CLI or dashboard), not fixed either: refused a third time, still the same error.
    outcome = await retry(crm.store, crm.config, error_ids=[first["salesforce"].id])
    assert [r.id for r in outcome.requeued] == [first["salesforce"].id]
    listed = _creates(await crm.errors())
    assert listed["salesforce"].count == 2  # listed under its id while the retry waits
    await crm.sync()
    retried, sf = _creates(await crm.errors())["salesforce"], first["salesforce"]
    assert (retried.id, retried.count, retried.first_seen) == (sf.id, 3, sf.first_seen)
    assert retried.last_seen > edited["salesforce"].last_seen
    assert retried.report.message == "Required fields are missing: [LastName]"

    # Fixed at the source and retried: the write goes through and the error is gone.
    await crm.sb.hubspot.update("contact", hs, {"lastname": "Hopper"})
    await retry(crm.store, crm.config, everything=True)
    await crm.sync()
    assert _creates(await crm.errors()) == {}
