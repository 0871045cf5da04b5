"""`crmsync sync` when the mass-delete breaker holds deletes: a distinct exit code and the way to release them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crmsync.testing.sandbox import Sandbox
from tests.e2e.test_cli_check import crmsync

BREAKER = "contact: {delete: {mass_delete: {share: 0.2, min: 2}}}"
EXIT_DELETES_HELD = 3  # the documented code (README, `crmsync --help`), not the constant: it is the contract
PEOPLE = [f"person{n}@example.com" for n in range(5)]


async def _create_people(sb: Sandbox) -> None:
    for n, email in enumerate(PEOPLE):
        await sb.hubspot.create("contact", {"lastname": f"Person{n}", "email": email})


async def _delete_three_in_dataverse(sb: Sandbox) -> None:
    for email in PEOPLE[:3]:
        (row,) = await sb.dynamics.find("contact", "emailaddress1", email)
        await sb.dynamics.delete("contact", str(row["contactid"]))


def test_held_deletes_exit_3_until_released_and_the_summary_says_how(tmp_path: Path) -> None:
    """A sync run from cron must notice deletes waiting for approval: exit 0 told it all was well."""
    with Sandbox() as sb:
        sb.write_config(tmp_path, objects_yaml=BREAKER)
        asyncio.run(_create_people(sb))
        first = crmsync("sync", "--object", "contact", cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        asyncio.run(_delete_three_in_dataverse(sb))

        held = crmsync("sync", "--object", "contact", cwd=tmp_path)
        out = " ".join(held.stdout.split())
        assert held.returncode == EXIT_DELETES_HELD, held.stdout + held.stderr
        last = " ".join(held.stdout.strip().splitlines()[-3:])
        assert "3 deletes held, waiting for approval by the mass-delete breaker (contact 3)" in " ".join(last.split())
        assert "release them with `crmsync sync --allow-mass-delete`" in out
        again = crmsync("sync", "--object", "contact", cwd=tmp_path)  # still waiting: still not 0
        assert again.returncode == EXIT_DELETES_HELD, again.stdout + again.stderr
        checked = crmsync("sync", "--object", "contact", "--dry-run", "--allow-mass-delete", cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr  # what the summary says to check them with
        assert "salesforce 3 deletes" in " ".join(checked.stdout.split())

        released = crmsync("sync", "--object", "contact", "--allow-mass-delete", cwd=tmp_path)
        assert released.returncode == 0, released.stdout + released.stderr
        assert "mass-delete breaker" not in released.stdout
        assert asyncio.run(sb.salesforce.count("contact")) == 2
