"""last_survivor: a record merged into one that was merged again before a sync ends in the chain's last survivor."""

from __future__ import annotations

from crmsync.engine.matching_merge import RemoteRef
from crmsync.engine.merges import last_survivor

# In Dataverse: a into b, b into c, c into d; in Salesforce, another b went into x.
PENDING = {
    RemoteRef("dynamics", "b"): "c",
    RemoteRef("dynamics", "c"): "d",
    RemoteRef("salesforce", "b"): "x",
}


def test_a_survivor_merged_again_is_followed_to_the_end_of_its_chain_in_its_own_connection() -> None:
    assert last_survivor(PENDING, "dynamics", "a", "b") == "d"
    assert last_survivor(PENDING, "salesforce", "a", "b") == "x"


def test_a_survivor_nobody_merged_since_is_the_survivor() -> None:
    assert last_survivor(PENDING, "hubspot", "a", "b") == "b"
    assert last_survivor({}, "dynamics", "a", "b") == "b"


def test_a_chain_that_comes_back_stops_before_it_loops() -> None:
    # HubSpot retires both ids of a merge for a new one: a chain may name a record it passed.
    looping = {RemoteRef("hubspot", "b"): "c", RemoteRef("hubspot", "c"): "a"}
    assert last_survivor(looping, "hubspot", "a", "b") == "c"
