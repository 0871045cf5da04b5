"""Scenario S14: a CRM's own merge of two records, carried to the others (merged there too, or by the delete policy)."""

from __future__ import annotations

from pathlib import Path

from crmsync.emulators.registry import VENDOR_NAMES
from crmsync.engine.connections import open_connectors
from crmsync.engine.resolution import resolve
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.scratch import scratch_copy
from crmsync.store import Link
from tests.integration.engine.conftest import Crm, CrmFactory
from tests.integration.engine.scenario_helpers import EMAIL, audit_entries, stored_record


async def _links(crm: Crm, canonical_id: str, connection: str) -> list[Link]:
    """The record's links in one connection, survivor (the one crmsync writes to) first."""
    async with crm.store.read() as tx:
        return await tx.links.remote_links(canonical_id, connection)


async def _merged_in_hubspot(crm: Crm) -> tuple[str, tuple[str, str], dict[str, set[str]], set[str | None]]:
    """Two HubSpot contacts synced everywhere, then merged in HubSpot (not synced yet).

    Returns the merged record's new id, the two old ids, each other connection's two counterparts and the
    two canonical ids.
    """
    first = await crm.sb.hubspot.create("contact", {"firstname": "Grace", "lastname": "Hopper", "email": EMAIL})
    second = await crm.sb.hubspot.create(
        "contact", {"lastname": "Hopper", "email": "g.hopper@navy.example", "jobtitle": "Admiral"}
    )
    await crm.sync()
    before = {
        connection: {
            await crm.twin("contact", "hubspot", first, connection),
            await crm.twin("contact", "hubspot", second, connection),
        }
        for connection in ("salesforce", "dynamics")
    }
    canonicals = {await crm.canonical("contact", "hubspot", hs) for hs in (first, second)}
    merged = await crm.sb.hubspot.merge("contact", first, second)
    assert merged not in (first, second)  # HubSpot gives the merged record a new id
    return merged, (first, second), before, canonicals


async def test_s14_merge_in_hubspot_leaves_one_record_everywhere_with_merged_values(crm: Crm) -> None:
    merged, olds, before, canonicals = await _merged_in_hubspot(crm)
    merged_row = await crm.sb.hubspot.get("contact", merged)
    assert merged_row is not None
    report = await crm.sync()
    assert report.total("delete_merged") == 1 and report.total("created") == 0

    kept = await crm.canonical("contact", "hubspot", merged)
    assert kept is not None and kept in canonicals
    (retired,) = canonicals - {kept}
    assert retired is not None
    assert await crm.remote(kept, "hubspot") == merged
    for old in olds:
        assert await crm.canonical("contact", "hubspot", old) is None
    # One record for the person in each other system, linked to the survivor, carrying HubSpot's merged values.
    (sf_row,) = await crm.sb.salesforce.query("SELECT Id, FirstName, LastName, Email, Title FROM Contact")
    assert sf_row["Id"] in before["salesforce"]
    assert (sf_row["FirstName"], sf_row["LastName"], sf_row["Email"], sf_row["Title"]) == (
        merged_row["firstname"],
        merged_row["lastname"],
        merged_row["email"],
        merged_row["jobtitle"],
    )
    assert await crm.remote(kept, "salesforce") == sf_row["Id"]
    (sf_victim,) = before["salesforce"] - {sf_row["Id"]}
    # Salesforce merged it with its own merge (the SOAP API's): the victim is deleted, its children moved.
    assert await crm.sb.salesforce.get("contact", sf_victim) is None
    # Dataverse merged it with its own Merge: the victim stays readable, inactive, pointing at the survivor.
    (dv_victim,) = before["dynamics"] - {await crm.remote(kept, "dynamics")}
    victim_row = await crm.sb.dynamics.get("contact", dv_victim, ["statecode", "merged", "_masterid_value"])
    assert victim_row is not None
    assert (victim_row["statecode"], victim_row["merged"], victim_row["_masterid_value"]) == (
        1,
        True,
        await crm.remote(kept, "dynamics"),
    )
    assert await crm.canonical("contact", "dynamics", dv_victim) is None
    (dv_row,) = await crm.sb.dynamics.find("contact", "lastname", "Hopper")
    assert (dv_row["emailaddress1"], dv_row["jobtitle"]) == (merged_row["email"], merged_row["jobtitle"])
    assert await crm.remote(kept, "dynamics") == dv_row["contactid"]
    for connection in ("salesforce", "hubspot", "dynamics"):
        assert await crm.remote(retired, connection) is None
    # The audit follows the survivor: the retired record points at it, and it records the merge.
    assert [(e.new, e.reason) for e in await audit_entries(crm, retired, "@merged_into")] == [(kept, "vendor merge")]
    assert [e.new for e in await audit_entries(crm, kept, "@merged_from")] == [retired]
    assert (await stored_record(crm, retired)).deleted and not (await stored_record(crm, kept)).deleted
    counterparts = await audit_entries(crm, kept, "@counterpart_merged")
    assert sorted((e.connection, e.old, e.new, e.reason) for e in counterparts) == [
        ("dynamics", dv_victim, dv_row["contactid"], "vendor merge (merged there too)"),
        ("salesforce", sf_victim, sf_row["Id"], "vendor merge (merged there too)"),
    ]
    assert report.total("merged") == 2 and report.total("deleted") == 0
    assert [e for e in await crm.errors() if e.report.code == "DUPLICATE"] == []
    # The merged Dataverse row and Salesforce victim read back as re-points to the survivor: no echo, no second
    # merge, no delete.
    again = await crm.sync()
    assert again.total("created") + again.total("updated") + again.total("deleted") + again.total("merged") == 0
    assert again.total("delete_merged") == 0
    assert (await crm.sb.salesforce.count("contact"), await crm.sb.dynamics.count("contact")) == (1, 1)


