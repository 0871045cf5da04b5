"""`crmsync init`: write a commented example crmsync.yaml (and its development secrets) for the local emulators."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli.status import fail
from crmsync.config import DEFAULT_FILE, LocalEmulators, example_config
from crmsync.emulators.dynamics.config import DynamicsConfig
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.registry import DEFAULT_PORTS
from crmsync.emulators.salesforce.config import SalesforceConfig


def local_emulators(host: str = "127.0.0.1") -> LocalEmulators:
    """The URLs and credentials `crmsync emulate all` uses when nothing is overridden."""
    sf, hs, dv = SalesforceConfig(), HubSpotConfig(), DynamicsConfig()
    return LocalEmulators(
        salesforce_url=f"http://{host}:{DEFAULT_PORTS['salesforce']}",
        salesforce_client_id=sf.client_id,
        salesforce_client_secret=sf.client_secret,
        hubspot_url=f"http://{host}:{DEFAULT_PORTS['hubspot']}",
        hubspot_access_token=hs.private_app_token,
        dynamics_url=f"http://{host}:{DEFAULT_PORTS['dynamics']}",
        dynamics_tenant_id=dv.tenant_id,
        dynamics_client_id=dv.client_id,
        dynamics_client_secret=dv.client_secret,
        salesforce_org_id=sf.org_id,
    )


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the configuration.")] = Path(DEFAULT_FILE),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented example crmsync.yaml that syncs the local emulators (`crmsync emulate all`)."""
    files = example_config(local_emulators())
    targets = {path: files.config, **{path.parent / name: text for name, text in files.secrets.items()}}
    existing = [str(target) for target in targets if target.exists()]
    if existing and not force:
        raise fail(f"not overwriting {', '.join(existing)}; pass --force to replace")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.config, encoding="utf-8")
    for name, text in files.secrets.items():
        target = path.parent / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
        os.chmod(target, 0o600)  # credentials: readable by their owner only
    typer.echo(f"wrote {path} (secrets in {path.parent / 'secrets'})")
    typer.echo("next: `crmsync emulate all` in another terminal, then `crmsync check` and `crmsync sync`")
