"""Which fields call for a read in full: those a read selects that the last complete read did not."""

from __future__ import annotations

from crmsync.engine.newly_mapped import newly_mapped, read_in_full_note

KNOWN = frozenset({"Email", "LastName"})


def test_fields_added_since_the_last_read_are_named_sorted() -> None:
    fields = ["LastName", "Title", "Email", "Colour__c"]
    assert newly_mapped(KNOWN, fields, cursor="t1") == ("Colour__c", "Title")


def test_the_same_fields_or_fewer_need_no_read_in_full() -> None:
    assert newly_mapped(KNOWN, ["Email", "LastName"], cursor="t1") == ()
    assert newly_mapped(KNOWN, ["Email"], cursor="t1") == ()


def test_a_first_read_and_a_state_from_before_the_stored_fields_take_the_fields_as_they_are() -> None:
    assert newly_mapped(KNOWN, ["Title"], cursor=None) == ()  # no cursor: the read lists everything anyway
    assert newly_mapped(None, ["Title"], cursor="t1") == ()  # schema 9: what was read before is unknown


def test_the_note_names_the_connection_the_kind_and_the_fields() -> None:
    note = read_in_full_note("hubspot", "contact", ("x", "y"))
    assert note == "hubspot contact: fields newly mapped (x, y): read in full"
