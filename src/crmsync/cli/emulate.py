"""`crmsync emulate`: serve one or all vendor emulators, seeded, and print how to connect."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.text import Text

from crmsync.cli.status import fail
from crmsync.emulators.registry import (
    DEFAULT_PORTS,
    VENDOR_NAMES,
    BuiltEmulator,
    EmulatorConfigError,
    VendorName,
    build_emulator,
    setting_names,
    unknown_env_settings,
)
from crmsync.emulators.server import PortUnavailableError, ServedApp, bind_sockets, serve_many
from crmsync.emulators.tls import generate_certificates

console = Console()


class Target(StrEnum):
    salesforce = "salesforce"
    hubspot = "hubspot"
    dynamics = "dynamics"
    all = "all"


def parse_settings(settings: list[str]) -> dict[VendorName, dict[str, str]]:
    """`vendor.field=value` pairs into per-vendor overrides, with a clear error for a malformed one."""
    parsed: dict[VendorName, dict[str, str]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        vendor, dot, field = key.partition(".")
        if not sep or not dot or vendor not in VENDOR_NAMES or not field:
            raise typer.BadParameter(
                f"{item!r}: expected VENDOR.FIELD=VALUE with VENDOR one of {', '.join(VENDOR_NAMES)}",
                param_hint="--set",
            )
        parsed.setdefault(vendor, {})[field] = value
    return parsed


def build_all(
    names: list[VendorName], settings: dict[VendorName, dict[str, str]], environ: Mapping[str, str] | None = None
) -> list[BuiltEmulator]:
    built = []
    for name in names:
        typos = unknown_env_settings(name, environ)
        if typos:
            known = ", ".join(sorted(setting_names(name)))
            raise typer.BadParameter(
                f"{', '.join(typos)}: no such {name} setting; known settings: {known}",
                param_hint="CRMSYNC_<VENDOR>_<FIELD>",
            )
        try:
            built.append(build_emulator(name, settings.get(name), environ))
        except EmulatorConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--set / CRMSYNC_<VENDOR>_<FIELD>") from exc
    return built


def print_connection_table(served: list[ServedApp], built: list[BuiltEmulator], ca_file: Path | None) -> None:
    # Plain lines, never a table: a table cuts a token or a key to the width (80 columns when piped), and
    # these are copied as they are into a client's settings.
    console.print("[bold]crmsync emulators[/bold]")
    for app, emulator in zip(served, built, strict=True):
        console.print()
        console.print(Text.assemble((emulator.name, "bold"), "  ", app.base_url), soft_wrap=True)
        console.print("  credentials it accepts:")
        for key, value in emulator.vendor.credentials().items():
            shown = (
                value.rstrip("\n")
                if isinstance(value, str)
                else ", ".join(map(str, value))
                if isinstance(value, list)
                else str(value)
            )
            console.print(Text(f"    {key}: {shown}"), soft_wrap=True)
    console.print()
    if ca_file is not None:
        console.print(Text.assemble("TLS test CA (trust it in your client): ", (str(ca_file), "bold")), soft_wrap=True)
    console.print("Control plane: <base URL>/_emulator (reset, seed, clock, faults, stats, deliveries). Ctrl-C stops.")


def emulate(
    target: Annotated[Target, typer.Argument(help="Which emulator to run.")] = Target.all,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(help="Port (with 'all': the first of three consecutive ports). Default 18081-18083."),
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a generated test CA.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic data generator.")] = 1,
    records: Annotated[int, typer.Option(min=0, help="Records to seed in each emulator.")] = 1000,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting: VENDOR.FIELD=VALUE (repeatable)."),
    ] = None,
    tls_dir: Annotated[Path | None, typer.Option(help="Where to write the test CA and certificate.")] = None,
) -> None:
    """Serve faithful local emulators of the Salesforce, HubSpot and Dataverse APIs."""
    names: list[VendorName] = list(VENDOR_NAMES) if target is Target.all else [cast(VendorName, target.value)]
    built = build_all(names, parse_settings(setting or []))
    ports = [port + i for i in range(len(built))] if port is not None else [DEFAULT_PORTS[n] for n in names]
    try:  # before seeding: a taken port is known at once
        sockets = bind_sockets(names, host, ports)
    except PortUnavailableError as exc:
        choose = "--port FIRST (with 'all': FIRST and the next two)" if len(names) > 1 else "--port PORT"
        raise fail(f"{exc}; choose other ports with {choose}") from None
    for emulator in built:
        started = time.perf_counter()
        counts = emulator.vendor.seed(seed, records)
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        console.print(f"seeded {emulator.name}: {summary} in {elapsed:.1f}s")
    # This process only serves emulators: keep the seeded heap out of every later collection and
    # collect less often (allocation-heavy request handling otherwise spends ~1/3 of its time in GC).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    certificates = generate_certificates(tls_dir) if tls else None
    asyncio.run(
        serve_many(
            [(e.name, e.app) for e in built],
            host=host,
            sockets=sockets,
            tls=certificates,
            on_ready=lambda served: print_connection_table(
                served, built, certificates.ca_file if certificates else None
            ),
        )
    )
