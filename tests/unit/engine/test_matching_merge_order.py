"""plan_vendor_merge: which record each connection is written to after a merge, and merges made on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmsync.engine.matching_merge import CanonicalMerge, CounterpartMerge, KnownLink, RemoteRef, plan_vendor_merge

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def link(canonical_id: str, connection: str, remote_id: str, days: int) -> KnownLink:
    return KnownLink(canonical_id, connection, remote_id, T0 + timedelta(days=days))


# Ada (older) and Grace, each in Salesforce and Dataverse.
PEOPLE = [
    link("ADA", "salesforce", "sf-ada", 0),
    link("ADA", "dynamics", "dv-ada", 0),
    link("GRACE", "salesforce", "sf-grace", 1),
    link("GRACE", "dynamics", "dv-grace", 1),
]


def test_the_vendor_survivor_and_its_counterparts_become_the_records_written_to() -> None:
    plan = plan_vendor_merge(PEOPLE, merged_away_id="sf-ada", survivor_id="sf-grace", connection="salesforce")
    assert plan.merge == CanonicalMerge(kept="ADA", retired="GRACE")
    assert plan.counterparts == (CounterpartMerge("dynamics", survivor="dv-grace", merged="dv-ada"),)
    assert plan.primaries == (RemoteRef("salesforce", "sf-grace"), RemoteRef("dynamics", "dv-grace"))


def test_a_merge_of_a_duplicate_into_another_names_no_record_to_write_to() -> None:
    links = [link("ADA", "hubspot", "1", 0), link("ADA", "hubspot", "2", 1), link("ADA", "hubspot", "3", 2)]
    plan = plan_vendor_merge(links, merged_away_id="3", survivor_id="2", connection="hubspot")
    assert plan.unlink == (RemoteRef("hubspot", "3"),) and plan.primaries == ()
    # The record written to merged into a duplicate: that one takes over.
    plan = plan_vendor_merge(links, merged_away_id="1", survivor_id="3", connection="hubspot")
    assert plan.primaries == (RemoteRef("hubspot", "3"),)


def test_a_survivor_taking_the_place_of_the_record_written_to_is_written_to() -> None:
    links = [link("ADA", "hubspot", "1", 0), link("ADA", "hubspot", "2", 1)]
    plan = plan_vendor_merge(links, merged_away_id="1", survivor_id="9", connection="hubspot")
    assert plan.relink == (RemoteRef("hubspot", "9"),) and plan.primaries == (RemoteRef("hubspot", "9"),)
    plan = plan_vendor_merge(links, merged_away_id="2", survivor_id="9", connection="hubspot")
    assert plan.relink == (RemoteRef("hubspot", "9"),) and plan.primaries == ()


def test_a_connection_that_merged_the_same_pair_the_other_way_round_gets_no_counterpart_merge() -> None:
    # Salesforce kept Grace's record, Dataverse kept Ada's: crmsync must not merge (or delete) in Dataverse.
    pending = {RemoteRef("dynamics", "dv-grace"): "dv-ada"}
    plan = plan_vendor_merge(PEOPLE, "sf-ada", "sf-grace", "salesforce", pending)
    assert plan.merge == CanonicalMerge(kept="ADA", retired="GRACE")
    assert plan.counterparts == ()
    assert plan.primaries == (RemoteRef("salesforce", "sf-grace"), RemoteRef("dynamics", "dv-ada"))


def test_a_connection_that_merged_the_pair_into_a_new_record_gets_no_counterpart_merge() -> None:
    people = [*PEOPLE, link("ADA", "hubspot", "1", 0), link("GRACE", "hubspot", "2", 1)]
    pending = {RemoteRef("hubspot", "1"): "7", RemoteRef("hubspot", "2"): "7"}  # HubSpot's merge makes a new id
    plan = plan_vendor_merge(people, "sf-ada", "sf-grace", "salesforce", pending)
    assert plan.counterparts == (CounterpartMerge("dynamics", survivor="dv-grace", merged="dv-ada"),)
    assert RemoteRef("hubspot", "7") not in plan.primaries  # not linked yet: its own merge links it


def test_nothing_is_merged_into_or_out_of_a_record_deleted_there_meanwhile() -> None:
    # Dataverse deleted Grace's record: Ada's is the merged person's record there, nothing to merge.
    plan = plan_vendor_merge(PEOPLE, "sf-ada", "sf-grace", "salesforce", deleted={RemoteRef("dynamics", "dv-grace")})
    assert plan.counterparts == ()
    assert plan.primaries == (RemoteRef("salesforce", "sf-grace"), RemoteRef("dynamics", "dv-ada"))
    both = {RemoteRef("dynamics", "dv-grace"), RemoteRef("dynamics", "dv-ada")}
    plan = plan_vendor_merge(PEOPLE, "sf-ada", "sf-grace", "salesforce", deleted=both)
    assert plan.counterparts == () and plan.primaries == (RemoteRef("salesforce", "sf-grace"),)
