"""Entry point of the `crmsync` command: wires the sub-commands together."""

from __future__ import annotations

import typer

from crmsync import __version__
from crmsync.cli.check import check
from crmsync.cli.conflicts import conflicts_app
from crmsync.cli.dashboard import dashboard_app
from crmsync.cli.demo import demo
from crmsync.cli.emulate import emulate
from crmsync.cli.errors import errors_app
from crmsync.cli.explain import explain
from crmsync.cli.init import init
from crmsync.cli.mappings import mappings
from crmsync.cli.serve import serve, worker
from crmsync.cli.status import status
from crmsync.cli.sync import sync

EXIT_CODES = (
    "Exit codes: 0 done; 1 the work failed or was refused (a sync with failures, a check with errors, an "
    "unknown conflict, error or record id, a port in use); 2 a usage or configuration mistake (a bad option, "
    "a mistake in crmsync.yaml, named with its file:line); 3 a sync that finished but whose deletes the "
    "mass-delete breaker held back, waiting for `crmsync sync --allow-mass-delete`. Errors are printed to "
    "stderr after `error:`."
)

app = typer.Typer(
    name="crmsync",
    help="Two-way, near-real-time sync between Salesforce, HubSpot and Microsoft Dataverse.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
)
app.command()(init)
app.command()(emulate)
app.command()(check)
app.command()(mappings)
app.command()(sync)
app.command()(demo)
app.command()(serve)
app.command()(worker)
app.command()(status)
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(errors_app, name="errors")
app.add_typer(dashboard_app, name="dashboard")
app.command()(explain)


@app.command()
def version() -> None:
    """Print crmsync's version."""
    typer.echo(__version__)
