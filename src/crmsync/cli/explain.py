"""`crmsync explain KIND ID`: why each field of one record has its value, and what each connection holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmsync.cli.errors import error_ref, problem, seen, where
from crmsync.cli.status import (
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    KindName,
    console,
    load,
    print_json,
    show_time,
    show_value,
    with_store,
)
from crmsync.engine.views.deletes import describe as describe_delete
from crmsync.engine.views.explain import FieldExplanation, RecordExplanation, ShadowValue, explain_record

_STATE_STYLE = {
    "differs": ("differs", "yellow"),
    "pending": ("write pending", "cyan"),
    "withheld": ("held by conflict", "yellow"),
    "failed": ("write failed", "red"),
    "not_written": ("not written here", "dim"),
}


def explain(
    kind: Annotated[KindName, typer.Argument(help="The object kind.", show_default=False)],
    record_id: Annotated[
        str,
        typer.Argument(
            help="A canonical id, or any connection's remote id (Salesforce's 15- or 18-character form).",
            show_default=False,
        ),
    ],
    history: Annotated[int, typer.Option("--history", min=0, help="Audit entries shown per field.")] = 3,
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Explain a record: its links, and per field the golden value, its source, rule and time, and each copy."""
    settings = load(config)
    explanation = with_store(
        settings, lambda store: explain_record(store, settings, kind.kind, record_id, history=history)
    )
    if as_json:
        print_json(explanation)
        return
    render_explanation(console(), explanation)


def render_explanation(out: Console, record: RecordExplanation) -> None:
    title = Text.assemble((f"{record.kind} ", "bold"), (record.label or "", "bold"), f"  {record.canonical_id}")
    if record.merged_into is not None:
        title.append("  MERGED", style="bold yellow")
    elif record.deleted:
        title.append("  DELETED", style="bold red")
    out.print(title)
    if record.stored:
        out.print(f"golden record version {record.version}, written {show_time(record.updated_at)}", markup=False)
    else:
        out.print(Text("linked, but no golden record is stored yet", style="yellow"))
    if record.deletion is not None:
        gone = record.deletion
        # A parked delete settled by a person names who chose, not a CRM: "deleted in cli" read as a CRM's name.
        how = (
            f"{gone.connection} chose the delete over an edit {show_time(gone.at)} (a parked delete-versus-edit "
            "conflict, resolved)"
            if gone.reason == "manual"
            else f"deleted in {gone.connection} {show_time(gone.at)} ({gone.reason})"
        )
        out.print(Text(f"deleted everywhere: {how}; crmsync no longer syncs it", style="bold red"))
    if record.merged_into is not None:
        into = record.merged_into
        out.print(
            Text(
                f"merged into {into.canonical_id} by a vendor merge in {into.connection} {show_time(into.at)}; "
                f"the person lives on there: crmsync explain {record.kind} {into.canonical_id}",
                style="bold yellow",
            ),
            soft_wrap=True,
        )
    if record.deletes:
        deletes = Table(title="Deletes: where it was deleted, and what crmsync made of it", title_justify="left")
        for heading in ("where", "id deleted there", "when", "what crmsync did"):
            deletes.add_column(heading, overflow="fold")
        for step in record.deletes:
            did = Text(describe_delete(step), style="yellow" if step.how in ("held", "parked") else "")
            if step.deleted_by_crmsync:
                did.append(f"\ndeleted by crmsync in {', '.join(step.deleted_by_crmsync)}")
            if step.still_to_delete:
                did.append(f"\nstill to delete in {', '.join(step.still_to_delete)}")
            deletes.add_row(Text(step.connection), Text(step.remote_id or "—"), show_time(step.at), did)
        out.print(deletes)
    if record.former_ids:
        former = Table(title="Ids it had before they were deleted or merged away there", title_justify="left")
        for heading in ("connection", "remote id", "how", "unlinked"):
            former.add_column(heading, overflow="fold")
        for was in record.former_ids:
            former.add_row(was.connection, Text(was.remote_id), Text(was.reason), show_time(was.at))
        out.print(former)
    links = Table(title="Links", title_justify="left")
    for heading in ("connection", "object", "remote id", "pending write"):
        links.add_column(heading, overflow="fold")
    for link in record.links:
        links.add_row(link.connection, link.object, Text(link.remote_id), record.writes.get(link.connection, ""))
    for connection, status in record.writes.items():
        if all(link.connection != connection for link in record.links):
            links.add_row(connection, "", Text("(not linked yet)", style="dim"), status)
    out.print(links)
    if record.gone:
        out.print(Text(f"deleted in {', '.join(record.gone)}: kept out of it by the delete policy", style="yellow"))

    connections = list(dict.fromkeys(s.connection for f in record.fields for s in f.shadows))
    fields = Table(
        title="Fields: golden value, where it came from, and each connection's copy",
        title_justify="left",
        show_lines=True,
    )
    fields.add_column("field", overflow="fold")
    fields.add_column("golden value", overflow="fold")
    fields.add_column("from · rule · when", overflow="fold")
    for connection in connections:
        fields.add_column(connection, overflow="fold")
    for item in record.fields:
        by_connection = {s.connection: s for s in item.shadows}
        fields.add_row(
            Text(item.field, style="bold" if item.conflicts else ""),
            show_value(item.value) if item.in_golden else Text("(not in golden)", style="dim"),
            provenance_cell(item),
            *(_shadow(by_connection[c]) if c in by_connection else Text("") for c in connections),
        )
    out.print(fields)
    _conflicts(out, record.fields)
    _history(out, record.fields)
    if record.errors:
        errors = Table(title="Sync errors of this record", title_justify="left", show_lines=True)
        for heading in ("id", "where", "problem (the vendor's words)", "seen"):
            errors.add_column(heading)
        for error in record.errors:
            errors.add_row(Text(error_ref(error.id), style="bold"), where(error), problem(error), seen(error))
        out.print(errors)


