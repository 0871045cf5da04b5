"""`crmsync demo`: three seeded emulators, a full sync, people editing each CRM, an incremental sync, and why."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from crmsync.cli.explain import render_explanation
from crmsync.cli.mappings import VENDOR_LABELS
from crmsync.cli.sync import render_report, run_with_progress
from crmsync.config.values import SyncConfig
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.runner import RunOptions
from crmsync.engine.views.conflicts import list_conflicts
from crmsync.engine.views.errors import list_errors
from crmsync.engine.views.explain import explain_record
from crmsync.model.values import ObjectKind
from crmsync.service.app import SyncService
from crmsync.service.logs import configure_logging
from crmsync.store import Store, open_store
from crmsync.store.tables import links
from crmsync.testing.sandbox import Sandbox

console = Console()

DASHBOARD_TOKEN_FILE = "secrets/dashboard_token"
DASHBOARD_PORTS = range(8080, 8100)
DEMO_POLL_INTERVAL_S = 30.0
DEMO_OBJECTS = """
company: {}
contact: {fields: {mailing_city: {policy: manual}}}
deal: {}
activity: {}
"""
"""Every kind with its defaults, and one field a person decides: the story parks a conflict on it to look at."""
RENEWAL_DEAL = "Globex - Renewal 2027"
RENEWALS_PIPELINE, RENEWAL_DUE = "75123456", "75123457"  # a pipeline the portal made, numeric ids as HubSpot gives
LONG_TITLE = (
    "Senior Vice President, Global Strategic Partnerships, Channel Alliances and Ecosystem Development for "
    "EMEA, APAC, LATAM and North America"
)


@dataclass(frozen=True, slots=True)
class Linked:
    """A record linked in all three CRMs: its canonical id and its id in each."""

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
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Then serve the dashboard over the demo's emulators until Ctrl-C (default: when run from a terminal).",
        ),
    ] = None,
) -> None:
    """Run the whole story on local emulators: first sync, edits in every CRM, incremental sync, explanations.

    From a terminal it then serves the dashboard over the same emulators and state until interrupted.
    """
    try:
        asyncio.run(_story(records, seed, directory, sys.stdout.isatty() if serve is None else serve))
    except KeyboardInterrupt:
        console.print("Stopped; the emulators are gone, the state database stays.")


def _write_dashboard_token(directory: Path) -> dict[str, object]:
    """A fresh operator token in <dir>/secrets/dashboard_token (owner-only); the `service:` section that reads it."""
    path = directory / DASHBOARD_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    token = {"name": "demo", "role": "operator", "token": {"file": DASHBOARD_TOKEN_FILE}}
    return {
        "poll_interval_s": DEMO_POLL_INTERVAL_S,
        "register_emulator_webhooks": True,
        "dashboard": {"tokens": [token]},
    }


def free_port(host: str = "127.0.0.1", candidates: range = DASHBOARD_PORTS) -> int:
    """The first port of `candidates` nobody listens on (8080 first), else any free port."""
    for port in (*candidates, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on the loopback interface")


class _DemoServer(uvicorn.Server):
    """Stops on Ctrl-C (a second one forces it) without re-raising the signal, so the demo then closes cleanly."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._interrupted)
        try:
            yield
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()  # set once it accepts connections: the address is printed then

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    def _interrupted(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


async def _serve_dashboard(config: SyncConfig, directory: Path) -> None:
    """`crmsync serve` over the demo's emulators and state, on 127.0.0.1, until Ctrl-C."""
    configure_logging(config, json=False, level=logging.WARNING)  # secrets masked; the passes' chatter left out
    host, port = "127.0.0.1", free_port()
    url = f"http://{host}:{port}"
    store = await open_store(config.state_url)
    try:
        service = SyncService(config, store=store, service_url=url)
        server = _DemoServer(
            uvicorn.Config(service.app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")
        )
        console.rule("[bold]7. The dashboard")
        serving = asyncio.create_task(server.serve())
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait((serving, listening), return_when=asyncio.FIRST_COMPLETED)  # a failed start ends serving
        listening.cancel()
        if server.started:
            console.print(f"Dashboard: [bold]{url}/[/]  (sign in with the token in {directory / DASHBOARD_TOKEN_FILE})")
            console.print(
                "It shows the demo's conflicts and sync errors; edits made in the emulators arrive by webhook. "
                "Press Ctrl-C to stop."
            )
        await serving
    finally:
        await store.aclose()
    console.print("Stopped; the emulators are gone, the state database stays.")


async def _story(records: int, seed: int, directory: Path, serve: bool) -> None:
    console.rule("[bold]1. Three CRMs with overlapping data")
    async with Sandbox(seed=seed, records=records) as sb:
        await _show_emulators(sb)
        shutil.rmtree(directory, ignore_errors=True)
        config = sb.load_config(directory, objects_yaml=DEMO_OBJECTS, service=_write_dashboard_token(directory))
        console.print(f"Configuration: {directory / 'crmsync.yaml'} (secrets in {directory / 'secrets'})")
        renewal = await sb.hubspot.create(
            "deal",
            {
                "dealname": RENEWAL_DEAL,
                "pipeline": RENEWALS_PIPELINE,
                "dealstage": RENEWAL_DUE,
                "amount": "24000",
                "closedate": "2027-03-31T00:00:00Z",
            },
        )
        console.print(
            f"HubSpot:    deal {renewal} '{RENEWAL_DEAL}' in the portal's own Renewals pipeline, 'Renewal Due'"
        )

        console.rule("[bold]2. First full sync: meet, match, merge and create")
        report = await run_with_progress(config, RunOptions(full=True), console=console)
        render_report(report, dry_run=False, console=console)

        console.rule("[bold]3. People edit the CRMs through each vendor's API")
        store = await open_store(config.state_url)
        try:
            people = await _people_everywhere(store, 7)
            companies = await _companies_everywhere(store, 2)
        finally:
            await store.aclose()
        if len(people) < 7 or len(companies) < 2:
            console.print("[red]The seed world has too few records in all three CRMs; try more --records.[/]")
            raise typer.Exit(1)
        edited, phoned, deleted, primary, merged, wordy, mover = people
        await sb.salesforce.update("contact", edited.salesforce, {"Title": "VP Sales"})
        console.print(f"Salesforce: contact {edited.salesforce} title → 'VP Sales'")
        for user in (sb.salesforce, sb.hubspot, sb.dynamics):
            await user.control.advance(60)  # a minute later on every CRM's clock
        await sb.hubspot.update("contact", edited.hubspot, {"jobtitle": "Head of Sales"})
        console.print(f"HubSpot:    the same contact ({edited.hubspot}) title → 'Head of Sales', a minute later")
        await sb.dynamics.update("contact", phoned.dynamics, {"telephone1": "(415) 555-0142"})
        console.print(f"Dataverse:  contact {phoned.dynamics} phone → '(415) 555-0142'")
        await sb.salesforce.update("contact", phoned.salesforce, {"MailingCity": "Lisbon"})
        await sb.hubspot.update("contact", phoned.hubspot, {"city": "Porto"})
        console.print(
            f"Salesforce and HubSpot: contact {phoned.salesforce} / {phoned.hubspot} city → 'Lisbon' and 'Porto' "
            "(mailing_city's policy is manual: a person decides)"
        )
        await sb.dynamics.delete("contact", deleted.dynamics)
        console.print(f"Dataverse:  contact {deleted.dynamics} deleted")
        survivor = await sb.hubspot.merge("contact", primary.hubspot, merged.hubspot)
        console.print(f"HubSpot:    contact {merged.hubspot} merged into {primary.hubspot} (now {survivor})")
        new_id = await sb.hubspot.create(
            "contact", {"firstname": "Grace", "lastname": "Hopper", "email": "grace.hopper@example.com"}
        )
        console.print(f"HubSpot:    new contact Grace Hopper ({new_id})")
        await sb.hubspot.update("contact", wordy.hubspot, {"jobtitle": LONG_TITLE})
        console.print(
            f"HubSpot:    contact {wordy.hubspot} title → {len(LONG_TITLE)} characters "
            "(Salesforce holds 128, Dataverse 100)"
        )

        moved_to = await _move(sb, mover, companies)
        console.print(
            f"HubSpot:    contact {mover.hubspot} moved to company {moved_to.hubspot} "
            "(an association change: HubSpot leaves the contact's modification date alone)"
        )

        console.rule("[bold]4. Incremental sync: only what changed")
        report = await run_with_progress(config, RunOptions(), console=console)
        render_report(report, dry_run=False, console=console)

        console.rule("[bold]5. What happened, and why")
        await _outcome(sb, config, edited, deleted, (primary, merged), new_id)
        await _bad_and_custom(sb, config, wordy, renewal)
        await _moved(sb, mover, moved_to)

        console.rule("[bold]6. One more sync: nothing bounces back")
        report = await run_with_progress(config, RunOptions(), console=console)
        writes = report.total("created") + report.total("updated") + report.total("deleted")
        console.print(f"Writes in this sync: [bold]{writes}[/] (the echoes of crmsync's own writes change nothing)")

        console.rule("[bold]Where to look")
        path = directory / "crmsync.yaml"
        console.print("The state database stays when the emulators are gone. Try:")
        for command in (
            f"crmsync status -c {path}",
            f"crmsync conflicts list -c {path}",
            f"crmsync errors list -c {path}",
            f"crmsync explain contact {edited.canonical_id} -c {path}",
            f"crmsync mappings -c {path}",
        ):
            console.print(f"  [bold].venv/bin/{command}[/]")
        if serve:
            await _serve_dashboard(config, directory)
        else:
            console.print("Run `make demo` from a terminal (or add --serve) to browse it all in the dashboard.")


async def _show_emulators(sb: Sandbox) -> None:
    table = Table(title="Emulators (real HTTP on loopback, seeded)")
    table.add_column("CRM")
    table.add_column("base URL")
    kinds = {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "activities"}
    for heading in kinds.values():
        table.add_column(heading, justify="right")
    for name, user in sb.users.items():
        counts = [str(await user.count(kind)) for kind in kinds]
        table.add_row(name, sb.urls[name], *counts)
    console.print(table)
    console.print(
        "Shared people and companies, emails differing in case, duplicates inside one CRM, conflicting "
        "titles and phone formats, and a deal in a custom stage: what a real sync meets."
    )


async def _people_everywhere(store: Store, count: int) -> list[Linked]:
    """Contacts linked in all three CRMs (one record each), in a stable order."""
    return await _linked_everywhere(store, "contact", count)


async def _companies_everywhere(store: Store, count: int) -> list[Linked]:
    """Companies linked in all three CRMs (one record each), in a stable order."""
    return await _linked_everywhere(store, "company", count)


async def _linked_everywhere(store: Store, kind: ObjectKind, count: int) -> list[Linked]:
    query = (
        sa.select(links.c.canonical_id)
        .where(links.c.kind == kind)
        .group_by(links.c.canonical_id)
        .having(sa.func.count(sa.distinct(links.c.connection)) == 3, sa.func.count() == 3)
        .order_by(links.c.canonical_id)
        .limit(count)
    )
    async with store.read() as tx:
        ids = [row.canonical_id for row in await tx.connection.execute(query)]
        found = await tx.links.links_of(ids)
    linked: list[Linked] = []
    for canonical_id in ids:
        by_connection = {link.connection: link.remote_id for link in found.get(canonical_id, [])}
        linked.append(
            Linked(canonical_id, by_connection["salesforce"], by_connection["hubspot"], by_connection["dynamics"])
        )
    return linked


async def _move(sb: Sandbox, person: Linked, companies: list[Linked]) -> Linked:
    """Move `person` in HubSpot to the first of `companies` it is not associated with."""
    current = await sb.hubspot.associated("contact", person.hubspot, "company")
    target = next(company for company in companies if company.hubspot not in current)
    for old in current:
        await sb.hubspot.dissociate("contact", person.hubspot, "company", old)
    await sb.hubspot.associate("contact", person.hubspot, "company", target.hubspot)
    return target


async def _moved(sb: Sandbox, person: Linked, company: Linked) -> None:
    """Where the contact moved in HubSpot now works in the other two CRMs (S15 by polling)."""
    sf_row = await sb.salesforce.get("contact", person.salesforce, ["AccountId"])
    dv_row = await sb.dynamics.get("contact", person.dynamics, ["_parentcustomerid_value"])
    followed = [
        label
        for label, row, field, twin in (
            ("Salesforce", sf_row, "AccountId", company.salesforce),
            ("Dataverse", dv_row, "_parentcustomerid_value", company.dynamics),
        )
        if row is not None and row.get(field) == twin
    ]
    console.print(
        "Moved to another company in HubSpot: "
        + (
            "Salesforce's AccountId and Dataverse's parent account follow. No modification date told of it: "
            "the incremental sync read the associations of HubSpot's contacts and read again the one that moved."
            if len(followed) == 2
            else f"followed in {', '.join(followed) or 'neither CRM'} only (unexpected; see `crmsync explain`)."
        )
    )


async def _outcome(
    sb: Sandbox, config: SyncConfig, edited: Linked, deleted: Linked, pair: tuple[Linked, Linked], new_id: str
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
        + "(the other was merged by each CRM's own merge, Dataverse's Merge action and Salesforce's merge() call, "
        + "which move its activities to the record kept; links and audit follow the survivor)."
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
        parked = [c for c in await list_conflicts(store, kind="contact") if c.field == "mailing_city"]
    finally:
        await store.aclose()
    console.print(
        "City edited differently in two CRMs under policy manual: "
        + (
            f"parked as conflict #{parked[0].id} for a person to decide (the dashboard, or `crmsync conflicts`)."
            if parked
            else "not parked (unexpected; see `crmsync conflicts list`)."
        )
    )
    render_explanation(console, explanation)


async def _bad_and_custom(sb: Sandbox, config: SyncConfig, wordy: Linked, renewal: str) -> None:
    """What became of the title no other CRM can hold (S20), and of the deal in a custom stage."""
    store = await open_store(config.state_url)
    try:
        report = await list_errors(store, config, kind="contact")
        async with store.read() as tx:
            deal_id = await tx.links.canonical_id("hubspot", "deals", renewal)
            twins = {link.connection: link.remote_id for link in await tx.links.remote_links(deal_id or "")}
    finally:
        await store.aclose()
    # In the configuration's order of connections, not the order the errors were stored in (which varies).
    order = {name: i for i, name in enumerate(config.connections)}
    refused = sorted(
        (e for e in report.errors if e.canonical_id == wordy.canonical_id),
        key=lambda e: (order.get(e.connection, len(order)), e.connection),
    )
    console.print(
        f"A {len(LONG_TITLE)}-character title from HubSpot: "
        + (
            "refused by "
            + " and ".join(f"{VENDOR_LABELS.get(e.connection, e.connection)} ({e.message})" for e in refused)
            + "; each a sync error naming the record and field, retried when the title changes "
            "(`crmsync errors list`). The person's other fields, and every other record, synced."
            if refused
            else "taken everywhere (unexpected; see `crmsync errors list`)."
        )
    )
    sf_row = await sb.salesforce.get("deal", twins["salesforce"], ["StageName"]) if "salesforce" in twins else None
    dv_row = await sb.dynamics.get("deal", twins["dynamics"], ["statecode"]) if "dynamics" in twins else None
    states: dict[Any, str] = {0: "open", 1: "won", 2: "lost"}
    dv_state = states.get(dv_row.get("statecode")) if dv_row else None
    console.print(
        f"Deal '{RENEWAL_DEAL}' in HubSpot's Renewals pipeline: Salesforce holds it as "
        f"{sf_row and sf_row.get('StageName')!r} and Dataverse as {dv_state!r} "
        "(neither has a renewal stage; `crmsync mappings` shows every stage map)."
    )


async def _exists(sb: Sandbox, connection: str, remote_id: str) -> bool:
    """Live there: a Dataverse row merged into another stays readable (inactive, `masterid` set) but is gone."""
    row = await sb.user(_VENDORS[connection]).get("contact", remote_id)
    return row is not None and row.get("_masterid_value") is None


_VENDORS: dict[str, VendorName] = {name: name for name in VENDOR_NAMES}


__all__ = ["demo"]
