"""What the connector benchmarks share: waiting for the emulator process, and which fields to read."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
from typing import Any

import httpx


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The emulator's control-plane info once it answers (it seeds before it listens)."""
    for _ in range(1200):
        if process.poll() is not None:
            raise SystemExit("the emulator exited early")
        try:
            response = await client.get("/_emulator")
            if response.status_code == 200:
                info: dict[str, Any] = response.json()
                return info
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("the emulator did not start")


def add_fields_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fields",
        choices=["all", "mapped"],
        default="all",
        help="read every field, or only the contact fields the shipped default map uses (what the engine reads)",
    )


def read_fields(vendor: str, choice: str) -> list[str] | None:
    if choice == "all":
        return None
    from crmsync.mapping import default_mappings

    return sorted(default_mappings().get(vendor, "contact").read_fields)