async def test_s14_a_value_entered_elsewhere_before_a_hubspot_merge_is_kept_by_the_merged_record(crm: Crm) -> None:
    merged, (_, second), _, _ = await _merged_in_hubspot(crm)
    # Before the merge was synced, someone gave the merged-away contact a phone number in Dataverse: HubSpot's
    # merge never saw it, so nothing chose to drop it.
    dv_second = await crm.twin("contact", "hubspot", second, "dynamics")
    await crm.sb.dynamics.update("contact", dv_second, {"telephone1": "+14155550100"})
    await crm.sync()
    await crm.sync()
    kept = await crm.canonical("contact", "hubspot", merged)
    assert kept is not None
    assert (await stored_record(crm, kept)).record.fields.get("phone") == "+14155550100"
    hs_row = await crm.sb.hubspot.get("contact", merged)
    (sf_row,) = await crm.sb.salesforce.query("SELECT Id, Phone FROM Contact")
    dv_kept = await crm.remote(kept, "dynamics")
    assert dv_kept is not None
    dv_row = await crm.sb.dynamics.get("contact", dv_kept)
    assert hs_row is not None and dv_row is not None
    assert (hs_row["phone"], sf_row["Phone"], dv_row["telephone1"]) == ("+14155550100",) * 3
    # Where the value came from stays on record.
    assert [(e.old, e.new, e.connection) for e in await audit_entries(crm, kept, "phone")] == [
        (None, "+14155550100", "dynamics")
    ]


