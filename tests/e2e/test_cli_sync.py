"""`crmsync sync` as a user runs it, against the three emulators served over loopback."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from crmsync.cli.sync import run_with_progress
from crmsync.config import load_config
from crmsync.engine.runner import RunOptions
from tests.e2e.test_cli_check import crmsync, declared_external_ids, emulators, write_config


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


def test_only_a_dry_run_makes_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real sync has no use for one, and a sync killed mid-way left it behind in /tmp at every kill."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    made: list[str] = []
    real = tempfile.TemporaryDirectory

    def recording(*args: Any, **kwargs: Any) -> tempfile.TemporaryDirectory[str]:
        folder = real(*args, **kwargs)
        made.append(folder.name)
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", recording)
    with emulators() as urls:
        config = load_config(write_config(tmp_path, urls), environ={})
        for dry_run in (False, True):
            asyncio.run(run_with_progress(config, RunOptions(dry_run=dry_run, kinds=("company",)), console=Console()))
    assert [Path(name).parent for name in made] == [scratch]  # the dry run's, and no other
    assert Path(made[0]).name.startswith("crmsync-dry-run-") and not list(scratch.iterdir())


def test_a_field_mapped_after_the_first_sync_is_read_in_full_by_the_next_sync_which_says_so(tmp_path: Path) -> None:
    # The shipped maps read a contact's description from Salesforce and Dataverse (HubSpot has none).
    newly_mapped = [
        "salesforce contact: fields newly mapped (Description): read in full",
        "dynamics contact: fields newly mapped (description): read in full",
    ]
    with emulators(declared_external_ids()) as urls:
        write_config(tmp_path, urls, mappings={"contact.description": None})
        runs = [crmsync("sync", "--object", "contact", cwd=tmp_path)]
        write_config(tmp_path, urls)  # the operator maps the description again
        for options in (["--dry-run"], [], []):
            runs.append(crmsync("sync", "--object", "contact", *options, cwd=tmp_path))
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    first, dry_run, mapped, after = (" ".join(run.stdout.split()) for run in runs)
    assert all(line in dry_run and line in mapped for line in newly_mapped)  # a dry run stores no fields
    assert all("newly mapped" not in out for out in (first, after)) and "hubspot contact: fields" not in mapped
