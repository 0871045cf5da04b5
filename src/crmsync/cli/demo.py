"""`crmsync demo`: three seeded emulators, and what each holds, read over HTTP through the vendors' APIs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync.emulators.registry import VENDOR_NAMES, BuiltEmulator, VendorName, build_emulator
from crmsync.emulators.server import ServedApp, serve_in_thread

console = Console()
SF_API = "/services/data/v60.0"
DV_API = "/api/data/v9.2"


@dataclass(frozen=True)
class Contact:
    system: VendorName
    id: str
    name: str
    email: str | None
    phone: str | None
    title: str | None


def _token(vendor: VendorName, client: httpx.Client, creds: dict[str, Any], base_url: str) -> str:
    """Authenticate the way each vendor documents it (the emulators accept exactly these flows)."""
    if vendor == "hubspot":
        return str(creds["private_app_token"])
    if vendor == "salesforce":
        form = {
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        }
        response = client.post("/services/oauth2/token", data=form)
    else:
        form = {
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "scope": f"{base_url}/.default",
        }
        response = client.post(f"/{creds['tenant_id']}/oauth2/v2.0/token", data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _contacts(vendor: VendorName, client: httpx.Client) -> Iterator[Contact]:
    """Every contact through the vendor's own list/query paging."""
    if vendor == "salesforce":
        url: str | None = f"{SF_API}/query?q=SELECT Id, Name, Email, Phone, Title FROM Contact ORDER BY Id"
        while url:
            body = client.get(url).raise_for_status().json()
            for r in body["records"]:
                yield Contact(vendor, r["Id"], r["Name"], r["Email"], r["Phone"], r["Title"])
            url = body.get("nextRecordsUrl")
    elif vendor == "hubspot":
        params = {"limit": "100", "properties": "firstname,lastname,email,phone,jobtitle"}
        while True:
            body = client.get("/crm/v3/objects/contacts", params=params).raise_for_status().json()
            for r in body["results"]:
                p = r["properties"]
                name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
                yield Contact(vendor, r["id"], name, p.get("email"), p.get("phone"), p.get("jobtitle"))
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                return
            params["after"] = after
    else:
        next_url: str | None = f"{DV_API}/contacts?$select=fullname,emailaddress1,telephone1,jobtitle"
        while next_url:
            body = client.get(next_url, headers={"Prefer": "odata.maxpagesize=500"}).raise_for_status().json()
            for r in body["value"]:
                yield Contact(vendor, r["contactid"], r["fullname"], r["emailaddress1"], r["telephone1"], r["jobtitle"])
            next_url = body.get("@odata.nextLink")


def _email_key(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def demo(
    records: Annotated[int, typer.Option(min=50, max=200_000, help="Records to seed in each emulator.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic data generator.")] = 1,
) -> None:
    """Start the three emulators with overlapping seeded data and show, over HTTP, what each holds."""
    built: list[BuiltEmulator] = [build_emulator(name) for name in VENDOR_NAMES]
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("seeding the emulators", total=len(built))
        for emulator in built:
            progress.update(task, description=f"seeding {emulator.name}")
            emulator.vendor.seed(seed, records)
            progress.advance(task)
    with contextlib.ExitStack() as stack:
        served: list[ServedApp] = [stack.enter_context(serve_in_thread(e.app)) for e in built]
        counts = Table(title="What each emulator holds (read over HTTP)")
        counts.add_column("CRM", style="bold")
        counts.add_column("base URL")
        counts.add_column("records by object")
        people: dict[VendorName, list[Contact]] = {}
        for emulator, app in zip(built, served, strict=True):
            with httpx.Client(base_url=app.base_url, timeout=60) as client:
                info = client.get("/_emulator").raise_for_status().json()
                token = _token(emulator.name, client, info["credentials"], app.base_url)
                client.headers["Authorization"] = f"Bearer {token}"
                people[emulator.name] = list(_contacts(emulator.name, client))
            summary = ", ".join(f"{n:,} {name}" for name, n in info["counts"].items() if n)
            counts.add_row(emulator.name, app.base_url, summary)
        console.print(counts)
        _print_overlap(people)
    console.print(
        "Run [bold].venv/bin/crmsync emulate all[/bold] to keep the emulators running, and see README.md for "
        "their control plane (clock, faults, webhooks, statistics)."
    )


def _print_overlap(people: dict[VendorName, list[Contact]]) -> None:
    by_email: dict[str, dict[VendorName, Contact]] = {}
    for system, contacts in people.items():
        for contact in contacts:
            key = _email_key(contact.email)
            if key:
                by_email.setdefault(key, {}).setdefault(system, contact)
    shared = {key: found for key, found in by_email.items() if len(found) > 1}
    in_all = sum(1 for found in shared.values() if len(found) == 3)
    console.print(
        f"[bold]{len(shared):,}[/bold] people are in more than one CRM ({in_all:,} in all three). "
        "The same person is written differently in each — what crmsync has to reconcile:"
    )
    examples = Table(show_lines=True)
    examples.add_column("email (normalised)", overflow="fold")
    for system in VENDOR_NAMES:
        examples.add_column(system, overflow="fold")
    interesting = [f for f in shared.values() if len({(c.email, c.phone, c.title) for c in f.values()}) > 1]
    interesting.sort(key=len, reverse=True)  # people in all three systems first
    for found in interesting[:6]:
        key = _email_key(next(iter(found.values())).email) or ""
        cells = []
        for system in VENDOR_NAMES:
            c = found.get(system)
            cells.append(f"{c.name}\n{c.email!r}\n{c.phone}\n{c.title}" if c else "—")
        examples.add_row(key, *cells)
    console.print(examples)
