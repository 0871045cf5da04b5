"""`crmsync sync`: one run (full or incremental, or a dry run that prints the plan), with progress and a summary."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from crmsync.cli.status import DEFAULT_CONFIG, ConfigOption, fail, load, state_failure, wide_when_piped
from crmsync.config.values import SyncConfig
from crmsync.engine.connections import open_connectors
from crmsync.engine.report import RunReport
from crmsync.engine.runner import Progress as RunProgress
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.scratch import scratch_copy
from crmsync.engine.views.status import state_exists
from crmsync.errors import CrmSyncError
from crmsync.heap import freeze_start_up_objects
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import open_store

console = wide_when_piped(Console())  # the process's stdout: a terminal or not, from start to end

COLUMNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("read",), "read"),
    (("new",), "new"),
    (("matched",), "met"),
    (("changed",), "chg"),
    (("conflicts",), "conf"),
    (("created",), "crt"),
    (("updated",), "upd"),
    (("deleted",), "del"),
    (("failed", "errors", "duplicates"), "err"),
)
"""Summary columns: the counters summed into each, and a short header (the legend is printed below)."""

LEGEND = (
    "read: records read · new/met: new canonical records / matched to existing ones · chg: records whose "
    "golden values changed · conf: conflicts parked · crt/upd/del: writes made · err: sync errors and duplicates"
)

DRY_RUN_LEGEND = LEGEND.replace("crt/upd/del: writes made", "crt/upd/del: writes planned")

PLANNED = {"created": "create", "updated": "update", "deleted": "delete"}
"""In a dry run, the write columns count the plan's operations."""

INCOMPLETE = (
    "The plan is incomplete: the failures listed above kept part of the data from being read or planned; "
    "fix them and run the dry run again."
)

OPERATIONS = ("create", "update", "delete", "merge")

EXIT_DELETES_HELD = 3
"""The run finished without failures, but the mass-delete breaker held deletes back: they wait for a person.

Distinct from 0 so that a sync run from cron or CI notices; a run with failures still exits 1 (worse news first).
"""


def sync(
    config_path: ConfigOption = DEFAULT_CONFIG,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything again instead of changes since the cursors.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; write nothing anywhere.")
    ] = False,
    objects: Annotated[
        list[str] | None, typer.Option("--object", help="Sync only this object kind (repeatable).")
    ] = None,
    allow_mass_delete: Annotated[
        bool, typer.Option("--allow-mass-delete", help="Apply deletes the mass-delete breaker held back.")
    ] = False,
) -> None:
    """Sync every configured connection once: read changes, reconcile, write, and summarise."""
    config = load(config_path)
    kinds: tuple[ObjectKind, ...] | None = None
    if objects:
        unknown = [o for o in objects if o not in OBJECT_KINDS]
        if unknown:
            raise fail(f"unknown object kind(s) {', '.join(unknown)}; expected: {', '.join(OBJECT_KINDS)}", 2)
        kinds = tuple(k for k in OBJECT_KINDS if k in objects)
    options = RunOptions(full=full, dry_run=dry_run, kinds=kinds, allow_mass_delete=allow_mass_delete)
    freeze_start_up_objects()  # the process ends with the sync: nothing loaded so far becomes garbage
    try:
        report = asyncio.run(run_with_progress(config, options))
    except CrmSyncError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:  # the database itself (locked, corrupt, unreachable): not a traceback
        raise state_failure(exc, config) from None
    render_report(report, dry_run=dry_run)
    if report.failures:
        raise typer.Exit(1)
    if held_deletes(report):
        raise typer.Exit(EXIT_DELETES_HELD)


