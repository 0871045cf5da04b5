"""Scenarios S11–S13: deletes, the mass-delete breaker and delete versus edit, through the engine."""

from __future__ import annotations

import pytest

from crmsync.engine.reentry import REENTRY_RESOLVER
from crmsync.engine.resolution import resolve
from crmsync.engine.tombstones import DELETE_RESOLVER, DELETED_FIELD
from crmsync.engine.views.common import NotFoundError
from crmsync.engine.views.explain import Deletion, explain_record
from crmsync.store import Conflict, SyncError
from tests.integration.engine.conftest import Crm, CrmFactory
from tests.integration.engine.scenario_helpers import EMAIL, audit_entries, stored_record

ARCHIVED_IN_HUBSPOT = """
contact:
  delete: {policy: archive, archive_field: description, archive_value: Deleted in HubSpot}
"""
"""A contact's description is mapped in Salesforce and Dataverse: a delete in HubSpot archives it in both."""


async def _everywhere(crm: Crm) -> tuple[str, str, str]:
    """A contact created in HubSpot and synced: its ids in Salesforce, HubSpot and Dataverse."""
    hs = await crm.sb.hubspot.create(
        "contact", {"firstname": "Grace", "lastname": "Hopper", "email": EMAIL, "jobtitle": "Admiral"}
    )
    await crm.sync()
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    return sf, hs, dv


async def test_s11_delete_propagates_everywhere_and_audit_keeps_last_values(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "dynamics", dv)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    report = await crm.sync()
    assert report.total("delete_propagated") == 1
    assert {(w.connection, w.operation, w.remote_id) for w in report.plan} == {
        ("salesforce", "delete", sf),
        ("hubspot", "delete", hs),
    }
    assert await crm.sb.salesforce.get("contact", sf) is None
    assert await crm.sb.hubspot.get("contact", hs) is None
    for connection in ("salesforce", "hubspot", "dynamics"):
        assert await crm.remote(canonical, connection) is None
    # The golden record is kept, marked deleted, with its last values; the audit says who deleted it and why.
    stored = await stored_record(crm, canonical)
    assert stored.deleted
    assert (stored.record.fields["last_name"], stored.record.fields["email"]) == ("Hopper", EMAIL)
    (entry,) = await audit_entries(crm, canonical, DELETED_FIELD)
    assert (entry.connection, entry.reason, entry.new) == ("dynamics", "propagate", True)
    # Nothing comes back, and nothing more is written.
    again = await crm.sync()
    assert again.total("created") + again.total("updated") + again.total("deleted") == 0
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        assert await user.count("contact") == 0


async def test_s11_delete_with_ignore_keeps_the_others_and_never_recreates(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {policy: ignore}}")
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "dynamics", dv)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    report = await crm.sync()
    assert report.total("delete_ignored") == 1 and report.total("deleted") == 0
    assert await crm.sb.salesforce.get("contact", sf) is not None
    assert await crm.sb.hubspot.get("contact", hs) is not None
    assert await crm.remote(canonical, "dynamics") is None
    (entry,) = await audit_entries(crm, canonical, DELETED_FIELD)
    assert (entry.connection, entry.reason) == ("dynamics", "ignore")
    # The record lives on elsewhere: edits still flow, but it is not created again where a person deleted it.
    await crm.sb.salesforce.update("contact", sf, {"Title": "Commodore"})
    await crm.sync()
    hs_row = await crm.sb.hubspot.get("contact", hs)
    assert hs_row is not None and hs_row["jobtitle"] == "Commodore"
    assert await crm.sb.dynamics.count("contact") == 0
    assert not (await stored_record(crm, canonical)).deleted


async def test_s11_delete_with_archive_sets_the_configured_field_elsewhere(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml=ARCHIVED_IN_HUBSPOT)
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    await crm.sb.hubspot.delete("contact", hs)
    report = await crm.sync()
    assert report.total("delete_archived") == 1 and report.total("deleted") == 0
    sf_row = await crm.sb.salesforce.get("contact", sf)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and sf_row["Description"] == "Deleted in HubSpot"
    assert dv_row is not None and dv_row["description"] == "Deleted in HubSpot"
    assert (sf_row["LastName"], dv_row["lastname"]) == ("Hopper", "Hopper")
    assert {name for w in report.plan for name, _, _ in w.changes} == {"description"}
    (entry,) = await audit_entries(crm, canonical, "description")
    assert (entry.old, entry.new, entry.connection, entry.reason) == (None, "Deleted in HubSpot", "hubspot", "archive")
    # HubSpot is not given the record back, and the archive causes no further writes.
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0
    assert await crm.sb.hubspot.count("contact") == 0
    assert await crm.remote(canonical, "hubspot") is None


