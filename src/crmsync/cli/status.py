"""`crmsync status`: the state database at a glance (and the rendering helpers the operator commands share)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from crmsync.config import DEFAULT_FILE, ConfigFileError, SyncConfig, load_config
from crmsync.engine.views.status import StatusSummary, open_state, pending_lines, status_summary
from crmsync.errors import CrmSyncError
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Store

T = TypeVar("T")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The crmsync.yaml naming the state database.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of tables.")]
DEFAULT_CONFIG = Path(DEFAULT_FILE)
BLANK = "(blank)"
BESIDE_SERVE = "A running `crmsync serve` or `crmsync worker` runs them within seconds."
"""Work queued from the CLI: a running service finds it within its queue probe (`scheduler.QUEUE_PROBE_S`)."""


class KindName(StrEnum):
    """The object kinds as a command-line choice."""

    company = "company"
    contact = "contact"
    deal = "deal"
    activity = "activity"

    @property
    def kind(self) -> ObjectKind:
        return self.value


PIPED_WIDTH = 160
"""Columns of output that goes to no terminal (a pipe, a file, CI) and no COLUMNS says how wide: rich's 80
would cut ids and split values in tables; a log or a pager shows long lines whole."""


def console() -> Console:
    # Built per command, not at import: the width then follows the terminal (and COLUMNS) of this run.
    return wide_when_piped(Console(highlight=False))


def wide_when_piped(out: Console) -> Console:
    """`out`, at PIPED_WIDTH columns when it writes to no terminal and COLUMNS does not set its width."""
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH
    return out


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    # Never re-wrapped to the width: a path or an id cut in two cannot be copied.
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


def load(path: Path) -> SyncConfig:
    """The configuration, or every mistake in it printed and exit code 2."""
    try:
        return load_config(path)
    except ConfigFileError as exc:
        raise fail(str(exc), 2) from None


def with_store(config: SyncConfig, work: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    """Run `work` against the configured state database; an operator's mistake is printed, exit code 1."""

    async def main() -> T:
        store = await open_state(config)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except CrmSyncError as exc:
        raise fail(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise state_failure(exc, config) from None


def state_failure(exc: BaseException, config: SyncConfig) -> typer.Exit:
    """The state database could not be used: one line naming it (never its password), exit code 1."""
    return fail(f"cannot use the state database at {config.state_url_safe}: {_scrub(exc, config)}")


def _scrub(exc: BaseException, config: SyncConfig) -> str:
    # A driver's message may echo the connection string; never let a password through.
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    password = make_url(config.state_url).password
    return text.replace(str(password), "***") if password else text


def jsonable(value: object) -> Any:
    """Dataclasses, times and canonical values as plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return value


def print_json(value: object) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def show_value(value: CanonicalValue) -> Text:
    """A canonical value as an operator reads it (data is never parsed as markup)."""
    if value is None:
        return Text(BLANK, style="dim")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, datetime):
        return Text(show_time(value))
    if isinstance(value, tuple):
        return Text("; ".join(value))
    return Text(str(value))


def show_time(at: datetime | None, now: datetime | None = None) -> str:
    """UTC to the second, with the age when `now` is given."""
    if at is None:
        return "—"
    text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return text if now is None else f"{text} ({age(at, now)})"


def age(at: datetime, now: datetime) -> str:
    """How long ago; a stamp ahead of `now` comes from a CRM whose clock runs ahead of this machine's."""
    seconds = int((now - at).total_seconds())
    if seconds < 0:
        return f"{_span(-seconds)} ahead of this machine's clock"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def status(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Show the state database at a glance: records, links, cursors, queues, conflicts and errors."""
    settings = load(config)
    summary = with_store(settings, lambda store: status_summary(store, settings))
    if as_json:
        print_json(summary)
        return
    render_status(console(), summary, tuple(settings.connections), datetime.now(UTC))


def render_status(out: Console, summary: StatusSummary, connections: tuple[str, ...], now: datetime) -> None:
    out.print(Text.assemble(("State database ", "bold"), summary.state_url, f" ({summary.dialect})"))
    out.print(
        Text.assemble(
            ("Last change ", "bold"),
            show_time(summary.last_change_at, now),
            ("   Last audit entry ", "bold"),
            show_time(summary.last_audit_at, now),
        )
    )
    linked = list(dict.fromkeys([*connections, *(c for k in summary.kinds for c in k.links)]))
    records = Table(title="Records, and links per connection", title_justify="left")
    records.add_column("object")
    records.add_column("records", justify="right")
    records.add_column("deleted", justify="right")
    for connection in linked:
        records.add_column(connection, justify="right", overflow="fold")
    records.add_column("conflicts", justify="right")
    for kind in summary.kinds:
        name = kind.kind if kind.configured else f"{kind.kind} (not configured)"
        records.add_row(
            name,
            str(kind.records),
            str(kind.deleted),
            *(str(kind.links.get(c, 0)) for c in linked),
            _count(kind.open_conflicts, "yellow"),
        )
    out.print(records)

    if summary.cursors:
        cursors = Table(title="Incremental cursors", title_justify="left")
        cursors.add_column("connection", overflow="fold")
        cursors.add_column("object", overflow="fold")
        cursors.add_column("kind")
        cursors.add_column("advanced")
        for cursor in summary.cursors:
            cursors.add_row(cursor.connection, cursor.object, cursor.kind or "?", show_time(cursor.updated_at, now))
        out.print(cursors)
    else:
        out.print(Text("No cursors yet: no incremental read has completed.", style="dim"))

    if summary.queues:
        queue = Table(title="Job queue", title_justify="left")
        queue.add_column("jobs")
        queue.add_column("object")
        queue.add_column("connection", overflow="fold")
        for heading in ("pending", "retrying", "running", "dead"):
            queue.add_column(heading, justify="right")
        queue.add_column("oldest pending")
        for q in summary.queues:
            role = q.role if q.object_kind is not None else q.job_kind
            queue.add_row(
                Text(role, overflow="fold"),
                q.object_kind or "",
                q.connection or "",
                str(q.pending),
                _count(q.retrying, "yellow"),
                str(q.running),
                _count(q.dead, "red"),
                age(q.oldest_pending, now) if q.pending and q.oldest_pending else "—",
            )
        out.print(queue)
    else:
        out.print(Text("The job queue is empty.", style="dim"))
    backlog = ", ".join(f"{c} {n}" for c, n in summary.outbox.items()) or "none"
    out.print(Text.assemble(("Outbox backlog (writes waiting per connection): ", "bold"), backlog))
    out.print()
    for line, style in attention(summary):
        out.print(Text(line, style=style))


def attention(summary: StatusSummary) -> list[tuple[str, str]]:
    """What an operator should look at, with the command that shows it, then what the next sync still has to do;
    a single all-clear line only when there is neither."""
    lines: list[tuple[str, str]] = []
    if summary.open_conflicts:
        lines.append((f"! {plural(summary.open_conflicts, 'open conflict')}: crmsync conflicts list", "yellow"))
    if summary.sync_errors:
        by = ", ".join(f"{c} {n}" for c, n in sorted(summary.errors_by_connection.items()))
        lines.append((f"! {plural(summary.sync_errors, 'sync error')} ({by}): crmsync errors list", "red"))
    if summary.duplicate_groups:
        lines.append((f"! {plural(summary.duplicate_groups, 'duplicate group')}: crmsync errors list", "yellow"))
    if summary.dead_jobs:
        lines.append((f"! {plural(summary.dead_jobs, 'dead job')}: crmsync errors list, then errors retry", "red"))
    for text, hint in pending_lines(summary.pending):
        lines.append((f"· {text}" + (f" ({hint})" if hint else ""), "cyan"))
    return lines or [("✓ nothing needs attention, and nothing is queued", "green")]


def _count(value: int, style: str) -> Text:
    return Text(str(value), style=style if value else "")


__all__ = [
    "BLANK",
    "DEFAULT_CONFIG",
    "PIPED_WIDTH",
    "ConfigOption",
    "JsonOption",
    "KindName",
    "attention",
    "console",
    "fail",
    "jsonable",
    "load",
    "plural",
    "print_json",
    "render_status",
    "show_time",
    "show_value",
    "state_failure",
    "status",
    "wide_when_piped",
    "with_store",
]
