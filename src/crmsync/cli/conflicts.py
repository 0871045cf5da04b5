"""`crmsync conflicts list|show|resolve`: conflicts parked for a person, and settling them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmsync.cli.status import (
    BESIDE_SERVE,
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    KindName,
    console,
    fail,
    load,
    plural,
    print_json,
    show_time,
    show_value,
    with_store,
)
from crmsync.config import SyncConfig
from crmsync.engine.connections import open_connectors
from crmsync.engine.reentry import DELETED_FIELD
from crmsync.engine.resolution import DEFAULT_BY, GOLDEN_SIDE, ResolutionOutcome, resolve
from crmsync.engine.resolution_checks import AskedFields, RequiredCheck, blank_choice, required_in
from crmsync.engine.resolution_checks import refuse_a_required_blank as refuse_required_blank
from crmsync.engine.schema_fix import DEFAULT_TIMEOUT
from crmsync.engine.views.common import OperatorError
from crmsync.engine.views.conflicts import ConflictDetail, ConflictView, conflict_detail, list_conflicts
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Store

conflicts_app = typer.Typer(
    name="conflicts",
    help="Conflicts parked for a person (policy `manual`): list, show and resolve them.",
    no_args_is_help=True,
)

ObjectOption = Annotated[KindName | None, typer.Option("--object", "-o", help="Only conflicts of this object kind.")]


@conflicts_app.command("list")
def list_command(
    config: ConfigOption = DEFAULT_CONFIG,
    object_kind: ObjectOption = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include resolved conflicts.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List open conflicts (oldest first), with each connection's side and the golden value now."""
    settings = load(config)
    kind = object_kind.kind if object_kind is not None else None
    views = with_store(settings, lambda store: list_conflicts(store, kind=kind, include_resolved=include_resolved))
    if as_json:
        print_json(views)
        return
    out = console()
    if not views:
        out.print(Text("No open conflicts." if not include_resolved else "No conflicts.", style="green"))
        return
    render_list(out, views, include_resolved)
    open_ones = sum(1 for v in views if not v.resolved)
    out.print(Text(f"{plural(open_ones, 'open conflict')}. ", style="bold"), end="")
    out.print(
        "See one with `crmsync conflicts show ID`; settle it with `crmsync conflicts resolve ID --take CONNECTION`."
    )


def render_list(out: Console, views: tuple[ConflictView, ...], include_resolved: bool) -> None:
    table = Table(title="Conflicts", title_justify="left", show_lines=True)
    table.add_column("id", justify="right", no_wrap=True)
    # Fold rather than cut: an id or a time with an ellipsis is useless to an operator.
    for heading in ("record", "field", "base", "sides", "golden now", "parked"):
        table.add_column(heading, overflow="fold")
    if include_resolved:
        table.add_column("status", overflow="fold")
    for view in views:
        row: list[Text | str] = [
            Text(str(view.id), style="bold"),
            _record(view),
            Text(view.field),
            _value(view, view.base) if view.has_base else Text("(first meeting)", style="dim"),
            _sides(view),
            _value(view, view.golden),
            show_time(view.created_at),
        ]
        if include_resolved:
            row.append(_status(view))
        table.add_row(*row)
    out.print(table)