async def test_s12_mass_delete_is_held_with_an_alert_until_allowed(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {mass_delete: {share: 0.2, min: 2}}}")
    people = [f"person{n}@example.com" for n in range(5)]
    for n, email in enumerate(people):
        await crm.sb.hubspot.create("contact", {"lastname": f"Person{n}", "email": email})
    await crm.sync()
    doomed = [str((await crm.sb.dynamics.find("contact", "emailaddress1", e))[0]["contactid"]) for e in people[:3]]
    canonicals = [await crm.canonical("contact", "dynamics", dv) for dv in doomed]
    for dv in doomed:
        await crm.sb.dynamics.delete("contact", dv)

    held = await crm.sync()
    assert held.total("delete_held") == 3 and held.total("deleted") == 0
    (alert,) = held.notes
    assert held.alerts == [alert]
    assert alert.startswith("ALERT contact: 3 deletes of 5 records") and "--allow-mass-delete" in alert
    assert "(more than 20% of them and at least 2)" in alert
    assert await crm.sb.salesforce.count("contact") == 5
    assert await crm.sb.hubspot.count("contact") == 5
    # It keeps waiting: a plain run deletes nothing and alerts again.
    still = await crm.sync()
    assert still.total("delete_held") == 3 and still.total("deleted") == 0 and len(still.notes) == 1

    released = await crm.sync(allow_mass_delete=True)
    assert released.notes == []
    assert released.total("delete_propagated") == 3
    assert await crm.sb.salesforce.count("contact") == 2
    assert await crm.sb.hubspot.count("contact") == 2
    for canonical in canonicals:
        assert canonical is not None and (await stored_record(crm, canonical)).deleted
        assert await crm.remote(canonical, "salesforce") is None
    survivors = await crm.sb.salesforce.query("SELECT Email FROM Contact ORDER BY Email")
    assert [row["Email"] for row in survivors] == people[3:]


async def test_s12_deletes_below_the_breaker_are_not_held(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {mass_delete: {share: 0.2, min: 2}}}")
    people = [f"person{n}@example.com" for n in range(5)]
    for n, email in enumerate(people):
        await crm.sb.hubspot.create("contact", {"lastname": f"Person{n}", "email": email})
    await crm.sync()
    (row,) = await crm.sb.dynamics.find("contact", "emailaddress1", people[0])
    await crm.sb.dynamics.delete("contact", str(row["contactid"]))
    report = await crm.sync()
    assert report.notes == [] and report.total("delete_propagated") == 1
    assert await crm.sb.salesforce.count("contact") == 4


