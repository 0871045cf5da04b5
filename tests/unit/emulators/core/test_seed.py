"""The seed world: deterministic, overlapping across systems, consistent references, realistic mess."""

from __future__ import annotations

from crmsync.emulators.core.seed import SYSTEMS, World


def test_same_seed_same_data_and_different_seed_different_data() -> None:
    one = list(World(5).system("salesforce", 300).people())
    two = list(World(5).system("salesforce", 300).people())
    other = list(World(6).system("salesforce", 300).people())
    assert one == two
    assert one != other


def test_record_counts_split_by_object_kind() -> None:
    seed = World(1).system("hubspot", 2000)
    companies = list(seed.companies())
    people = [p for p in seed.people() if p.duplicate_of is None]
    deals = list(seed.deals())
    activities = list(seed.activities())
    assert len(companies) == 200
    assert len(people) == 1000
    # deals and activities alternate per company key, so a system's share is close to, not exactly, its quota
    assert abs(len(deals) - 300) <= 30
    assert abs(len(activities) - 500) <= 30


def test_systems_overlap_and_references_stay_inside_each_system() -> None:
    world = World(3)
    keys = {}
    for system in SYSTEMS:
        seed = world.system(system, 1000)
        company_keys = {c.key for c in seed.companies()}
        people = list(seed.people())
        person_keys = {p.key for p in people}
        assert all(p.company_key in company_keys for p in people if p.company_key is not None)
        for deal in seed.deals():
            assert deal.company_key in company_keys
            assert deal.contact_key is None or deal.contact_key in person_keys
        for activity in seed.activities():
            assert activity.company_key in company_keys
            assert activity.contact_key in person_keys
        keys[system] = person_keys
    shared = keys["salesforce"] & keys["hubspot"]
    assert 0.2 < len(shared) / len(keys["salesforce"]) < 0.8


def test_shared_people_vary_by_system_and_include_duplicates_blanks_and_unicode() -> None:
    world = World(9)
    sf = {p.key: p for p in world.system("salesforce", 5000).people() if p.duplicate_of is None}
    hs = {p.key: p for p in world.system("hubspot", 5000).people() if p.duplicate_of is None}
    shared = sf.keys() & hs.keys()
    assert any(sf[k].email != hs[k].email for k in shared if sf[k].email and hs[k].email)
    assert any(sf[k].title != hs[k].title for k in shared)
    assert all(p.email == p.email.strip().lower() for p in hs.values() if p.email)
    assert any((sf[k].phone or "").startswith("(") for k in sf)
    duplicates = [p for p in world.system("salesforce", 5000).people() if p.duplicate_of is not None]
    assert duplicates
    assert all(d.email == sf[d.key].email for d in duplicates)
    everyone = list(sf.values())
    assert any(p.email is None for p in everyone)
    assert any(p.title is None for p in everyone)
    assert any(not (p.last_name or "").isascii() for p in everyone)