async def test_s14_one_contact_merged_with_different_people_in_two_crms_makes_one_person_in_one_sync(
    crm: Crm,
) -> None:
    people = {
        name: await crm.sb.salesforce.create("contact", {"LastName": name, "Email": f"{name.lower()}@example.com"})
        for name in ("Lovelace", "Curie", "Hopper")
    }
    await crm.sync()
    twins = {
        name: {vendor: await crm.twin("contact", "salesforce", sf, vendor) for vendor in ("hubspot", "dynamics")}
        for name, sf in people.items()
    }
    # Between two syncs, Dataverse merges Curie into Lovelace while HubSpot merges Lovelace into Hopper: the three
    # are one person. Merging Lovelace's Dataverse record into Hopper's, crmsync must take Curie along.
    await crm.sb.dynamics.merge("contact", twins["Lovelace"]["dynamics"], twins["Curie"]["dynamics"])
    merged = await crm.sb.hubspot.merge("contact", twins["Hopper"]["hubspot"], twins["Lovelace"]["hubspot"])
    await crm.sync()
    live = {vendor: await crm.sb.user(vendor).count("contact") for vendor in ("salesforce", "hubspot", "dynamics")}
    assert live == {"salesforce": 1, "hubspot": 1, "dynamics": 1}
    (hs_row,) = await crm.sb.hubspot.find("contact", "lastname", "Hopper")
    assert str(hs_row["id"]) != merged  # crmsync merged Curie's HubSpot record into it too: a new id
    person = await crm.canonical("contact", "hubspot", str(hs_row["id"]))
    assert person is not None
    for sf in people.values():
        assert await crm.canonical("contact", "salesforce", sf) in (person, None)
    # Nobody's record took another person's values as an edit: only merges joined them.
    edits = [e for e in await audit_entries(crm, person, "email") if e.reason != "vendor merge" and e.old is not None]
    assert edits == []
    again = await crm.sync()
    assert again.total("created") + again.total("updated") + again.total("deleted") + again.total("merged") == 0


async def test_s14_merge_in_hubspot_merges_the_dataverse_counterparts_with_dataverse_merge(crm: Crm) -> None:
    _, _, before, _ = await _merged_in_hubspot(crm)
    await crm.sync()
    survivor = next(iter(await crm.sb.dynamics.find("contact", "lastname", "Hopper")))["contactid"]
    (victim,) = before["dynamics"] - {survivor}
    row = await crm.sb.dynamics.get("contact", victim, ["statecode", "_masterid_value"])
    assert row is not None and (row["statecode"], row["_masterid_value"]) == (1, survivor)


async def _merged_in_dynamics(crm: Crm) -> tuple[str, str, dict[str, tuple[str, str]], str]:
    """Two Dataverse contacts synced everywhere, then merged in Dataverse (not synced yet).

    Returns the survivor's and the victim's Dataverse ids, each other connection's (survivor's, victim's)
    counterparts, and the survivor's canonical id.
    """
    kept = await crm.sb.dynamics.create("contact", {"firstname": "Grace", "lastname": "Hopper", "emailaddress1": EMAIL})
    gone = await crm.sb.dynamics.create(
        "contact", {"lastname": "Hopper", "emailaddress1": "g.hopper@navy.example", "jobtitle": "Admiral"}
    )
    await crm.sync()
    before = {
        connection: (
            await crm.twin("contact", "dynamics", kept, connection),
            await crm.twin("contact", "dynamics", gone, connection),
        )
        for connection in ("salesforce", "hubspot")
    }
    canonical = await crm.canonical("contact", "dynamics", kept)
    assert canonical is not None
    await crm.sb.dynamics.merge("contact", kept, gone)
    return kept, gone, before, canonical


