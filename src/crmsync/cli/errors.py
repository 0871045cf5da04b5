"""`crmsync errors list|show|retry`: sync errors, duplicate groups and dead-lettered jobs, and re-queueing them."""

from __future__ import annotations

import re
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
    with_store,
)
from crmsync.config import SyncConfig
from crmsync.engine.retrying import RetryOutcome, retry
from crmsync.engine.views.error_detail import ErrorDetail, error_detail
from crmsync.engine.views.errors import DeadJobView, DuplicateGroup, ErrorsReport, SyncErrorView, list_errors

errors_app = typer.Typer(
    name="errors",
    help="Records that failed to sync, duplicate groups and dead jobs: list them, show one, retry them.",
    no_args_is_help=True,
)

ERROR_PREFIX = "E"
JOB_PREFIX = "J"
_REF = re.compile(r"^(?P<prefix>[EJ]?)(?P<id>\d+)$", re.IGNORECASE)


def error_ref(error_id: int) -> str:
    return f"{ERROR_PREFIX}{error_id}"


def job_ref(job_id: int) -> str:
    return f"{JOB_PREFIX}{job_id}"


def parse_refs(refs: list[str]) -> tuple[list[int], list[int]]:
    """`E12` (or `12`) names sync error 12, `J34` dead job 34; returns (error ids, job ids)."""
    errors: list[int] = []
    jobs: list[int] = []
    for ref in refs:
        found = _REF.match(ref.strip())
        if found is None:
            raise typer.BadParameter(
                f"{ref!r}: expected E<id> for a sync error or J<id> for a dead job", param_hint="ID"
            )
        (jobs if found["prefix"].upper() == JOB_PREFIX else errors).append(int(found["id"]))
    return errors, jobs


def check_connection(settings: SyncConfig, connection: str | None) -> None:
    """A connection name crmsync.yaml does not define is a typo: listing (or retrying) nothing would say all is well."""
    if connection is not None and connection not in settings.connections:
        known = ", ".join(sorted(settings.connections))
        raise typer.BadParameter(
            f"{connection!r} is not a connection in {settings.file}: {known}", param_hint="--connection"
        )