async def test_s13_delete_vs_edit_parks_by_default_and_deletes_nothing(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    report = await crm.sync()
    assert report.total("delete_parked") == 1 and report.total("deleted") == 0
    (conflict,) = await crm.conflicts()
    assert (conflict.canonical_id, conflict.field) == (canonical, DELETED_FIELD)
    assert {(s.connection, s.value) for s in conflict.sides} == {("dynamics", True), ("salesforce", False)}
    assert await crm.sb.salesforce.get("contact", sf) is not None
    assert await crm.sb.hubspot.get("contact", hs) is not None
    assert await crm.sb.dynamics.count("contact") == 0  # not recreated while a person decides
    assert not (await stored_record(crm, canonical)).deleted
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("deleted") == 0 and len(await crm.conflicts()) == 1
    # Keeping the record brings it back where it was deleted, linked.
    await resolve(crm.store, crm.config, conflict.id, choice_connection="salesforce", by="test")
    await crm.sync()
    assert await crm.conflicts() == []
    (row,) = await crm.sb.dynamics.find("contact", "emailaddress1", EMAIL)
    assert row["jobtitle"] == "Rear Admiral"
    assert await crm.remote(canonical, "dynamics") == row["contactid"]


async def test_s13_deleted_in_two_crms_and_kept_by_a_person_comes_back_in_both(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    await crm.sb.hubspot.delete("contact", hs)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    report = await crm.sync()
    assert report.total("delete_parked") == 2
    # One decision for the person: both deletes are its sides.
    (conflict,) = await crm.conflicts()
    assert {(s.connection, s.value) for s in conflict.sides} == {
        ("hubspot", True),
        ("dynamics", True),
        ("salesforce", False),
    }
    await resolve(crm.store, crm.config, conflict.id, choice_connection="salesforce", by="test")
    await crm.sync()
    (hs_row,) = await crm.sb.hubspot.find("contact", "email", EMAIL)
    (dv_row,) = await crm.sb.dynamics.find("contact", "emailaddress1", EMAIL)
    assert (hs_row["jobtitle"], dv_row["jobtitle"]) == ("Rear Admiral", "Rear Admiral")
    assert await crm.remote(canonical, "hubspot") == hs_row["id"]
    assert await crm.remote(canonical, "dynamics") == dv_row["contactid"]


async def test_s13_a_person_deleting_everywhere_closes_the_records_other_conflicts(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {policy: manual}}}")
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Commodore"})
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Rear Admiral"})
    await crm.sync()
    parked = {c.field: c for c in await crm.conflicts()}
    assert set(parked) == {DELETED_FIELD, "title"}
    await resolve(crm.store, crm.config, parked[DELETED_FIELD].id, choice_connection="dynamics", by="test")
    # Deleted everywhere: no title is left to choose.
    assert await crm.conflicts() == []
    async with crm.store.read() as tx:
        title = await tx.conflicts.get(parked["title"].id)
    assert title is not None and title.resolved_by == DELETE_RESOLVER
    await crm.sync()
    assert await crm.sb.salesforce.get("contact", sf) is None and await crm.sb.hubspot.get("contact", hs) is None


async def _entered_again(crm: Crm, *, dynamics_too: bool) -> tuple[str, str, str, Conflict, str]:
    """A contact deleted in HubSpot (and Dataverse) while edited in Salesforce, parked for a person; meanwhile
    someone enters it in HubSpot again, and a sync matches it to the same person.

    Returns the Salesforce and Dataverse ids, the canonical id, the parked conflict and the new HubSpot id.
    """
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    await crm.sb.hubspot.delete("contact", hs)
    if dynamics_too:
        await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    await crm.sync()
    (conflict,) = await crm.conflicts()
    again = await crm.sb.hubspot.create("contact", {"lastname": "Hopper", "email": EMAIL})
    await crm.sync()
    assert await crm.canonical("contact", "hubspot", again) == canonical
    return sf, dv, canonical, conflict, again


async def test_s13_a_contact_entered_again_where_it_was_deleted_settles_the_delete_and_syncs_there(crm: Crm) -> None:
    _, _, canonical, conflict, again = await _entered_again(crm, dynamics_too=False)
    # The same person is back in HubSpot.
    assert await crm.conflicts() == []  # nothing is left to decide: HubSpot has the person again
    async with crm.store.read() as tx:
        settled = await tx.conflicts.get(conflict.id)
    assert settled is not None and settled.resolved_by == REENTRY_RESOLVER
    row = await crm.sb.hubspot.get("contact", again)
    assert row is not None and row["jobtitle"] == "Rear Admiral"  # synced there like anywhere else
    (entry,) = [e for e in await audit_entries(crm, canonical, DELETED_FIELD) if e.reason == "entered again"]
    assert (entry.old, entry.new, entry.connection) == (True, False, "hubspot")
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("updated") + quiet.total("deleted") == 0
    assert await crm.sb.hubspot.count("contact") == 1


async def test_s13_deleting_everywhere_reaches_a_record_linked_since_the_delete(crm: Crm) -> None:
    sf, _, _, conflict, again = await _entered_again(crm, dynamics_too=True)
    # Dataverse's delete is still for a person to decide; HubSpot's is moot.
    (open_now,) = await crm.conflicts()
    assert open_now.id == conflict.id
    assert {(s.connection, s.value) for s in open_now.sides} == {("dynamics", True), ("salesforce", False)}
    await resolve(crm.store, crm.config, conflict.id, choice_connection="dynamics", by="test")
    await crm.sync()
    # Deleted everywhere means every record of the person, the one entered since too.
    assert await crm.sb.hubspot.get("contact", again) is None
    assert await crm.sb.salesforce.get("contact", sf) is None and await crm.sb.dynamics.count("contact") == 0


async def test_s11_a_contact_entered_again_after_an_ignored_delete_syncs_there(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {policy: ignore}}")
    sf, _hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "dynamics", dv)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    # Not created again where a person deleted it, but entered there again by a person, it is synced there.
    again = await crm.sb.dynamics.create("contact", {"lastname": "Hopper", "emailaddress1": EMAIL})
    await crm.sync()
    assert await crm.canonical("contact", "dynamics", again) == canonical
    await crm.sb.salesforce.update("contact", sf, {"Title": "Commodore"})
    await crm.sync()
    row = await crm.sb.dynamics.get("contact", again)
    assert row is not None and row["jobtitle"] == "Commodore"
    assert await crm.sb.dynamics.count("contact") == 1