async def test_s14_merge_in_dataverse_merges_the_hubspot_counterparts_with_hubspot_merge(crm: Crm) -> None:
    kept, gone, before, _ = await _merged_in_dynamics(crm)
    report = await crm.sync()
    assert report.total("delete_merged") == 1 and report.total("created") == 0
    canonical = await crm.canonical("contact", "dynamics", kept)
    assert canonical is not None and await crm.canonical("contact", "dynamics", gone) is None
    # HubSpot merged its two records into a new one; the survivor's link followed it to the new id.
    (hs_row,) = await crm.sb.hubspot.find("contact", "lastname", "Hopper")
    hs_new = str(hs_row["id"])
    assert hs_new not in before["hubspot"] and await crm.remote(canonical, "hubspot") == hs_new
    assert set(str(hs_row["hs_merged_object_ids"]).split(";")) >= set(before["hubspot"])
    for old in before["hubspot"]:
        assert await crm.canonical("contact", "hubspot", old) is None
    assert (hs_row["email"], hs_row["firstname"]) == (EMAIL, "Grace")  # the Dataverse survivor's values
    # Salesforce merged its two with its own merge (SOAP): the victim is deleted, pointing at the kept record.
    sf_kept, sf_gone = before["salesforce"]
    assert await crm.sb.salesforce.get("contact", sf_gone) is None
    assert await crm.remote(canonical, "salesforce") == sf_kept
    assert report.total("merged") == 2 and report.total("deleted") == 0
    entries = await audit_entries(crm, canonical, "@counterpart_merged")
    assert sorted((e.connection, e.old, e.new) for e in entries) == [
        ("hubspot", before["hubspot"][1], before["hubspot"][0]),
        ("salesforce", sf_gone, sf_kept),
    ]
    # HubSpot's merge keeps the primary's values and fills its blanks from the other record: read back, that
    # fill (the victim's job title) is a HubSpot change like any other and reaches the others once. The new
    # record and its merged-away ids re-point nothing and merge or delete nothing more.
    assert hs_row["jobtitle"] == "Admiral"
    again = await crm.sync()
    assert again.total("delete_merged") + again.total("merged") + again.total("deleted") == 0
    assert {(w.connection, w.changes) for w in again.plan} == {
        ("salesforce", (("title", None, "Admiral"),)),
        ("dynamics", (("title", None, "Admiral"),)),
    }
    assert await crm.remote(canonical, "hubspot") == hs_new
    quiet = await crm.sync()
    assert quiet.total("created") + quiet.total("updated") + quiet.total("deleted") + quiet.total("merged") == 0
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        assert await user.count("contact") == 1


async def test_s14_a_dry_run_shows_the_counterpart_merge_and_does_nothing(crm: Crm, tmp_path: Path) -> None:
    _, _, before, canonical = await _merged_in_dynamics(crm)
    scratch = await scratch_copy(crm.store, tmp_path)
    try:
        async with open_connectors(crm.config) as connectors:
            report = await SyncRunner(crm.config, scratch, connectors).run(RunOptions(dry_run=True))
    finally:
        await scratch.aclose()
    hs_kept, hs_gone = before["hubspot"]
    planned = {(w.connection, w.operation, w.remote_id, w.changes) for w in report.plan if w.operation != "update"}
    assert planned == {
        ("hubspot", "merge", hs_gone, (("@merged_into", None, hs_kept),)),
        ("salesforce", "merge", before["salesforce"][1], (("@merged_into", None, before["salesforce"][0]),)),
    }
    assert all(w.canonical_id == canonical for w in report.plan if w.operation in ("merge", "delete"))
    # Nothing was written anywhere, and the real state still links both HubSpot records.
    assert await crm.sb.hubspot.count("contact") == 2 and await crm.sb.salesforce.count("contact") == 2
    assert await crm.canonical("contact", "hubspot", hs_gone) is not None
    done = await crm.sync()
    assert done.total("merged") == 2 and await crm.sb.hubspot.count("contact") == 1 == await crm.sb.salesforce.count(
        "contact"
    )


