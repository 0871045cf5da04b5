"""`crmsync demo`: three seeded emulators, a full sync, people editing each CRM, an incremental sync, and why."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from crmsync.cli.explain import render_explanation
from crmsync.cli.sync import render_report, run_with_progress
from crmsync.config.values import SyncConfig
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.inspect import explain_record
from crmsync.engine.runner import RunOptions
from crmsync.store import Store, open_store
from crmsync.store.tables import links
from crmsync.testing.sandbox import Sandbox

console = Console()


@dataclass(frozen=True, slots=True)
class Person:
    """A contact linked in all three CRMs: its canonical id and its id in each."""

    canonical_id: str
    salesforce: str
    hubspot: str
    dynamics: str


def demo(
    records: Annotated[int, typer.Option(min=20, help="Records to seed in each emulator.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic data generator.")] = 1,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo's crmsync.yaml and state database are written.")
    ] = Path("crmsync-demo"),
) -> None:
    """Run the whole story on local emulators: first sync, edits in every CRM, incremental sync, explanations."""
    asyncio.run(_story(records, seed, directory))


async def _story(records: int, seed: int, directory: Path) -> None:
    console.rule("[bold]1. Three CRMs with overlapping data")
    async with Sandbox(seed=seed, records=records) as sb:
        await _show_emulators(sb)
        shutil.rmtree(directory, ignore_errors=True)
        config = sb.load_config(directory)
        console.print(f"Configuration: {directory / 'crmsync.yaml'} (secrets in {directory / 'secrets'})")

        console.rule("[bold]2. First full sync: meet, match, merge and create")
        report = await run_with_progress(config, RunOptions(full=True), console=console)
        render_report(report, dry_run=False, console=console)

        console.rule("[bold]3. People edit the CRMs through each vendor's API")
        store = await open_store(config.state_url)
        try:
            people = await _people_everywhere(store, 5)
        finally:
            await store.aclose()
        if len(people) < 5:
            console.print("[red]The seed world has too few people in all three CRMs; try more --records.[/]")
            raise typer.Exit(1)
        edited, phoned, deleted, primary, merged = people
        await sb.salesforce.update("contact", edited.salesforce, {"Title": "VP Sales"})
        console.print(f"Salesforce: contact {edited.salesforce} title → 'VP Sales'")
        for user in (sb.salesforce, sb.hubspot, sb.dynamics):
            await user.control.advance(60)  # a minute later on every CRM's clock
        await sb.hubspot.update("contact", edited.hubspot, {"jobtitle": "Head of Sales"})
        console.print(f"HubSpot:    the same contact ({edited.hubspot}) title → 'Head of Sales', a minute later")
        await sb.dynamics.update("contact", phoned.dynamics, {"telephone1": "(415) 555-0142"})
        console.print(f"Dataverse:  contact {phoned.dynamics} phone → '(415) 555-0142'")
        await sb.dynamics.delete("contact", deleted.dynamics)
        console.print(f"Dataverse:  contact {deleted.dynamics} deleted")
        survivor = await sb.hubspot.merge("contact", primary.hubspot, merged.hubspot)
        console.print(f"HubSpot:    contact {merged.hubspot} merged into {primary.hubspot} (now {survivor})")
        new_id = await sb.hubspot.create(
            "contact", {"firstname": "Grace", "lastname": "Hopper", "email": "grace.hopper@example.com"}
        )
        console.print(f"HubSpot:    new contact Grace Hopper ({new_id})")

        console.rule("[bold]4. Incremental sync: only what changed")
        report = await run_with_progress(config, RunOptions(), console=console)
        render_report(report, dry_run=False, console=console)

        console.rule("[bold]5. What happened, and why")
        await _outcome(sb, config, edited, deleted, (primary, merged), new_id)

        console.rule("[bold]6. One more sync: nothing bounces back")
        report = await run_with_progress(config, RunOptions(), console=console)
        writes = report.total("created") + report.total("updated") + report.total("deleted")
        console.print(f"Writes in this sync: [bold]{writes}[/] (the echoes of crmsync's own writes change nothing)")

    console.rule("[bold]Where to look")
    path = directory / "crmsync.yaml"
    console.print("The emulators are gone; the state database stays. Try:")
    for command in (
        f"crmsync status -c {path}",
        f"crmsync conflicts list -c {path}",
        f"crmsync errors list -c {path}",
        f"crmsync explain contact {edited.canonical_id} -c {path}",
        f"crmsync mappings -c {path}",
    ):
        console.print(f"  [bold].venv/bin/{command}[/]")


async def _show_emulators(sb: Sandbox) -> None:
    table = Table(title="Emulators (real HTTP on loopback, seeded)")
    table.add_column("CRM")
    table.add_column("base URL")
    for kind in ("company", "contact", "deal", "activity"):
        table.add_column(kind + "s" if kind != "activity" else "activities", justify="right")
    for name, user in sb.users.items():
        counts = [str(await user.count(kind)) for kind in ("company", "contact", "deal", "activity")]
        table.add_row(name, sb.urls[name], *counts)
    console.print(table)
    console.print(
        "Shared people and companies, emails differing in case, duplicates inside one CRM, conflicting "
        "titles and phone formats, and a deal in a custom stage: what a real sync meets."
    )


async def _people_everywhere(store: Store, count: int) -> list[Person]:
    """Contacts linked in all three CRMs (one record each), in a stable order."""
    query = (
        sa.select(links.c.canonical_id)
        .where(links.c.kind == "contact")
        .group_by(links.c.canonical_id)
        .having(sa.func.count(sa.distinct(links.c.connection)) == 3, sa.func.count() == 3)
        .order_by(links.c.canonical_id)
        .limit(count)
    )
    async with store.read() as tx:
        ids = [row.canonical_id for row in await tx.connection.execute(query)]
        found = await tx.links.links_of(ids)
    people: list[Person] = []
    for canonical_id in ids:
        by_connection = {link.connection: link.remote_id for link in found.get(canonical_id, [])}
        people.append(
            Person(canonical_id, by_connection["salesforce"], by_connection["hubspot"], by_connection["dynamics"])
        )
    return people


async def _outcome(
    sb: Sandbox, config: SyncConfig, edited: Person, deleted: Person, pair: tuple[Person, Person], new_id: str
) -> None:
    row = await sb.salesforce.get("contact", edited.salesforce)
    dv_row = await sb.dynamics.get("contact", edited.dynamics)
    console.print(
        f"Same field edited in two CRMs: Salesforce now says {row and row.get('Title')!r}, Dataverse "
        f"{dv_row and dv_row.get('jobtitle')!r}: last writer wins (HubSpot's edit was a minute later); the "
        "audit keeps Salesforce's losing value."
    )
    still = [
        name
        for name, remote_id in (("salesforce", deleted.salesforce), ("hubspot", deleted.hubspot))
        if await _exists(sb, name, remote_id)
    ]
    console.print(
        "Deleted in Dataverse: "
        + ("gone from Salesforce and HubSpot too (policy propagate)." if not still else f"still in {', '.join(still)}.")
    )
    left = {name: [p for p in pair if await _exists(sb, name, getattr(p, name))] for name in ("salesforce", "dynamics")}
    console.print(
        "Merged in HubSpot: Salesforce keeps "
        + f"{len(left['salesforce'])} and Dataverse {len(left['dynamics'])} of the two records "
        + "(the other was merged away by the delete policy; links and audit follow the survivor)."
    )
    found_sf = await sb.salesforce.find("contact", "Email", "grace.hopper@example.com")
    found_dv = await sb.dynamics.find("contact", "emailaddress1", "grace.hopper@example.com")
    console.print(
        f"New in HubSpot ({new_id}): created in Salesforce ({len(found_sf)} record) and Dataverse "
        f"({len(found_dv)} record), each carrying crmsync's id in its external-id field."
    )
    store = await open_store(config.state_url)
    try:
        explanation = await explain_record(store, config, "contact", edited.canonical_id, history=3)
    finally:
        await store.aclose()
    render_explanation(console, explanation)


async def _exists(sb: Sandbox, connection: str, remote_id: str) -> bool:
    user = sb.user(_VENDORS[connection])
    return await user.get("contact", remote_id) is not None


_VENDORS: dict[str, VendorName] = {name: name for name in VENDOR_NAMES}


__all__ = ["demo"]
