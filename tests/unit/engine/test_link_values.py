"""`link_values`: the link fields a record's parents give it, shared by ingest and the link scan."""

from __future__ import annotations

import pytest

from crmsync.engine.state import link_values, parent_kind

RESOLVED = {"company": {"c-1": "K1", "c-2": "K2"}, "contact": {"p-1": "P1"}, "deal": {"d-1": "D1"}}


def test_the_first_parent_of_each_role_gives_its_canonical_id() -> None:
    fields, unresolved = link_values("hubspot", "deal", {"company": ("c-2", "c-1"), "contact": ("p-1",)}, RESOLVED)
    assert fields == {"@company": "K2", "@contact": "P1"}
    assert unresolved == ()


def test_a_role_without_a_parent_is_cleared() -> None:
    assert link_values("hubspot", "contact", {}, RESOLVED) == ({"@company": None}, ())
    assert link_values("hubspot", "contact", {"company": ()}, RESOLVED) == ({"@company": None}, ())


def test_a_parent_not_linked_yet_is_left_out_and_named() -> None:
    fields, unresolved = link_values("hubspot", "deal", {"company": ("c-9",), "contact": ("p-1",)}, RESOLVED)
    assert fields == {"@contact": "P1"}
    assert unresolved == (("company", "c-9"),)


def test_a_single_slot_record_showing_one_role_says_nothing_of_the_others() -> None:
    """A Dataverse activity's `regardingobjectid` holds one parent of any role: the other role is unknown."""
    assert link_values("dynamics", "activity", {"deal": ("d-1",)}, RESOLVED) == ({"@deal": "D1"}, ())
    # With no parent at all, every role is cleared; elsewhere activities have a slot per role.
    assert link_values("dynamics", "activity", {}, RESOLVED) == ({"@contact": None, "@deal": None}, ())
    assert link_values("hubspot", "activity", {"deal": ("d-1",)}, RESOLVED) == ({"@contact": None, "@deal": "D1"}, ())


def test_a_role_is_named_after_its_parents_kind() -> None:
    assert [parent_kind(role) for role in ("company", "contact", "deal")] == ["company", "contact", "deal"]
    with pytest.raises(ValueError, match="unknown link role 'owner'"):
        parent_kind("owner")