async def test_s13_delete_vs_edit_delete_wins_deletes_everywhere(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {on_edit: delete_wins}}")
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    report = await crm.sync()
    assert report.total("delete_propagated") == 1
    assert await crm.sb.salesforce.get("contact", sf) is None
    assert await crm.sb.hubspot.get("contact", hs) is None
    assert await crm.conflicts() == []
    (entry,) = await audit_entries(crm, canonical, DELETED_FIELD)
    assert (entry.connection, entry.reason) == ("dynamics", "delete_wins")


async def test_s13_delete_vs_edit_edit_wins_recreates_and_relinks(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {on_edit: edit_wins}}")
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    report = await crm.sync()
    assert report.total("delete_recreated") == 1 and report.total("deleted") == 0
    assert await crm.conflicts() == []
    (row,) = await crm.sb.dynamics.find("contact", "emailaddress1", EMAIL)
    assert row["contactid"] != dv and (row["lastname"], row["jobtitle"]) == ("Hopper", "Rear Admiral")
    assert row["new_crmsyncid"] == canonical
    assert await crm.remote(canonical, "dynamics") == row["contactid"]
    hs_row = await crm.sb.hubspot.get("contact", hs)
    assert hs_row is not None and hs_row["jobtitle"] == "Rear Admiral"
    again = await crm.sync()
    assert again.total("created") + again.total("updated") + again.total("deleted") == 0


def _about(errors: list[SyncError], connection: str, remote_id: str) -> list[tuple[str, str | None]]:
    return sorted(
        (e.report.operation, e.report.field)
        for e in errors
        if (e.report.connection, e.report.remote_id) == (connection, remote_id)
    )


async def test_s11_a_deleted_contacts_sync_errors_go_with_it(crm: Crm) -> None:
    sf = await crm.sb.salesforce.create(
        "contact", {"LastName": "Hopper", "Email": EMAIL, "LeadSource": "Webinar", "Phone": "ask"}
    )
    await crm.sync()
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    assert _about(await crm.errors(), "salesforce", sf) == [("read", "lead_source"), ("read", "phone")]
    dv = await crm.twin("contact", "salesforce", sf, "dynamics")
    await crm.sb.dynamics.delete("contact", dv)
    report = await crm.sync()
    assert report.total("delete_propagated") == 1 and await crm.sb.salesforce.get("contact", sf) is None
    # Nothing is left to fix about a record deleted everywhere.
    assert await crm.errors() == []


async def test_s11_a_contact_deleted_where_it_was_read_takes_its_refused_creates_along(crm: Crm) -> None:
    hs = await crm.sb.hubspot.create("contact", {"firstname": "Ada", "email": EMAIL, "phone": "ask"})
    await crm.sync()
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    # No last name: Salesforce and Dataverse refuse it; HubSpot's phone cannot be read.
    assert sorted((e.report.connection, e.report.operation) for e in await crm.errors()) == [
        ("dynamics", "create"),
        ("hubspot", "read"),
        ("salesforce", "create"),
    ]
    await crm.sb.hubspot.delete("contact", hs)
    report = await crm.sync()
    assert report.total("delete_propagated") == 1
    assert await crm.errors() == []