async def run_with_progress(config: SyncConfig, options: RunOptions, *, console: Console = console) -> RunReport:
    """One run with a progress bar per (object, connection); a dry run works on a scratch copy of the state."""
    # Only a dry run needs a scratch folder: a real sync left one behind in /tmp whenever it was killed.
    scratch = tempfile.TemporaryDirectory(prefix="crmsync-dry-run-") if options.dry_run else contextlib.nullcontext("")
    with scratch as scratch_dir:
        if options.dry_run and not state_exists(config):
            # No state yet (no sync has run): a dry run starts from an empty scratch one, and creates no file.
            store = await open_store(f"sqlite:///{Path(scratch_dir) / 'empty.db'}")
        else:
            store = await open_store(config.state_url)
        target = store
        if options.dry_run:
            target = await scratch_copy(store, Path(scratch_dir))
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<32}"),
                BarColumn(),
                TextColumn("{task.fields[done]:>8} {task.fields[unit]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as bars:
                tasks: dict[tuple[str, str, str], TaskID] = {}

                def show(event: RunProgress) -> None:
                    key = (event.kind, event.connection, event.stage)
                    if key not in tasks:
                        label = (
                            f"{event.stage} {event.kind} {'from' if event.stage == 'read' else 'to'} {event.connection}"
                        )
                        unit = "records" if event.stage == "read" else "writes"
                        tasks[key] = bars.add_task(label, total=None, done=0, unit=unit)
                    bars.update(tasks[key], done=event.done)
                    if event.finished:
                        bars.update(tasks[key], total=1, completed=1)

                async with (
                    open_connectors(config) as connectors,
                    SyncRunner(config, target, connectors, progress=show) as runner,
                ):
                    return await runner.run(options)
        finally:
            if target is not store:
                await target.aclose()
            await store.aclose()


def render_report(report: RunReport, *, dry_run: bool, console: Console = console) -> None:
    title = "Dry run: nothing was written" if dry_run else "Sync summary"
    table = Table(title=title, show_lines=False)
    table.add_column("object", no_wrap=True)
    table.add_column("connection", no_wrap=True)  # a name cut to `salesfor…` says nothing
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    keys = [*report.counts, *(report.plan_counts if dry_run else ())]
    rows = sorted({(kind, connection) for kind, connection, _ in keys if connection != "*"})
    order: dict[str, int] = {kind: n for n, kind in enumerate(OBJECT_KINDS)}
    for kind, connection in sorted(rows, key=lambda r: (order.get(r[0], 9), r[1])):
        cells = [str(_cell(report, kind, connection, whats, dry_run) or "") for whats, _ in COLUMNS]
        table.add_row(kind, connection, *cells)
    console.print(table)
    console.print(DRY_RUN_LEGEND if dry_run else LEGEND, style="dim")
    deletes = sorted((k, w, n) for (k, c, w), n in report.counts.items() if c == "*" and n)
    for kind, what, n in deletes:
        console.print(f"{kind}: {n} {what.replace('_', ' ')}")
    for line in _filtered(report):
        console.print(line, highlight=False)
    for line in waiting_for_parents(report):
        console.print(line, style="yellow", highlight=False)
    for note in report.notes:  # an alert asks a person to act; a plain note only says why the run went as it did
        console.print(note, style="bold red" if note in report.alerts else None, highlight=False)
    for failure in report.failures:
        console.print(f"[bold red]FAILED {failure}[/] (its changes stay queued for the next sync)")
    if not dry_run:
        for line in next_steps(report):
            console.print(line, style="yellow", highlight=False)
    if dry_run:
        render_plan(report, console)
    held = held_deletes(report)
    if held:  # last, so it is what the operator reads when the run ends
        console.print(released_by(held, dry_run=dry_run), style="bold yellow", highlight=False)


def waiting_for_parents(report: RunReport) -> list[str]:
    """Records read but not synced because a parent is not linked yet: `sync --object deal` on a state that holds no
    companies read every deal, synced none, and said nothing (a dry run: "every connection already agrees")."""
    # Counted per read (a hint about a waiting record may read it a second time): the queue has the number of records.
    kinds = {kind for (kind, _, what), n in report.counts.items() if what == "waiting" and n}
    return [
        f"{kind}: records wait for a parent crmsync has not synced yet, read again by each sync until it has "
        "(`crmsync status` counts them): a `crmsync sync` of every kind, or --object for the parents' too"
        for kind in OBJECT_KINDS
        if kind in kinds
    ]


def next_steps(report: RunReport) -> list[str]:
    """What the run left for a person, with the command that shows it: the run exits 0 with records refused by a
    CRM and conflicts parked, and a count in a table column is easy to miss."""
    conflicts = report.total("conflicts")
    errors = sum(report.total(what) for what in ("failed", "errors", "duplicates"))
    lines = []
    if conflicts:
        noun = "conflict" if conflicts == 1 else "conflicts"
        lines.append(
            f"{conflicts} {noun} parked for a person: `crmsync conflicts list`, then `crmsync conflicts resolve`"
        )
    if errors:
        noun = "sync error or duplicate" if errors == 1 else "sync errors and duplicates"
        lines.append(f"{errors} {noun} recorded: `crmsync errors list`; fix at the source, then `crmsync errors retry`")
    return lines


def held_deletes(report: RunReport) -> dict[str, int]:
    """Deletes the mass-delete breaker held back in this run, per object kind (in dependency order)."""
    order: dict[str, int] = {kind: n for n, kind in enumerate(OBJECT_KINDS)}
    held = {kind: n for (kind, connection, what), n in report.counts.items() if what == "delete_held" and n}
    return dict(sorted(held.items(), key=lambda item: (order.get(item[0], 9), item[0])))


def released_by(held: dict[str, int], *, dry_run: bool) -> str:
    """The closing line of a run whose deletes were held: what waits, and the command that lets them through."""
    total = sum(held.values())
    what = ", ".join(f"{kind} {n}" for kind, n in held.items())
    noun = "delete" if total == 1 else "deletes"
    verb = "would be held" if dry_run else "held, waiting for approval"
    return (
        f"{total} {noun} {verb} by the mass-delete breaker ({what}); nothing was deleted. "
        "Check them (`crmsync sync --dry-run --allow-mass-delete` plans them), then release them with "
        f"`crmsync sync --allow-mass-delete`. Until then `crmsync sync` exits {EXIT_DELETES_HELD}."
    )


def _filtered(report: RunReport) -> list[str]:
    """Records the filter kept out: without a word, a record made in one CRM seemed to be ignored for no reason."""
    per: dict[str, dict[str, int]] = {}
    for (kind, connection, what), n in report.counts.items():
        if what == "filtered" and n:
            per.setdefault(kind, {})[connection] = n
    lines = []
    order: dict[str, int] = {kind: n for n, kind in enumerate(OBJECT_KINDS)}
    for kind, counted in sorted(per.items(), key=lambda item: (order.get(item[0], 9), item[0])):
        total = sum(counted.values())
        where = ", ".join(f"{connection} {n}" for connection, n in sorted(counted.items()))
        noun = "record" if total == 1 else "records"
        lines.append(f"{kind}: {total} {noun} kept out by objects.{kind}.filter, not synced ({where})")
    return lines


def _cell(report: RunReport, kind: str, connection: str, whats: tuple[str, ...], dry_run: bool) -> int:
    if dry_run and whats[0] in PLANNED:
        # Nothing was written: the writes column shows what the plan would write (all of it, listed or not).
        return report.plan_counts.get((kind, connection, PLANNED[whats[0]]), 0)
    return sum(report.counts.get((kind, connection, w), 0) for w in whats)


def plan_totals(report: RunReport) -> str:
    """`salesforce 1000 creates, 14 updates; hubspot …`: every write of the plan per connection, listed or not."""
    per: dict[str, Counter[str]] = {}
    for (_, connection, operation), n in sorted(report.plan_counts.items(), key=lambda item: item[0][1]):
        per.setdefault(connection, Counter())[operation] += n
    return "; ".join(
        f"{connection} " + ", ".join(f"{n} {op}{'s' if n != 1 else ''}" for op in OPERATIONS if (n := counted[op]))
        for connection, counted in per.items()
    )


def render_plan(report: RunReport, console: Console, limit: int = 200) -> None:
    total = report.plan_total
    if not total:
        if report.failures:
            console.print(INCOMPLETE, style="bold red")
        elif waiting_for_parents(report):
            console.print("The plan is empty for now: records above wait for their parents.")
        else:
            console.print("The plan is empty: every connection already agrees.")
        return
    console.print(f"[bold]Plan[/] ({total} writes: {plan_totals(report)}):", highlight=False)
    for write in report.plan[:limit]:
        where = f"{write.kind} {write.canonical_id} in {write.connection}"  # whole: `explain` takes it as it is
        if write.remote_id:
            where += f" ({write.remote_id})"
        console.print(f"  {write.operation:<6} {where}")
        for name, old, new in write.changes:
            console.print(f"           {name}: {old!r} → {new!r}")
    shown = min(len(report.plan), limit)
    if total > shown:
        console.print(f"  … and {total - shown} more", highlight=False)
    if report.failures:
        console.print(INCOMPLETE, style="bold red")


__all__ = ["EXIT_DELETES_HELD", "held_deletes", "render_report", "run_with_progress", "sync"]
