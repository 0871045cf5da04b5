"""`crmsync serve` end to end over loopback: an edit in one emulator reaches the other two through webhooks alone.

The services here poll once at startup, then only every hour: whatever reaches another CRM within the
test's deadline travelled emulator webhook → receiver → queue → pass → delivery.
"""

from __future__ import annotations

import contextlib

from crmsync.engine.runlock import RunInProgressError, new_worker_id, run_lease
from crmsync.store import open_store
from tests.integration.service.conftest import Served, ServeFactory, eventually


async def test_a_hubspot_contact_created_then_edited_reaches_salesforce_and_dataverse(serve: ServeFactory) -> None:
    served = await serve()
    await served.started()
    sb = served.sb
    contact = await sb.hubspot.create("contact", {"lastname": "Johnson", "email": "katherine@nasa.example"})
    twins = await served.everywhere("contact", "hubspot", contact)
    await sb.hubspot.update("contact", contact, {"jobtitle": "Mathematician"})

    async def titled() -> bool:
        sf_row = await sb.salesforce.get("contact", twins["salesforce"], ["Title"])
        dv_row = await sb.dynamics.get("contact", twins["dynamics"], ["jobtitle"])
        return bool(sf_row and dv_row and sf_row["Title"] == dv_row["jobtitle"] == "Mathematician")

    await eventually(titled, after=served.progress, what="the HubSpot title edit in Salesforce and Dataverse")
    assert await served.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="accepted") >= 2


async def test_a_salesforce_edit_reaches_hubspot_and_dataverse_through_an_outbound_message(serve: ServeFactory) -> None:
    served = await serve()
    await served.started()
    sb = served.sb
    contact = await sb.salesforce.create("contact", {"LastName": "Vaughan", "Email": "dorothy@nasa.example"})
    twins = await served.everywhere("contact", "salesforce", contact)
    await sb.salesforce.update("contact", contact, {"Title": "Supervisor"})

    async def titled() -> bool:
        hs_row = await sb.hubspot.get("contact", twins["hubspot"], ["jobtitle"])
        dv_row = await sb.dynamics.get("contact", twins["dynamics"], ["jobtitle"])
        return bool(hs_row and dv_row and hs_row["jobtitle"] == dv_row["jobtitle"] == "Supervisor")

    await eventually(titled, after=served.progress, what="the Salesforce title edit in HubSpot and Dataverse")
    assert await served.metric("crmsync_webhook_requests_total", connection="salesforce", outcome="accepted") >= 2


async def test_a_dataverse_company_reaches_salesforce_and_hubspot(serve: ServeFactory) -> None:
    served = await serve()
    await served.started()
    sb = served.sb
    account = await sb.dynamics.create("company", {"name": "Langley", "websiteurl": "https://langley.example"})
    twins = await served.everywhere("company", "dynamics", account)
    row = await sb.hubspot.get("company", twins["hubspot"], ["name"])
    assert row is not None and row["name"] == "Langley"
    assert await served.metric("crmsync_webhook_requests_total", connection="dynamics", outcome="accepted") >= 1


async def test_s15_a_company_change_in_hubspot_reaches_the_others_through_its_association_webhook(
    serve: ServeFactory,
) -> None:
    """HubSpot's association-only change leaves the contact's modified date alone: only the webhook tells."""
    served = await serve()
    await served.started()
    sb = served.sb
    old = await sb.hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    new = await sb.hubspot.create("company", {"name": "Sperry", "domain": "sperry.example"})
    contact = await sb.hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await sb.hubspot.associate("contact", contact, "company", old)
    new_twins = await served.everywhere("company", "hubspot", new)
    twins = await served.everywhere("contact", "hubspot", contact)
    old_sf = await served.remote("company", "hubspot", old, "salesforce")

    async def in_old() -> bool:
        row = await sb.salesforce.get("contact", twins["salesforce"], ["AccountId"])
        return bool(row and row["AccountId"] == old_sf)

    await eventually(in_old, after=served.progress, what="the contact under its first company in Salesforce")
    await sb.hubspot.dissociate("contact", contact, "company", old)
    await sb.hubspot.associate("contact", contact, "company", new)

    async def moved() -> bool:
        sf_row = await sb.salesforce.get("contact", twins["salesforce"], ["AccountId"])
        dv_row = await sb.dynamics.get("contact", twins["dynamics"], ["_parentcustomerid_value"])
        return bool(
            sf_row
            and dv_row
            and sf_row["AccountId"] == new_twins["salesforce"]
            and dv_row["_parentcustomerid_value"] == new_twins["dynamics"]
        )

    await eventually(moved, after=served.progress, what="the contact's new company in Salesforce and Dataverse")