async def test_s11_a_contact_deleted_everywhere_leaves_no_open_conflict(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {policy: manual}}, delete: {on_edit: delete_wins}}")
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Commodore"})
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Rear Admiral"})
    await crm.sync()
    (parked,) = await crm.conflicts()
    await crm.sb.dynamics.delete("contact", dv)
    report = await crm.sync()
    assert report.total("delete_propagated") == 1
    # Nobody is asked to choose a title for a person deleted everywhere; the audit says why it closed.
    assert await crm.conflicts() == []
    async with crm.store.read() as tx:
        closed = await tx.conflicts.get(parked.id)
    assert closed is not None and closed.resolved and closed.resolved_by == DELETE_RESOLVER


async def test_s11_a_contact_entered_again_after_an_archived_delete_clears_the_archive_mark(
    crm_factory: CrmFactory,
) -> None:
    crm = await crm_factory(objects_yaml=ARCHIVED_IN_HUBSPOT)
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    await crm.sb.salesforce.update("contact", sf, {"Description": "Met at the summit"})
    await crm.sync()
    await crm.sb.hubspot.delete("contact", hs)
    await crm.sync()
    sf_row = await crm.sb.salesforce.get("contact", sf)
    assert sf_row is not None and sf_row["Description"] == "Deleted in HubSpot"
    # A person enters them in HubSpot again: the mark the delete left elsewhere goes, and the value it covered is back.
    again = await _entered_again_in_hubspot(crm)
    report = await crm.sync()
    assert await crm.canonical("contact", "hubspot", again) == canonical
    sf_row = await crm.sb.salesforce.get("contact", sf)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and sf_row["Description"] == "Met at the summit"
    assert dv_row is not None and dv_row["description"] == "Met at the summit"
    assert {name for w in report.plan for name, _, _ in w.changes if w.connection != "hubspot"} == {"description"}
    entry = (await audit_entries(crm, canonical, "description"))[-1]
    assert (entry.old, entry.new, entry.connection, entry.reason) == (
        "Deleted in HubSpot",
        "Met at the summit",
        "hubspot",
        "entered again",
    )
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("updated") + quiet.total("deleted") == 0


async def test_s11_a_person_s_own_value_over_the_archive_mark_stays_when_they_are_entered_again(
    crm_factory: CrmFactory,
) -> None:
    crm = await crm_factory(objects_yaml=ARCHIVED_IN_HUBSPOT)
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.hubspot.delete("contact", hs)
    await crm.sync()
    await crm.sb.dynamics.update("contact", dv, {"description": "Moved to the Lisbon office"})
    await crm.sync()
    again = await _entered_again_in_hubspot(crm)
    await crm.sync()
    assert await crm.canonical("contact", "hubspot", again) is not None
    sf_row = await crm.sb.salesforce.get("contact", sf)
    assert sf_row is not None and sf_row["Description"] == "Moved to the Lisbon office"


async def _entered_again_in_hubspot(crm: Crm) -> str:
    """The person of `_everywhere`, entered in HubSpot again by a person (after a delete there)."""
    return await crm.sb.hubspot.create("contact", {"firstname": "Grace", "lastname": "Hopper", "email": EMAIL})


async def test_s11_explain_finds_a_record_deleted_everywhere_by_any_id_it_had(crm: Crm) -> None:
    """The delete unlinks every copy; `explain` given one of their ids says the record was deleted, when and where."""
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "dynamics", dv)
    assert canonical is not None
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    (deleted,) = await audit_entries(crm, canonical, DELETED_FIELD)
    for ident in (canonical, sf, sf[:15], hs, dv):
        explanation = await explain_record(crm.store, crm.config, "contact", ident)
        assert (explanation.canonical_id, explanation.deleted, explanation.links) == (canonical, True, ()), ident
        assert explanation.deletion == Deletion("dynamics", "propagate", deleted.at), ident
        assert {(f.connection, f.remote_id) for f in explanation.former_ids} == {
            ("salesforce", sf),
            ("hubspot", hs),
            ("dynamics", dv),
        }
    with pytest.raises(NotFoundError, match=f"no contact with canonical or remote id '{hs[:-1]}'"):
        await explain_record(crm.store, crm.config, "contact", hs[:-1])  # a prefix of a former id is not that id
    with pytest.raises(NotFoundError, match="is a contact"):
        await explain_record(crm.store, crm.config, "company", canonical)