@conflicts_app.command("show")
def show_command(
    conflict_id: Annotated[int, typer.Argument(help="The conflict's id (from `crmsync conflicts list`).")],
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Show one conflict: base, each side, the golden value now, and the record's other fields for context."""
    settings = load(config)
    detail = with_store(settings, lambda store: conflict_detail(store, conflict_id))
    if as_json:
        print_json(detail)
        return
    render_detail(console(), detail)


def render_detail(out: Console, detail: ConflictDetail) -> None:
    view = detail.conflict
    out.print(
        Text.assemble(
            (f"Conflict #{view.id} ", "bold"),
            "on ",
            (view.field, "bold"),
            " of ",
            _record(view, inline=True),
            (" (deleted)" if detail.deleted else "", "red"),
        )
    )
    out.print(Text.assemble("parked ", show_time(view.created_at), "  ", _status(view)))
    sides = Table(title="Values", title_justify="left")
    sides.add_column("")
    sides.add_column("connection")
    sides.add_column("value")
    sides.add_column("changed at")
    sides.add_row("base", "", _value(view, view.base) if view.has_base else Text("(first meeting: no base)"), "")
    for side in view.sides:
        sides.add_row("side", Text(side.connection, style="bold"), _value(view, side.value), show_time(side.at))
    sides.add_row("golden now", "", _value(view, view.golden), "")
    out.print(sides)
    if detail.links:
        out.print(
            Text.assemble(
                ("Linked: ", "bold"),
                ", ".join(f"{link.connection} {link.object} {link.remote_id}" for link in detail.links),
            )
        )
    if detail.fields:
        record = Table(title="The record's golden values", title_justify="left")
        record.add_column("field")
        record.add_column("value")
        for name, value in detail.fields.items():
            marker = (
                " ◀ this conflict"
                if name == view.field
                else " (also in conflict)"
                if name in detail.other_conflicts
                else ""
            )
            record.add_row(Text(name + marker, style="bold" if marker else ""), show_value(value))
        out.print(record)
    if not view.resolved and view.field == DELETED_FIELD:
        out.print(_delete_hint(view), markup=False)
    elif not view.resolved:
        takes = " | ".join(f"--take {s.connection}" for s in view.sides)
        keep = f", `--take {GOLDEN_SIDE}` (keep golden now)" if view.has_base else ""
        out.print(f"Resolve with `crmsync conflicts resolve {view.id} {takes}`{keep} or `--value TEXT`.", markup=False)


@conflicts_app.command("resolve")
def resolve_command(
    conflict_id: Annotated[
        int | None,
        typer.Argument(help="The conflict's id (from `crmsync conflicts list`); or --field for all on one field."),
    ] = None,
    take: Annotated[
        str | None,
        typer.Option(
            "--take",
            help=f"Take this connection's side, or `{GOLDEN_SIDE}` to keep the value the golden record holds now "
            "(`golden now` in `conflicts list`; not on a first meeting, where it holds none).",
        ),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Set this value instead, in the field's type: text, number, true/false, YYYY-MM-DD, "
            "ISO date-time, `a;b` for a multi-select; empty clears the field.",
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who decided, for the audit trail.")] = DEFAULT_BY,
    field: Annotated[
        str | None,
        typer.Option(
            "--field", help="Instead of an id: settle every open conflict on this field with --take's side (a rule)."
        ),
    ] = None,
    object_kind: ObjectOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Settle a conflict; the chosen value is queued for every connection and the next `crmsync sync` delivers it."""
    if (take is None) == (value is None):
        raise typer.BadParameter("give exactly one of --take CONNECTION or --value TEXT", param_hint="--take/--value")
    if field is not None or object_kind is not None:
        if field is None or conflict_id is not None or take is None:
            raise typer.BadParameter(
                "settle by rule with --field FIELD [--object KIND] --take CONNECTION, and no conflict id",
                param_hint="--field",
            )
        kind = object_kind.kind if object_kind is not None else None
        resolve_by_rule(load(config), field, kind, take, by)
        return
    if conflict_id is None:
        raise typer.BadParameter("give the conflict's id, or --field to settle every conflict on a field")
    settings = load(config)
    refuse_a_required_blank(settings, conflict_id, take, value)
    outcome = with_store(settings, lambda store: resolve(store, settings, conflict_id, take, value, by))
    render_outcome(console(), outcome, kept_golden=take == GOLDEN_SIDE)


def resolve_by_rule(settings: SyncConfig, field: str, kind: ObjectKind | None, take: str, by: str) -> None:
    """Every open conflict on `field` (of `kind`) settled with `take`'s side, as the dashboard's rule does; a conflict
    that side cannot settle (it holds no side there, or would clear a field a CRM requires) is left open, with why."""
    kinds = [kind] if kind is not None else list(settings.objects)
    known = {name for m in settings.mappings for name in m.canonical_fields if m.kind in kinds}
    if field not in known and field != DELETED_FIELD:
        where = kind or "any synced object"
        raise typer.BadParameter(f"{field!r} is not a field of {where}", param_hint="--field")
    if take != GOLDEN_SIDE and take not in settings.connections:
        known_names = ", ".join(sorted(settings.connections))
        raise typer.BadParameter(f"{take!r} is not a connection in {settings.file}: {known_names}", param_hint="--take")

    async def settle(store: Store) -> tuple[list[ResolutionOutcome], list[tuple[int, str]], set[str]]:
        resolved: list[ResolutionOutcome] = []
        skipped: list[tuple[int, str]] = []
        unasked: set[str] = set()
        asked: AskedFields = {}
        async with open_connectors(settings) as connectors:
            for conflict in await list_conflicts(store, kind=kind):
                if conflict.field != field:
                    continue
                try:
                    unasked |= set(
                        await refuse_required_blank(
                            store,
                            settings,
                            conflict.id,
                            connectors,
                            take=take,
                            value=None,
                            describe_timeout=DEFAULT_TIMEOUT,
                            asked=asked,
                        )
                    )
                    resolved.append(await resolve(store, settings, conflict.id, choice_connection=take, by=by))
                except OperatorError as exc:
                    skipped.append((conflict.id, str(exc)))
        return resolved, skipped, unasked

    resolved, skipped, unasked = with_store(settings, settle)
    out = console()
    for outcome in resolved:
        out.print(
            Text.assemble(
                (f"Resolved conflict #{outcome.conflict_id}: ", "bold green"),
                f"{outcome.kind} {outcome.canonical_id} {outcome.field} = ",
                show_value(outcome.value),
            )
        )
    for conflict_id, why in skipped:
        out.print(Text.assemble((f"Left open #{conflict_id}: ", "bold yellow"), why))
    if unasked:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text(f"warning: could not ask {', '.join(sorted(unasked))} whether {field} is required", style="yellow")
        )
    if not resolved and not skipped:
        out.print(f"No open conflict on {field}{f' of {kind}' if kind else ''}.")
        return
    writes = sum(len(outcome.writes) for outcome in resolved)
    out.print(
        f"{plural(len(resolved), 'conflict')} on {field} settled with {take}'s side, {plural(writes, 'write')} queued; "
        f"{len(skipped)} left open. The next `crmsync sync` delivers them. {BESIDE_SERVE}",
        markup=False,
    )
    if skipped:
        raise typer.Exit(1)


def refuse_a_required_blank(settings: SyncConfig, conflict_id: int, take: str | None, value: str | None) -> None:
    """Clearing a field a CRM requires is refused there on the next sync: refuse it now, before anything is stored."""
    blank = with_store(settings, lambda store: blank_choice(store, settings, conflict_id, take=take, value=value))
    if blank is None:
        return

    async def ask() -> RequiredCheck:
        async with open_connectors(settings) as connectors:
            return await required_in(settings, blank.kind, blank.field, connectors, describe_timeout=DEFAULT_TIMEOUT)

    found = asyncio.run(ask())
    if found.required:
        takes = " | ".join(f"--take {side}" for side in blank.keep) or "--value TEXT"
        raise fail(f"{blank.field} cannot be cleared: it is required in {', '.join(found.required)}; use {takes}")
    if found.unknown:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text(f"warning: could not ask {', '.join(found.unknown)} whether {blank.field} is required", style="yellow")
        )


def render_outcome(out: Console, outcome: ResolutionOutcome, *, kept_golden: bool = False) -> None:
    if kept_golden:
        source = " (the golden value, kept)"
    else:
        source = f" (from {outcome.source})" if outcome.source else " (typed in)"
    out.print(
        Text.assemble(
            (f"Resolved conflict #{outcome.conflict_id}: ", "bold green"),
            f"{outcome.kind} {outcome.canonical_id} ",
            (outcome.field, "bold"),
            " = ",
            show_value(outcome.value),
            (" (deleted everywhere)" if outcome.value is True else " (kept)") if outcome.field == DELETED_FIELD else "",
            source,
            f", by {outcome.by}",
        )
    )
    for name in outcome.closed:
        out.print(Text(f"The conflict on {name} was settled by its policy on the way.", style="dim"))
    if not outcome.writes:
        out.print("No connection needs a write: they all hold this value already.")
        return
    table = Table(title="Queued writes", title_justify="left")
    table.add_column("connection")
    table.add_column("operation")
    table.add_column("fields")
    table.add_column("job", justify="right")
    for write in outcome.writes:
        table.add_row(write.connection, write.operation, Text(", ".join(write.fields) or "—"), str(write.job_id))
    out.print(table)
    out.print(f"The next `crmsync sync` delivers them. {BESIDE_SERVE}", markup=False)


def _record(view: ConflictView, *, inline: bool = False) -> Text:
    kind = view.kind or "?"
    if view.label:
        return Text.assemble(f"{kind} ", (view.label, "bold"), " " if inline else "\n", (view.canonical_id, "dim"))
    return Text(f"{kind} {view.canonical_id}")


def _sides(view: ConflictView) -> Text:
    text = Text()
    for index, side in enumerate(view.sides):
        if index:
            text.append("\n")
        text.append(side.connection, style="bold")
        text.append(": ")
        text.append_text(_value(view, side.value))
    return text


def _value(view: ConflictView, value: CanonicalValue) -> Text:
    """A value as the operator reads it: a delete-versus-edit conflict's true/false say what happened there."""
    if view.field == DELETED_FIELD:
        if value is True:
            return Text("deleted", style="red")
        return Text("kept" if value is False else "live (kept while the delete waits)")
    return show_value(value)


def _delete_hint(view: ConflictView) -> str:
    """What each choice of a delete-versus-edit conflict does: `true`/`false` alone say nothing of it."""
    deleted = [s.connection for s in view.sides if s.value is True]
    kept = [s.connection for s in view.sides if s.value is not True]
    choices = [f"`--take {c}` (or `--value true`) deletes it everywhere" for c in deleted[:1]]
    if kept:
        where = ", ".join(deleted) or "where it was deleted"
        choices.append(f"`--take {kept[0]}` (or `--value false`) keeps it and creates it again in {where}")
    return (
        f"Deleted in {', '.join(deleted) or '?'}, edited in {', '.join(kept) or '?'}. Resolve #{view.id}: "
        + "; ".join(choices)
        + "."
    )


def _status(view: ConflictView) -> Text:
    if not view.resolved:
        return Text("open", style="yellow")
    when = show_time(view.resolved_at) if view.resolved_at else ""
    return Text.assemble(("resolved", "green"), " = ", show_value(view.resolution), f" by {view.resolved_by} {when}")


__all__ = ["conflicts_app", "list_command", "render_detail", "render_list", "render_outcome", "resolve_command"]
