"""`explain_record`'s delete story (S11–S13), as `crmsync explain` and the dashboard's record page read it: where a
record was deleted, when, which id went, and what crmsync made of it: spread, ignored, archived, parked, or held
by the mass-delete breaker."""

from __future__ import annotations

from crmsync.engine.views.explain import DeleteStep, explain_record
from tests.integration.engine.conftest import Crm, CrmFactory
from tests.integration.engine.test_scenarios_deletes import ARCHIVED_IN_HUBSPOT, _everywhere


async def _story(crm: Crm, ident: str) -> tuple[DeleteStep, ...]:
    return (await explain_record(crm.store, crm.config, "contact", ident)).deletes


async def test_a_spread_delete_names_where_it_came_from_and_where_crmsync_deleted_it(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    (step,) = await _story(crm, hs)
    assert (step.connection, step.how, step.remote_id) == ("dynamics", "propagate", dv)
    assert set(step.deleted_by_crmsync) == {"salesforce", "hubspot"} and step.still_to_delete == ()
    explained = await explain_record(crm.store, crm.config, "contact", sf)
    assert explained.deletion is not None and explained.deletion.at == step.at


async def test_an_ignored_delete_leaves_the_others_and_says_so(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {policy: ignore}}")
    sf, _, dv = await _everywhere(crm)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sync()
    (step,) = await _story(crm, sf)
    assert (step.connection, step.how, step.remote_id) == ("dynamics", "ignore", dv)
    assert step.deleted_by_crmsync == () and step.still_to_delete == ()


async def test_an_archived_delete_names_the_field_it_set(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml=ARCHIVED_IN_HUBSPOT)
    sf, hs, _ = await _everywhere(crm)
    await crm.sb.hubspot.delete("contact", hs)
    await crm.sync()
    (step,) = await _story(crm, sf)
    assert (step.connection, step.how, step.remote_id) == ("hubspot", "archive", hs)
    assert (step.archive_field, step.archive_value) == ("description", "Deleted in HubSpot")


async def test_a_delete_against_an_edit_is_parked(crm: Crm) -> None:
    sf, _, dv = await _everywhere(crm)
    await crm.sb.dynamics.delete("contact", dv)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Rear Admiral"})
    await crm.sync()
    assert [(s.connection, s.how, s.remote_id) for s in await _story(crm, sf)] == [("dynamics", "parked", dv)]


async def test_a_delete_the_breaker_holds_is_held_until_released(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {delete: {mass_delete: {share: 0.2, min: 2}}}")
    people = [f"person{n}@example.com" for n in range(5)]
    for n, email in enumerate(people):
        await crm.sb.hubspot.create("contact", {"lastname": f"Person{n}", "email": email})
    await crm.sync()
    doomed = [str((await crm.sb.dynamics.find("contact", "emailaddress1", e))[0]["contactid"]) for e in people[:3]]
    for dv in doomed:
        await crm.sb.dynamics.delete("contact", dv)
    held = await crm.sync()
    assert held.total("delete_held") == 3
    explained = await explain_record(crm.store, crm.config, "contact", doomed[0])
    assert not explained.deleted and explained.deletion is None
    assert [(s.connection, s.how, s.remote_id) for s in explained.deletes] == [("dynamics", "held", doomed[0])]
    assert ("dynamics", doomed[0]) in {(link.connection, link.remote_id) for link in explained.links}
    await crm.sync(allow_mass_delete=True)
    (step,) = await _story(crm, doomed[0])
    assert (step.how, step.remote_id) == ("propagate", doomed[0])