async def test_s14_with_ignore_a_counterpart_that_cannot_merge_stays_as_a_reported_duplicate(
    crm_factory: CrmFactory,
) -> None:
    # `merges: false`: crmsync may not merge in Salesforce (its user lacks Delete, say).
    crm = await crm_factory(
        objects_yaml="contact: {delete: {policy: ignore}}", connections={"salesforce": {"merges": False}}
    )
    _, _, before, canonical = await _merged_in_dynamics(crm)
    report = await crm.sync()
    assert report.total("deleted") == 0 and report.total("merged") == 1  # HubSpot still merges: not a delete
    sf_kept, sf_gone = before["salesforce"]
    assert await crm.sb.salesforce.get("contact", sf_gone) is not None
    # Linked behind the survivor, so the survivor stays the one synced; a person is asked to merge them.
    assert [lk.remote_id for lk in await _links(crm, canonical, "salesforce")] == [sf_kept, sf_gone]
    (duplicate,) = [e for e in await crm.errors() if e.report.code == "DUPLICATE"]
    assert duplicate.report.remote_id == sf_gone and "merge them in salesforce" in duplicate.report.message
    (entry,) = [e for e in await audit_entries(crm, canonical, "@counterpart_merged") if e.connection == "salesforce"]
    assert entry.reason == "vendor merge (kept there as a duplicate: ignore)"
    await crm.sync()  # HubSpot's merge filled the survivor's blank job title: that reaches the others first
    # An edit of the kept duplicate is not a new person: nothing is created or written anywhere.
    await crm.sb.salesforce.update("contact", sf_gone, {"Title": "Rear Admiral"})
    again = await crm.sync(full=True)
    assert again.total("created") + again.total("updated") + again.total("deleted") == 0
    assert (await crm.golden(canonical)).get("title") != "Rear Admiral"


