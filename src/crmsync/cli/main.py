"""Entry point of the `crmsync` command: wires the sub-commands together."""

from __future__ import annotations

import typer

from crmsync import __version__
from crmsync.cli.demo import demo
from crmsync.cli.emulate import emulate
from crmsync.cli.init import init

app = typer.Typer(
    name="crmsync",
    help="Two-way, near-real-time sync between Salesforce, HubSpot and Microsoft Dataverse.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(init)
app.command()(emulate)
app.command()(demo)


@app.command()
def version() -> None:
    """Print crmsync's version."""
    typer.echo(__version__)