@errors_app.command("list")
def list_command(
    config: ConfigOption = DEFAULT_CONFIG,
    connection: Annotated[str | None, typer.Option("--connection", help="Only this connection's errors.")] = None,
    object_kind: Annotated[KindName | None, typer.Option("--object", "-o", help="Only this object kind.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List sync errors with the vendor's message, duplicate groups, and dead-lettered jobs with their last error."""
    settings = load(config)
    check_connection(settings, connection)
    kind = object_kind.kind if object_kind is not None else None
    report = with_store(settings, lambda store: list_errors(store, settings, connection=connection, kind=kind))
    if as_json:
        print_json(report)
        return
    render_errors(console(), report)


@errors_app.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="The sync error (E12, or 12) or job (J34) to show.", show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Show one sync error in full: where, the vendor's words, how often, its job, when it runs again, what to do."""
    error_ids, job_ids = parse_refs([ref])
    settings = load(config)
    is_job = bool(job_ids)
    item_id = job_ids[0] if is_job else error_ids[0]
    name = job_ref(item_id) if is_job else error_ref(item_id)
    detail = with_store(settings, lambda store: error_detail(store, settings, name, item_id, job=is_job))
    if as_json:
        print_json(detail)
        return
    render_detail(console(), detail)


def render_detail(out: Console, detail: ErrorDetail) -> None:
    error = detail.error
    if error is not None:
        title = f"Sync error {detail.ref}: {error.operation} in {error.connection} {_object(error.object, error.kind)}"
    else:
        assert detail.job is not None
        title = f"Job {detail.ref}: {detail.job.job_kind} ({detail.job.status})"
    out.print(Text(title, style="bold"))
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    record = " ".join(part for part in (detail.canonical_id, f"({detail.label})" if detail.label else None) if part)
    facts.add_row("record", Text((record or "—") + (" (deleted)" if detail.record_deleted else "")))
    facts.add_row("remote id", Text(detail.remote_id or "—"))
    if error is not None:
        facts.add_row("field", Text(error.field or "—"))
        facts.add_row("vendor code", Text(error.code or "—"))
        facts.add_row("message", Text(error.message))
        facts.add_row(
            "seen", Text(f"{error.count}×: first {show_time(error.first_seen)}, last {show_time(error.last_seen)}")
        )
    if detail.links:
        facts.add_row("linked", Text("\n".join(f"{k.connection} {k.object} {k.remote_id}" for k in detail.links)))
    job = detail.job
    if job is not None:
        runs = f", runs after {show_time(job.runs_at)}" if job.runs_at else (", parked" if job.parked else "")
        state = f"{job.status}, {job.attempts} of {job.max_attempts} attempts{runs}"
        facts.add_row("job", Text(f"{job_ref(job.id)} {job.job_kind} {job.key}: {state}"))
        if job.last_error:
            facts.add_row("job's last error", Text(job.last_error))
    facts.add_row("retried on its own", Text(("yes, " if detail.retries_itself else "no, ") + detail.when))
    facts.add_row("what to do", Text(detail.action))
    out.print(facts)
    if detail.retry_command:
        out.print(f"Retry with `{detail.retry_command}`.", markup=False)


def render_errors(out: Console, report: ErrorsReport) -> None:
    if report.empty:
        out.print(Text("No sync errors, duplicate groups or dead jobs.", style="green"))
        return
    if report.errors:
        out.print(_errors_table(report.errors))
    if report.duplicates:
        out.print(_duplicates_table(report.duplicates))
    if report.dead_jobs:
        out.print(_dead_table(report.dead_jobs))
    summary = ", ".join(
        part
        for part in (
            plural(len(report.errors), "sync error") if report.errors else "",
            plural(len(report.duplicates), "duplicate group") if report.duplicates else "",
            plural(len(report.dead_jobs), "dead job") if report.dead_jobs else "",
        )
        if part
    )
    out.print(Text(summary + ". ", style="bold"), end="")
    out.print(
        "See one in full with `crmsync errors show ID`; re-queue with `crmsync errors retry ID` (E… or J…) "
        "or `crmsync errors retry --all`.",
        markup=False,
    )


def _errors_table(errors: tuple[SyncErrorView, ...]) -> Table:
    table = Table(title="Sync errors", title_justify="left", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("where")
    table.add_column("record", overflow="fold")
    # Fold, never cut: the vendor's message names ids and fields an operator copies.
    table.add_column("problem (the vendor's words)", ratio=1, overflow="fold")
    table.add_column("seen")
    for error in errors:
        table.add_row(
            Text(error_ref(error.id), style="bold"),
            where(error),
            _record(error.canonical_id, error.remote_id),
            problem(error),
            seen(error),
        )
    return table


def where(error: SyncErrorView) -> Text:
    return Text(f"{error.connection} {_object(error.object, error.kind)}\n{error.operation}")


def problem(error: SyncErrorView) -> Text:
    """The field, the vendor's code and the vendor's message."""
    text = Text()
    if error.field:
        text.append(error.field, style="bold")
        text.append(": ")
    if error.code:
        text.append(f"[{error.code}] ", style="dim")
    text.append(error.message)
    return text


def seen(error: SyncErrorView) -> str:
    return f"{error.count}×, last {show_time(error.last_seen)}\nfirst {show_time(error.first_seen)}"


def _duplicates_table(groups: tuple[DuplicateGroup, ...]) -> Table:
    table = Table(title="Duplicate groups (one survivor syncs; merge the others in the CRM)", title_justify="left")
    table.add_column("ids", overflow="fold")
    table.add_column("where")
    table.add_column("record", overflow="fold")
    table.add_column("duplicates", overflow="fold")
    table.add_column("details", ratio=1, overflow="fold")
    table.add_column("last seen")
    for group in groups:
        table.add_row(
            Text(" ".join(error_ref(i) for i in group.error_ids), style="bold"),
            Text(f"{group.connection} {_object(group.object, group.kind)}"),
            Text(group.canonical_id or "—"),
            Text("\n".join(group.duplicates) or "—"),
            Text(group.message),
            show_time(group.last_seen),
        )
    return table


def _dead_table(dead: tuple[DeadJobView, ...]) -> Table:
    table = Table(title="Dead jobs (out of attempts)", title_justify="left", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("job", overflow="fold")
    table.add_column("record", overflow="fold")
    table.add_column("last error", ratio=1, overflow="fold")
    table.add_column("attempts", justify="right")
    for job in dead:
        table.add_row(
            Text(job_ref(job.id), style="bold"),
            Text(job.job_kind),
            _record(job.canonical_id, job.remote_id),
            Text(job.last_error or "—"),
            str(job.attempts),
        )
    return table


def _object(name: str, kind: str | None) -> str:
    return name if kind is None or kind == name else f"{name} ({kind})"


def _record(canonical_id: str | None, remote_id: str | None) -> Text:
    parts = [part for part in (canonical_id, f"remote {remote_id}" if remote_id else None) if part]
    return Text("\n".join(parts) or "—")


@errors_app.command("retry")
def retry_command(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Sync errors (E12) and dead jobs (J34) to retry.", show_default=False)
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Retry every retryable error and dead job.")] = False,
    connection: Annotated[
        str | None, typer.Option("--connection", help="With --all: only this connection's errors and dead jobs.")
    ] = None,
    object_kind: Annotated[
        KindName | None, typer.Option("--object", "-o", help="With --all: only this object kind's.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Re-queue failed work: a failed write is queued again, a dead job gets fresh attempts."""
    if (connection is not None or object_kind is not None) and not everything:
        raise typer.BadParameter("--connection and --object narrow --all; add --all", param_hint="--all")
    if bool(refs) == everything:
        raise typer.BadParameter("give the IDs to retry, or --all", param_hint="ID/--all")
    error_ids, job_ids = parse_refs(refs or [])
    settings = load(config)
    check_connection(settings, connection)
    kind = object_kind.kind if object_kind is not None else None
    outcome = with_store(
        settings,
        lambda store: retry(
            store,
            settings,
            error_ids=error_ids,
            job_ids=job_ids,
            everything=everything,
            connection=connection,
            kind=kind,
        ),
    )
    render_retry(console(), outcome)
    missing = [item for item in outcome.skipped if item.missing]
    if missing:
        unknown = ", ".join(error_ref(i.id) if i.what == "sync_error" else job_ref(i.id) for i in missing)
        raise fail(f"no such sync error or job: {unknown}; `crmsync errors list` lists them")


RETRY_LINES = 20
"""Items listed one per line: `retry --all` over thousands of errors printed a line for each."""


def render_retry(out: Console, outcome: RetryOutcome) -> None:
    for item in outcome.requeued[:RETRY_LINES]:
        ref = error_ref(item.id) if item.what == "sync_error" else job_ref(item.id)
        jobs = f" ({plural(item.jobs, 'job')})" if item.jobs != 1 else ""
        out.print(Text.assemble(("re-queued ", "green"), (ref, "bold"), f": {item.job_kind} {item.key}{jobs}"))
    if len(outcome.requeued) > RETRY_LINES:
        out.print(Text(f"… and {len(outcome.requeued) - RETRY_LINES:,} more re-queued", style="green"))
    shown = [skipped for skipped in outcome.skipped if not skipped.missing]  # missing: an error, on stderr
    for skipped in shown[:RETRY_LINES]:
        ref = error_ref(skipped.id) if skipped.what == "sync_error" else job_ref(skipped.id)
        out.print(Text.assemble(("not retried ", "yellow"), (ref, "bold"), f": {skipped.reason}"))
    if len(shown) > RETRY_LINES:
        out.print(Text(f"… and {len(shown) - RETRY_LINES:,} more not retried", style="yellow"))
    if not outcome.requeued and not outcome.skipped:
        out.print("Nothing to retry.")
    elif outcome.requeued:
        reads = f", and {plural(outcome.reads, 'read')} of the records from their CRMs" if outcome.reads else ""
        out.print(
            f"{plural(len(outcome.requeued), 'item')} re-queued{reads}; the next `crmsync sync` runs them. "
            + BESIDE_SERVE,
            markup=False,
        )


__all__ = [
    "ERROR_PREFIX",
    "JOB_PREFIX",
    "error_ref",
    "errors_app",
    "job_ref",
    "list_command",
    "parse_refs",
    "problem",
    "render_detail",
    "render_errors",
    "render_retry",
    "retry_command",
    "seen",
    "show_command",
    "where",
]
