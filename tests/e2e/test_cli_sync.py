"""`crmsync sync` as a user runs it, against the three emulators served over loopback."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli_check import crmsync, emulators, write_config


def test_a_dry_run_after_a_failed_read_says_its_plan_is_incomplete_and_creates_no_state(tmp_path: Path) -> None:
    with emulators() as urls:
        write_config(tmp_path, urls, mappings={"contact.nickname": {"salesforce": "Nickname__c"}})
        result = crmsync("sync", "--dry-run", "--object", "contact", cwd=tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED read contact salesforce" in out and "Nickname__c" in out
    assert "The plan is incomplete: the failures listed above" in out
    assert "already agrees" not in out
    assert not list(tmp_path.glob("crmsync.db*"))  # a dry run writes nothing anywhere, no state file either