async def test_an_acknowledged_webhook_survives_a_restart_before_it_was_synced(serve: ServeFactory) -> None:
    """A company move is invisible to polling (S15): after the restart only the queued hint can carry it."""
    first = await serve()
    await first.started()
    sb = first.sb
    old = await sb.hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    new = await sb.hubspot.create("company", {"name": "Sperry", "domain": "sperry.example"})
    contact = await sb.hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await sb.hubspot.associate("contact", contact, "company", old)
    new_sf = (await first.everywhere("company", "hubspot", new))["salesforce"]
    sf = (await first.everywhere("contact", "hubspot", contact))["salesforce"]
    old_sf = await first.remote("company", "hubspot", old, "salesforce")

    async def account_is(expected: str | None) -> bool:
        row = await sb.salesforce.get("contact", sf, ["AccountId"])
        return bool(row and row["AccountId"] == expected)

    await eventually(lambda: account_is(old_sf), after=first.progress, what="the contact under its first company")
    # Another process holds the run lease: the service acknowledges the move's webhooks but cannot sync them.
    async with contextlib.AsyncExitStack() as lease:
        await _hold_run_lease(first, lease)
        await sb.hubspot.dissociate("contact", contact, "company", old)
        await sb.hubspot.associate("contact", contact, "company", new)

        async def acknowledged() -> bool:
            hints = await first.metric("crmsync_webhook_hints_total", connection="hubspot", kind="associations")
            return hints >= 2

        async def tried() -> bool:  # the hints woke a pass, which found the lease held
            return await first.metric("crmsync_sync_passes_total", trigger="hints", result="busy") >= 1

        await eventually(acknowledged, after=first.progress, what="the association webhooks acknowledged")
        await eventually(tried, after=first.progress, what="a pass that found the run lease held")
        await first.stop()
    second = await serve(state_of=first)
    await eventually(
        lambda: account_is(new_sf), after=second.progress, what="the move delivered by the restarted service"
    )
    assert await second.metric("crmsync_webhook_requests_total", connection="hubspot", outcome="accepted") == 0


async def _hold_run_lease(served: Served, stack: contextlib.AsyncExitStack) -> None:
    """Take the run lease as a `crmsync sync` in another process would, once the service's pass lets go."""
    store = await open_store(served.config.state_url)
    stack.push_async_callback(store.aclose)

    async def taken() -> bool:
        try:
            await stack.enter_async_context(run_lease(store, new_worker_id()))
        except RunInProgressError:
            return False
        return True

    await eventually(taken, after=served.progress, what="the run lease")


async def test_a_webhook_change_is_synced_while_a_long_poll_is_still_running(serve: ServeFactory) -> None:
    served = await serve()
    await served.started()
    sb = served.sb
    # The startup poll's Dataverse reads take 8 s each; the poll itself has not finished when the edit comes.
    slow_reads = {"kind": "latency", "latency_ms": 8000, "method": "GET", "path": "/(accounts|contacts)"}
    await sb.dynamics.control.set_faults([slow_reads])
    restarted = await serve(state_of=served)  # its startup poll meets the slow reads

    # Returns once the startup poll is inside a slow Dataverse read (the emulator answers when the rule fires).
    (rule,) = await sb.dynamics.control.faults(fired=1)
    assert rule["fired"] == 1, "the startup poll never read Dataverse"
    contact = await sb.hubspot.create("contact", {"lastname": "Shepard", "email": "alan@nasa.example"})

    async def in_salesforce() -> bool:
        return bool(await sb.salesforce.find("contact", "Email", "alan@nasa.example"))

    await eventually(
        in_salesforce,
        after=restarted.progress,
        what=f"HubSpot contact {contact} in Salesforce during the poll",
        deadline_s=7,
    )
    assert await restarted.metric("crmsync_sync_passes_total", trigger="poll", result="ok") == 0  # still polling
    report = await sb.dynamics.control.clear_faults()
    assert sum(int(rule.get("fired", 0)) for rule in report) >= 1, report  # the poll did meet the slow reads
