"""Scenario tests of identity decisions: twins (S02), in-system duplicates (S03), parents (S16, S17), merges (S14)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.engine.matching import (
    AwaitParents,
    CreateEntity,
    DuplicateGroup,
    KnownEntity,
    LinkDuplicate,
    LinkExisting,
    PlannedMember,
    SeenRecord,
    match_incoming,
    plan_first_meeting,
    uuid5_id,
)
from crmsync.engine.matching_keys import MatchKey, MatchKeys, parse_key_spec
from crmsync.engine.matching_merge import (
    CanonicalMerge,
    CounterpartMerge,
    KnownLink,
    RemoteRef,
    plan_vendor_merge,
)
from crmsync.model.values import CanonicalValue, ObjectKind

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def contact(connection: str, remote_id: str, email: str | None, created: int | None = None) -> SeenRecord:
    return SeenRecord(
        connection, "contact", remote_id, {"email": email}, created_at=None if created is None else day(created)
    )


def seen(
    connection: str,
    kind: ObjectKind,
    remote_id: str,
    fields: Mapping[str, CanonicalValue],
    **links: tuple[str, ...],
) -> SeenRecord:
    return SeenRecord(connection, kind, remote_id, fields, links)


def test_s02_existing_twins_differing_in_case_and_spaces_are_one_entity() -> None:
    plan = plan_first_meeting(
        [contact("salesforce", "003A", " Ann.Lee@Example.com "), contact("hubspot", "501", "ann.lee@example.com")]
    )
    (entity,) = plan.entities
    assert entity.key == MatchKey("contact", "email", ("ann.lee@example.com",))
    assert entity.members == (PlannedMember("hubspot", "501"), PlannedMember("salesforce", "003A"))
    assert entity.canonical_id == uuid5_id(entity.key.text)
    assert plan.duplicates == ()
    assert plan.canonical_id("hubspot", "contact", "501") == plan.canonical_id("salesforce", "contact", "003A")


def test_s02_blank_emails_never_match() -> None:
    plan = plan_first_meeting(
        [contact("salesforce", "003A", None), contact("hubspot", "501", "  "), contact("salesforce", "003B", "")]
    )
    assert len(plan.entities) == 3
    assert all(e.key is None and len(e.members) == 1 for e in plan.entities)
    assert plan.duplicates == ()


def test_s03_duplicates_inside_one_system_link_one_survivor_the_oldest() -> None:
    plan = plan_first_meeting(
        [
            contact("salesforce", "003B", "bo@x.com", created=5),
            contact("salesforce", "003A", "BO@x.com", created=9),
            contact("salesforce", "003C", "bo@x.com", created=5),
            contact("hubspot", "7", "bo@x.com", created=1),
        ]
    )
    (entity,) = plan.entities  # nothing new is created for the duplicates
    key = MatchKey("contact", "email", ("bo@x.com",))
    assert plan.duplicates == (DuplicateGroup("salesforce", "contact", key, "003B", ("003C", "003A")),)
    assert entity.survivor("salesforce") == "003B"
    assert entity.survivor("hubspot") == "7"
    assert PlannedMember("salesforce", "003A", duplicate_of="003B") in entity.members
    assert plan.canonical_id("salesforce", "contact", "003A") == entity.canonical_id


def test_s03_numeric_ids_break_age_ties_as_numbers() -> None:
    plan = plan_first_meeting([contact("hubspot", "10", "a@x.com"), contact("hubspot", "9", "a@x.com")])
    assert plan.duplicates[0].survivor == "9"


def test_companies_meet_by_domain_else_by_name_without_legal_suffix() -> None:
    plan = plan_first_meeting(
        [
            seen("salesforce", "company", "001A", {"name": "Acme, Inc.", "domain": "ACME.com"}),
            seen("hubspot", "company", "11", {"name": "ACME", "domain": "acme.com"}),
            seen("dynamics", "company", "d-1", {"name": "Globex GmbH", "domain": None}),
            seen("salesforce", "company", "001B", {"name": "globex", "domain": ""}),
        ]
    )
    assert len(plan.entities) == 2
    assert {e.connections for e in plan.entities} == {("hubspot", "salesforce"), ("dynamics", "salesforce")}


def test_s16_deals_meet_through_their_parents_planned_in_the_same_call() -> None:
    records = [
        seen("salesforce", "company", "001A", {"domain": "acme.com"}),
        seen("hubspot", "company", "11", {"domain": "acme.com"}),
        seen("salesforce", "contact", "003A", {"email": "ann@acme.com"}, company=("001A",)),
        seen("hubspot", "contact", "21", {"email": "ann@acme.com"}, company=("11",)),
        seen("salesforce", "deal", "006A", {"name": "Renewal"}, company=("001A",), contact=("003A",)),
        seen("hubspot", "deal", "31", {"name": " renewal "}, company=("11",), contact=("21",)),
        # Same name, another company: another deal.
        seen("hubspot", "company", "12", {"domain": "globex.com"}),
        seen("hubspot", "deal", "32", {"name": "Renewal"}, company=("12",)),
    ]
    plan = plan_first_meeting(reversed(records))
    acme = plan.canonical_id("salesforce", "company", "001A")
    deal = plan.canonical_id("salesforce", "deal", "006A")
    assert acme is not None and deal is not None
    assert plan.canonical_id("hubspot", "deal", "31") == deal
    assert plan.canonical_id("hubspot", "deal", "32") != deal
    entity = plan.entity(deal)
    assert entity is not None and entity.key == MatchKey("deal", "company_name", (acme, "renewal"))
    assert [e.kind for e in plan.entities] == sorted(
        (e.kind for e in plan.entities), key=["company", "contact", "deal", "activity"].index
    )


def test_s16_activities_meet_by_parent_subject_and_day() -> None:
    records = [
        seen("salesforce", "contact", "003A", {"email": "ann@acme.com"}),
        seen("dynamics", "contact", "c-1", {"email": "ann@acme.com"}),
        SeenRecord(
            "salesforce", "activity", "00T1", {"subject": "Call", "due_date": T0.date()}, {"contact": ("003A",)}
        ),
        SeenRecord("dynamics", "activity", "t-1", {"subject": "call", "due_date": T0}, {"contact": ("c-1",)}),
    ]
    plan = plan_first_meeting(records)
    assert plan.canonical_id("salesforce", "activity", "00T1") == plan.canonical_id("dynamics", "activity", "t-1")


def test_s17_parents_resolve_through_the_identity_map_when_not_in_the_plan() -> None:
    linked = {("dynamics", "company", "acc-1"): "canon-acme"}

    def resolve(connection: str, role: str, remote_id: str) -> str | None:
        return linked.get((connection, role, remote_id))

    plan = plan_first_meeting(
        [
            seen("dynamics", "deal", "o-1", {"name": "Pilot"}, company=("acc-1",)),
            seen("salesforce", "deal", "006", {"name": "Pilot"}, company=("001-unknown",)),
        ],
        resolve_parent=resolve,
    )
    deal = plan.entity(plan.canonical_id("dynamics", "deal", "o-1") or "")
    assert deal is not None and deal.key == MatchKey("deal", "company_name", ("canon-acme", "pilot"))
    # The other deal's parent is nowhere: no usable key, so it is an entity of its own.
    assert len(plan.entities) == 2


def test_match_keys_are_configurable() -> None:
    keys: MatchKeys = {"contact": (parse_key_spec("contact", ["last_name", "phone:value"]),)}
    plan = plan_first_meeting(
        [
            SeenRecord("salesforce", "contact", "1", {"last_name": "Lee", "phone": "+14155550100", "email": "a@x"}),
            SeenRecord("hubspot", "contact", "2", {"last_name": "LEE", "phone": "+14155550100", "email": "b@x"}),
        ],
        keys,
    )
    assert len(plan.entities) == 1


def test_a_record_twice_in_one_meeting_is_refused() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        plan_first_meeting([contact("hubspot", "1", "a@x.com"), contact("hubspot", "1", "a@x.com")])


def test_an_id_factory_that_collides_is_refused() -> None:
    with pytest.raises(ValueError, match="same canonical id"):
        plan_first_meeting(
            [contact("hubspot", "1", "a@x.com"), contact("hubspot", "2", "b@x.com")], new_id=lambda s: "x"
        )


# --- incremental matching ----------------------------------------------------------------------------------


def test_s02_a_new_record_links_to_its_twin_found_by_key() -> None:
    key = MatchKey("contact", "email", ("ann@x.com",))
    known = {key: KnownEntity("canon-1", {"salesforce": "003A"})}
    decision = match_incoming(contact("hubspot", "501", " ANN@x.com"), known.get)
    assert decision == LinkExisting("canon-1", key)


def test_s03_a_new_record_whose_key_its_connection_already_holds_is_a_duplicate() -> None:
    key = MatchKey("contact", "email", ("ann@x.com",))
    known = {key: KnownEntity("canon-1", {"salesforce": "003A"})}
    decision = match_incoming(contact("salesforce", "003Z", "ann@x.com"), known.get)
    assert isinstance(decision, LinkDuplicate)
    assert decision.canonical_id == "canon-1"
    assert decision.group == DuplicateGroup("salesforce", "contact", key, "003A", ("003Z",))


def test_a_new_record_with_no_twin_creates_a_deterministic_entity() -> None:
    decision = match_incoming(contact("hubspot", "9", "new@x.com"), lambda key: None)
    key = MatchKey("contact", "email", ("new@x.com",))
    assert decision == CreateEntity(uuid5_id(key.text), key)
    assert match_incoming(contact("hubspot", "9", "new@x.com"), lambda key: None) == decision


def test_a_taken_deterministic_id_is_not_reused() -> None:
    key = MatchKey("contact", "email", ("new@x.com",))
    decision = match_incoming(contact("hubspot", "9", "new@x.com"), lambda k: None, id_taken=lambda c: True)
    assert isinstance(decision, CreateEntity) and decision.canonical_id != uuid5_id(key.text)


def test_blank_key_creates_its_own_entity_and_never_asks_the_index() -> None:
    asked: list[MatchKey] = []

    def find(key: MatchKey) -> KnownEntity | None:
        asked.append(key)
        return None

    decision = match_incoming(contact("hubspot", "9", " "), find)
    assert isinstance(decision, CreateEntity) and decision.key is None
    assert asked == []


def test_s17_a_child_waits_for_a_parent_not_linked_yet() -> None:
    deal = seen("dynamics", "deal", "o-1", {"name": "Pilot"}, company=("acc-1",), contact=("c-1",))
    decision = match_incoming(deal, lambda key: None)
    assert decision == AwaitParents((("company", "acc-1"), ("contact", "c-1")))
    # Once the company is linked, the deal meets by it.
    linked = {("dynamics", "company", "acc-1"): "canon-acme"}
    decision = match_incoming(deal, lambda key: None, resolve_parent=lambda c, r, i: linked.get((c, r, i)))
    assert decision == AwaitParents((("contact", "c-1"),))
    decision = match_incoming(
        deal, lambda key: None, resolve_parent=lambda c, r, i: linked.get((c, r, i)), wait_for_parents=False
    )
    assert isinstance(decision, CreateEntity)
    assert decision.key == MatchKey("deal", "company_name", ("canon-acme", "pilot"))


# --- vendor merges ------------------------------------------------------------------------------------------


def link(canonical_id: str, connection: str, remote_id: str, days: int) -> KnownLink:
    return KnownLink(canonical_id, connection, remote_id, day(days))


def test_s14_merge_of_two_records_of_one_canonical_record_just_unlinks_the_merged_away() -> None:
    links = [link("C1", "hubspot", "1", 0), link("C1", "hubspot", "2", 1), link("C1", "salesforce", "003A", 0)]
    repoint = plan_vendor_merge(links, merged_away_id="2", survivor_id="1", connection="hubspot")
    assert repoint.canonical_id == "C1"
    assert repoint.unlink == (RemoteRef("hubspot", "2"),)
    assert repoint.relink == () and repoint.merge is None and repoint.counterparts == ()


def test_s14_a_survivor_not_linked_yet_takes_the_merged_away_records_place() -> None:
    links = [link("C1", "hubspot", "2", 0), link("C1", "salesforce", "003A", 0)]
    repoint = plan_vendor_merge(links, merged_away_id="2", survivor_id="1", connection="hubspot")
    assert repoint.canonical_id == "C1"
    assert repoint.unlink == (RemoteRef("hubspot", "2"),)
    assert repoint.relink == (RemoteRef("hubspot", "1"),)


def test_s14_merging_two_linked_records_merges_their_canonical_records_keeping_the_older() -> None:
    links = [
        link("C-old", "hubspot", "2", 0),
        link("C-old", "salesforce", "003A", 0),
        link("C-old", "dynamics", "d-a", 1),
        link("C-new", "hubspot", "1", 5),
        link("C-new", "salesforce", "003B", 5),
    ]
    repoint = plan_vendor_merge(links, merged_away_id="2", survivor_id="1", connection="hubspot")
    assert repoint.merge == CanonicalMerge(kept="C-old", retired="C-new")
    assert repoint.canonical_id == "C-old"  # links and audit follow the survivor record into the kept record
    assert repoint.unlink == (RemoteRef("hubspot", "2"),)
    assert repoint.relink == (RemoteRef("hubspot", "1"), RemoteRef("salesforce", "003B"))
    # Salesforce held both people: its counterparts merge the same way round (HubSpot's survivor's twin survives);
    # Dynamics held only one, which simply stays linked.
    assert repoint.counterparts == (CounterpartMerge("salesforce", survivor="003B", merged="003A"),)


def test_s14_merge_with_nothing_linked_changes_nothing() -> None:
    repoint = plan_vendor_merge([], merged_away_id="2", survivor_id="1", connection="hubspot")
    assert repoint.changes_nothing and repoint.canonical_id is None
    only_survivor = plan_vendor_merge([link("C1", "hubspot", "1", 0)], "2", "1", "hubspot")
    assert only_survivor.changes_nothing and only_survivor.canonical_id == "C1"


def test_s14_merge_result_does_not_depend_on_link_order() -> None:
    links = [link("A", "hubspot", "2", 3), link("B", "hubspot", "1", 3), link("B", "salesforce", "x", 3)]
    first = plan_vendor_merge(links, "2", "1", "hubspot")
    assert plan_vendor_merge(list(reversed(links)), "2", "1", "hubspot") == first
    assert first.merge == CanonicalMerge(kept="A", retired="B")  # same age: the smaller id, deterministically


def test_vendor_merge_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="into itself"):
        plan_vendor_merge([], "1", "1", "hubspot")
    with pytest.raises(ValueError, match="several canonical records"):
        plan_vendor_merge([link("A", "hubspot", "2", 0), link("B", "hubspot", "2", 0)], "2", "1", "hubspot")