def provenance_cell(item: FieldExplanation) -> Text:
    if not item.in_golden:
        return Text("—", style="dim")  # no value was ever agreed, so none came from anywhere
    source = item.source or ("a person" if item.rule == "manual" else "?")
    return Text.assemble(source, " · ", item.rule or "?", "\n", (show_time(item.at), "dim"))


def _shadow(shadow: ShadowValue) -> Text:
    if shadow.state == "same":
        return Text("✓", style="green")
    if shadow.state == "not_mapped":
        return Text("not mapped", style="dim")
    if shadow.state == "absent":
        return Text("no copy", style="dim")
    if shadow.state == "gone":
        return Text("deleted there", style="dim")
    label, style = _STATE_STYLE[shadow.state]
    return Text.assemble(show_value(shadow.value), "\n", (label, style))


def _conflicts(out: Console, fields: tuple[FieldExplanation, ...]) -> None:
    rows = [(item.field, conflict) for item in fields for conflict in item.conflicts]
    if not rows:
        return
    table = Table(title="Open conflicts", title_justify="left")
    for heading in ("id", "field", "base", "sides"):
        table.add_column(heading)
    for name, conflict in rows:
        sides = Text()
        for index, side in enumerate(conflict.sides):
            sides.append(("\n" if index else "") + f"{side.connection}: ")
            sides.append_text(show_value(side.value))
            sides.append(f"  @ {show_time(side.at)}" if side.at else "", style="dim")
        table.add_row(str(conflict.id), Text(name), show_value(conflict.base), sides)
    out.print(table)


def _history(out: Console, fields: tuple[FieldExplanation, ...]) -> None:
    rows = [(item.field, entry) for item in fields for entry in item.history]
    if not rows:
        return
    table = Table(title="Recent changes (audit)", title_justify="left")
    for heading in ("field", "old → new", "source", "rule", "at"):
        table.add_column(heading)
    for name, entry in rows:
        change = Text.assemble(show_value(entry.old), " → ", show_value(entry.new))
        table.add_row(Text(name), change, Text(entry.connection), Text(entry.reason), show_time(entry.at))
    out.print(table)


__all__ = ["explain", "render_explanation"]
