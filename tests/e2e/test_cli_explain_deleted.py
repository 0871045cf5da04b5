"""`crmsync explain` on a record deleted everywhere: known and deleted, not unknown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from crmsync.testing.sandbox import Sandbox
from tests.e2e.test_cli_check import crmsync

EMAIL = "grace.hopper@example.com"


async def _create_in_hubspot(sb: Sandbox) -> str:
    return await sb.hubspot.create("contact", {"firstname": "Grace", "lastname": "Hopper", "email": EMAIL})


async def _delete_in_dataverse(sb: Sandbox) -> str:
    (row,) = await sb.dynamics.find("contact", "emailaddress1", EMAIL)
    await sb.dynamics.delete("contact", str(row["contactid"]))
    return str(row["contactid"])


def test_explain_by_an_id_of_a_record_deleted_everywhere_says_when_and_where(tmp_path: Path) -> None:
    with Sandbox() as sb:
        sb.write_config(tmp_path)
        hs = asyncio.run(_create_in_hubspot(sb))
        assert crmsync("sync", "--object", "contact", cwd=tmp_path).returncode == 0
        dv = asyncio.run(_delete_in_dataverse(sb))
        synced = crmsync("sync", "--object", "contact", cwd=tmp_path)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        for ident in (hs, dv):
            explained = crmsync("explain", "contact", ident, cwd=tmp_path)
            out = " ".join(explained.stdout.split())
            assert explained.returncode == 0, explained.stdout + explained.stderr
            assert "DELETED" in out and "deleted everywhere: deleted in dynamics" in out and "(propagate)" in out
            assert hs in out and dv in out  # the ids it had, listed
        unknown = crmsync("explain", "contact", "999999999", cwd=tmp_path)
        assert unknown.returncode == 1 and "no contact with canonical or remote id '999999999'" in unknown.stderr


def test_explain_of_a_delete_a_person_chose_over_an_edit_says_who_chose_it(tmp_path: Path) -> None:
    # Deleted in Dataverse, edited in HubSpot: parked (S13); the operator takes Dataverse's side. `explain` said
    # "deleted everywhere: deleted in cli", as if `cli` were a CRM.
    with Sandbox() as sb:
        sb.write_config(tmp_path)
        hs = asyncio.run(_create_in_hubspot(sb))
        assert crmsync("sync", "--object", "contact", cwd=tmp_path).returncode == 0
        asyncio.run(_delete_in_dataverse(sb))
        asyncio.run(sb.hubspot.update("contact", hs, {"jobtitle": "Rear Admiral"}))
        assert crmsync("sync", "--object", "contact", cwd=tmp_path).returncode == 0
        listed = crmsync("conflicts", "list", "--json", cwd=tmp_path)
        (conflict,) = json.loads(listed.stdout)
        resolved = crmsync("conflicts", "resolve", str(conflict["id"]), "--take", "dynamics", cwd=tmp_path)
        assert resolved.returncode == 0, resolved.stdout + resolved.stderr
        assert crmsync("sync", "--object", "contact", cwd=tmp_path).returncode == 0
        explained = crmsync("explain", "contact", hs, cwd=tmp_path)
        out = " ".join(explained.stdout.split())
        assert explained.returncode == 0, explained.stdout + explained.stderr
        assert "deleted everywhere: cli chose the delete over an edit" in out and "deleted in cli" not in out
