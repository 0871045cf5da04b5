"""`crmsync dashboard hash-password`: the `password_hash:` value of a dashboard user, without any new dependency."""

from __future__ import annotations

from typing import Annotated

import typer

dashboard_app = typer.Typer(
    name="dashboard",
    help="The dashboard served by `crmsync serve` at /: helpers for its configuration.",
    no_args_is_help=True,
)


@dashboard_app.command("hash-password")
def hash_password_command(
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CRMSYNC_DASHBOARD_PASSWORD",
            help="Prompted for when not given (or read from CRMSYNC_DASHBOARD_PASSWORD); never echoed.",
        ),
    ],
) -> None:
    """Print a scrypt hash of a password for `service.dashboard.users[].password_hash` (store it in a file or env)."""
    from crmsync.dashboard.passwords import hash_password  # not at import: the dashboard loads FastAPI

    if len(password) < 8:
        raise typer.BadParameter("use at least 8 characters", param_hint="password")
    typer.echo(hash_password(password))
