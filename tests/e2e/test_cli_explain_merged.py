"""`crmsync explain` on a record a vendor merge took away: every id it had leads to the person it was merged into."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crmsync.testing.sandbox import Sandbox
from tests.e2e.test_cli_check import crmsync


async def _two_people(sb: Sandbox) -> tuple[str, str]:
    first = await sb.hubspot.create("contact", {"firstname": "Grace", "lastname": "Hopper", "email": "g@example.com"})
    second = await sb.hubspot.create("contact", {"lastname": "Hopper", "email": "hopper@example.com"})
    return first, second


async def _twins(sb: Sandbox, email: str) -> tuple[str, str]:
    (sf,) = await sb.salesforce.find("contact", "Email", email)
    (dv,) = await sb.dynamics.find("contact", "emailaddress1", email)
    return str(sf["Id"]), str(dv["contactid"])


def _canonical(explained: str) -> str:
    """The canonical id on the first line of `crmsync explain`'s output."""
    return explained.splitlines()[0].split()[-1]


def test_explain_by_any_id_of_a_merged_away_record_leads_to_the_merged_person(tmp_path: Path) -> None:
    with Sandbox() as sb:
        sb.write_config(tmp_path)
        first, second = asyncio.run(_two_people(sb))
        assert crmsync("sync", "--object", "contact", cwd=tmp_path).returncode == 0
        sf_second, dv_second = asyncio.run(_twins(sb, "hopper@example.com"))
        before = {hs: _canonical(crmsync("explain", "contact", hs, cwd=tmp_path).stdout) for hs in (first, second)}
        merged = asyncio.run(sb.hubspot.merge("contact", first, second))
        synced = crmsync("sync", "--object", "contact", cwd=tmp_path)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        survivor = crmsync("explain", "contact", merged, cwd=tmp_path)
        assert survivor.returncode == 0, survivor.stdout + survivor.stderr
        kept = _canonical(survivor.stdout)
        assert kept in before.values()
        (retired,) = set(before.values()) - {kept}
        # Each id the merge took away (HubSpot's two old ids; the counterparts merged away in Salesforce and
        # Dataverse) was linked once: it finds the person, not "no contact with canonical or remote id".
        for ident in (first, second, sf_second, dv_second):
            explained = crmsync("explain", "contact", ident, cwd=tmp_path)
            assert explained.returncode == 0, f"{ident}: {explained.stdout}{explained.stderr}"
            out = " ".join(explained.stdout.split())
            assert _canonical(explained.stdout) == kept, ident
            assert ident in out and "merged away" in out
        # The retired canonical record says where the person went, instead of claiming it was deleted.
        gone = crmsync("explain", "contact", retired, cwd=tmp_path)
        out = " ".join(gone.stdout.split())
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert "MERGED" in out and "DELETED" not in out
        assert f"merged into {kept} by a vendor merge in hubspot" in out
        assert f"crmsync explain contact {kept}" in out
