"""`crmsync demo` as `make demo` runs it: seeded emulators, a full sync, edits in each CRM, an incremental sync."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_tells_the_whole_story_and_ends_quiet(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "demo", "--records", "200", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for system in ("salesforce", "hubspot", "dynamics"):
        assert re.search(rf"{system}\s+│ http://127\.0\.0\.1:\d+", out), out
    for step in ("First full sync", "People edit the CRMs", "Incremental sync", "What happened", "Where to look"):
        assert step in out, out
    assert "Salesforce now says 'Head of Sales', Dataverse 'Head of Sales'" in out, out
    assert "gone from Salesforce and HubSpot too" in out, out
    assert "Salesforce keeps 1 and Dataverse 1 of the two records" in out, out
    assert "created in Salesforce (1 record) and Dataverse (1 record)" in out, out
    assert "Writes in this sync: 0" in out, out
    assert (tmp_path / "demo" / "crmsync.db").exists()
    status = subprocess.run(
        [sys.executable, "-m", "crmsync", "status", "-c", str(tmp_path / "demo" / "crmsync.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "contact" in status.stdout