async def test_s14_with_archive_a_counterpart_that_cannot_merge_is_marked_and_kept(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(
        objects_yaml="""
        contact:
          delete: {policy: archive, archive_field: description, archive_value: Merged elsewhere}
        """,
        connections={"salesforce": {"merges": False}},
    )
    _, _, before, canonical = await _merged_in_dynamics(crm)
    report = await crm.sync()
    assert report.total("deleted") == 0
    sf_kept, sf_gone = before["salesforce"]
    gone_row = await crm.sb.salesforce.get("contact", sf_gone)
    kept_row = await crm.sb.salesforce.get("contact", sf_kept)
    assert gone_row is not None and gone_row["Description"] == "Merged elsewhere"
    assert kept_row is not None and kept_row["Description"] is None
    assert [lk.remote_id for lk in await _links(crm, canonical, "salesforce")] == [sf_kept, sf_gone]
    await crm.sync()  # HubSpot's merge filled the survivor's blank job title: that reaches the others
    # The marked duplicate, read back, is no new person and no change: nothing more is written.
    again = await crm.sync(full=True)
    assert again.total("created") + again.total("updated") + again.total("deleted") == 0
    assert (await crm.golden(canonical)).get("description") is None


async def test_s14_a_read_error_follows_its_record_into_the_merged_contact(crm: Crm) -> None:
    older = await crm.sb.dynamics.create(
        "contact", {"firstname": "Grace", "lastname": "Hopper", "emailaddress1": EMAIL}
    )
    younger = await crm.sb.dynamics.create("contact", {"lastname": "Hopper", "emailaddress1": "g.hopper@navy.example"})
    await crm.sync()
    kept = await crm.canonical("contact", "dynamics", older)
    retired = await crm.canonical("contact", "dynamics", younger)
    assert kept is not None and retired is not None
    sf_older = await crm.twin("contact", "dynamics", older, "salesforce")
    sf_younger = await crm.twin("contact", "dynamics", younger, "salesforce")
    for sf in (sf_older, sf_younger):
        await crm.sb.salesforce.update("contact", sf, {"LeadSource": "Webinar"})
    await crm.sync()
    assert sorted((e.report.canonical_id, e.report.remote_id) for e in await crm.errors()) == sorted(
        [(kept, sf_older), (retired, sf_younger)]
    )
    # Dataverse keeps the younger record: its Salesforce counterpart becomes the one crmsync syncs there, under
    # the older canonical record; the older's counterpart is merged into it by Salesforce's merge.
    await crm.sb.dynamics.merge("contact", younger, older)
    report = await crm.sync()
    assert report.total("merged") == 2 and await crm.canonical("contact", "dynamics", younger) == kept
    assert await crm.remote(kept, "salesforce") == sf_younger
    assert await crm.sb.salesforce.get("contact", sf_older) is None
    (error,) = await crm.errors()
    assert (error.report.canonical_id, error.report.remote_id, error.report.field) == (kept, sf_younger, "lead_source")
    # Fixed in Salesforce: the kept record's next read settles it.
    await crm.sb.salesforce.update("contact", sf_younger, {"LeadSource": "Web"})
    await crm.sync()
    assert await crm.errors() == []


async def test_s14_a_write_refused_before_a_counterpart_merge_is_tried_again_on_the_merged_record(crm: Crm) -> None:
    older = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": "ada@example.com"})
    younger = await crm.sb.salesforce.create("contact", {"LastName": "Turing", "Email": "alan@example.com"})
    await crm.sb.hubspot.create("contact", {"lastname": "Hopper", "email": EMAIL})
    await crm.sync()
    kept = await crm.canonical("contact", "salesforce", older)
    assert kept is not None
    # The younger takes an address HubSpot's third contact holds, then Salesforce merges the older into it.
    await crm.sb.salesforce.update("contact", younger, {"Email": EMAIL})
    await crm.sb.salesforce.merge("contact", younger, older)
    report = await crm.sync()
    assert report.total("merged") == 2  # HubSpot's and Dataverse's counterparts
    merged = await crm.remote(kept, "hubspot")
    assert merged is not None
    # HubSpot refused the address on the record it then merged into a new one: the write goes there next.
    again = await crm.sync()
    assert again.total("failed") == 1
    (refused,) = [e.report for e in await crm.errors() if e.report.connection == "hubspot"]
    assert (refused.operation, refused.remote_id, refused.canonical_id) == ("update", merged, kept)
    assert "already exists" in refused.message


async def test_s14_a_hubspot_merge_keeps_the_conflicts_parked_on_both_records_until_a_person_chooses(
    crm_factory: CrmFactory,
) -> None:
    # A title dispute between Salesforce and Dataverse on one person, a phone dispute on the other, both `manual`;
    # then HubSpot merges the two. HubSpot took no side in either: its merge settles neither, so neither may be
    # closed (nor a side overwritten) until a person chooses. Before, the conflicts of whichever canonical record
    # the merge retired were closed with their base, and delivery overwrote the copies in dispute.
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {policy: manual}, phone: {policy: manual}}}")
    merged, (first, second), _, canonicals = await _merged_in_hubspot(crm)
    disputes = {first: ("title", "Title", "jobtitle"), second: ("phone", "Phone", "telephone1")}
    values = {"title": ("Commodore", "Rear Admiral"), "phone": ("+1 212 555 0101", "+1 212 555 0102")}
    for hs_id, (field, sf_name, dv_name) in disputes.items():
        sf_value, dv_value = values[field]
        sf_id = await crm.twin("contact", "hubspot", hs_id, "salesforce")
        dv_id = await crm.twin("contact", "hubspot", hs_id, "dynamics")
        await crm.sb.salesforce.update("contact", sf_id, {sf_name: sf_value})
        await crm.sb.dynamics.update("contact", dv_id, {dv_name: dv_value})
    await crm.sync()  # the edits' reads park the conflicts, then the merge is applied
    kept = await crm.canonical("contact", "hubspot", merged)
    assert kept is not None and kept in canonicals
    open_fields = {c.field: c for c in await crm.conflicts() if c.canonical_id == kept}
    assert sorted(open_fields) == ["phone", "title"]
    async with crm.store.read() as tx:
        closed = [c for c in await tx.conflicts.list(include_resolved=True) if c.resolved]
    assert closed == []
    for conflict in open_fields.values():
        await resolve(crm.store, crm.config, conflict.id, choice_connection="dynamics", by="test")
    await crm.sync()
    assert await crm.conflicts() == []
    for connection in VENDOR_NAMES:
        row = await crm.sb.user(connection).get("contact", str(await crm.remote(kept, connection)))
        assert row is not None
        held = crm.config.mappings.map_in(connection, "contact", row).fields
        assert (held.get("title"), held.get("phone")) == ("Rear Admiral", "+12125550102"), connection
