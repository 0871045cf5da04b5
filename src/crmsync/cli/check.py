"""`crmsync check [--fix]`: render what the configuration check found, what it fixed and what admins must create."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmsync.cli.status import load, wide_when_piped
from crmsync.config import DEFAULT_FILE, SyncConfig
from crmsync.engine.schema_check import check_targets
from crmsync.engine.schema_findings import SEVERITIES, Finding
from crmsync.engine.schema_fix import DEFAULT_TIMEOUT, CheckReport, FixOutcome, run_check
from crmsync.engine.schema_report import AdminTask

console = wide_when_piped(Console(highlight=False))
_STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}
_VENDORS = {"salesforce": "Salesforce", "hubspot": "HubSpot", "dynamics": "Dataverse"}


def _order(config: SyncConfig) -> dict[tuple[str, str], int]:
    """(connection, object) in the order the configuration syncs them (dependency order)."""
    order: dict[tuple[str, str], int] = {}
    for target in check_targets(config):
        order.setdefault((target.connection, target.object_map.object), len(order))
    return order


def _findings_table(findings: Sequence[Finding], order: dict[tuple[str, str], int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("object", overflow="fold")
    table.add_column("field", overflow="fold")
    table.add_column("finding", ratio=1, overflow="fold")
    ranked = sorted(
        findings,
        key=lambda f: (order.get((f.connection, f.object), -1), SEVERITIES.index(f.severity)),
    )
    for finding in ranked:
        text = Text(finding.message)
        if finding.fix:
            text.append(f"\n→ {finding.fix}", style="cyan")
        table.add_row(
            Text(finding.severity, style=_STYLES[finding.severity]),
            finding.object,
            finding.field or "",
            text,
        )
    return table


def _render_findings(config: SyncConfig, findings: Sequence[Finding]) -> None:
    order = _order(config)
    for name, connection in config.connections.items():
        own = [finding for finding in findings if finding.connection == name]
        if not own:
            continue
        errors = sum(1 for finding in own if finding.severity == "error")
        state = Text(f"{errors} error{'s' if errors != 1 else ''}", style="bold red") if errors else Text("ok", "green")
        console.print()
        console.print(
            Text.assemble((name, "bold"), f" ({_VENDORS.get(connection.vendor, connection.vendor)}): ", state)
        )
        console.print(_findings_table(own, order))


_MADE = {
    "hubspot": "unique property holding crmsync's ids",
    "dynamics": "text column holding crmsync's ids, with an active alternate key on it",
}


def _render_fixes(outcomes: Sequence[FixOutcome]) -> None:
    if not outcomes:
        return
    console.print()
    console.print(Text("Created through the vendor's API (--fix):", style="bold"))
    for outcome in outcomes:
        remedy = outcome.remedy
        what = f"{remedy.connection}: {remedy.object}.{remedy.field}"
        if outcome.error is not None:
            console.print(Text.assemble(("  could not create ", "bold red"), what, f": {outcome.error}"))
        elif outcome.note is not None:
            console.print(Text.assemble(("  created ", "yellow"), what, f", but {outcome.note}"))
        elif outcome.created:
            console.print(Text.assemble(("  created ", "green"), what, f" ({_MADE.get(remedy.vendor, 'created')})"))
        else:
            console.print(Text.assemble(("  already there ", "dim"), what))


def _render_admin(tasks: Sequence[AdminTask]) -> None:
    if not tasks:
        return
    console.print()
    console.print(
        Text("Left to do (a setting to add, or what crmsync cannot create through the vendor's API):", style="bold")
    )
    for task in tasks:
        console.print()
        console.print(task.instructions, soft_wrap=True, markup=False)
        # Plain aligned lines, never a table a narrow terminal would truncate: these are copied as they are.
        widths = [max(len(cell) for cell in column) for column in zip(task.columns, *task.rows, strict=True)]
        for index, row in enumerate((task.columns, *task.rows)):
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            console.print(f"  {line}", soft_wrap=True, markup=False, style="bold" if index == 0 else None)
        if task.config is not None:
            console.print(f"then in crmsync.yaml, under connections: {task.connection}:", soft_wrap=True, markup=False)
            console.print(f"    {task.config}", soft_wrap=True, markup=False)


def _render_summary(report: CheckReport) -> None:
    counts = {severity: sum(1 for f in report.findings if f.severity == severity) for severity in SEVERITIES}
    tally = f"{counts['error']} errors, {counts['warning']} warnings"
    console.print()
    if report.blocked:
        console.print(Text.assemble(("not ready to sync: ", "bold red"), tally, " — fix the errors above"))
    else:
        console.print(Text.assemble(("ready to sync: ", "bold green"), tally))


def check(
    config: Annotated[Path, typer.Option("--config", "-c", help="The configuration to check.")] = Path(DEFAULT_FILE),
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Create what the vendors' APIs can create (HubSpot properties, Dataverse columns and keys)."
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each CRM answer, retries included.")
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Check the configuration, the connections and every mapped field against what the CRMs describe."""
    loaded = load(config)  # every mistake listed, `error:` first, exit code 2 as every command
    kinds = ", ".join(loaded.kinds)
    console.print(
        Text.assemble(("crmsync check", "bold"), f" {config}: {len(loaded.connections)} connections; {kinds}")
    )
    report = asyncio.run(run_check(loaded, fix=fix, describe_timeout=timeout))
    _render_findings(loaded, report.findings)
    _render_fixes(report.fixes)
    _render_admin(report.admin)
    _render_summary(report)
    if report.blocked:
        raise typer.Exit(1)


__all__ = ["check"]
