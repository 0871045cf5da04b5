"""`crmsync mappings` as a user runs it: the shipped maps without a config, the active maps of `crmsync init`'s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crmsync.mapping import default_mappings


def crmsync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_without_a_config_the_shipped_maps_of_all_three_vendors_are_printed(tmp_path: Path) -> None:
    result = crmsync("mappings", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# crmsync field maps\n")
    assert "| canonical field | Salesforce | HubSpot | Dataverse |" in out
    for object_map in default_mappings():
        assert f"`{object_map.object}`" in out
        for rule in object_map.rules:
            assert all(f"`{name}`" in out for name in rule.vendor), rule


def test_the_configs_maps_go_to_a_file_for_one_object(tmp_path: Path) -> None:
    assert crmsync("init", cwd=tmp_path).returncode == 0
    result = crmsync("mappings", "--object", "deal", "--output", "docs/field-maps.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote docs/field-maps.md" in result.stdout
    text = (tmp_path / "docs" / "field-maps.md").read_text(encoding="utf-8")
    assert "from `crmsync.yaml` over the shipped defaults" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## deal", "## Transforms"]
    assert (
        "| canonical field | salesforce (Salesforce) | hubspot (HubSpot) | dynamics (Dataverse) | sync rules |" in text
    )
    assert "Conflicts: prefer salesforce." in text
    stage = next(line for line in text.splitlines() if line.startswith("| **stage** |"))
    assert stage.endswith("| policy manual |")  # `crmsync init` parks differing stages for a person
    for secret in (tmp_path / "secrets").iterdir():
        assert secret.read_text(encoding="utf-8").strip() not in text


def test_a_missing_config_named_explicitly_is_an_error(tmp_path: Path) -> None:
    result = crmsync("mappings", "--config", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 2  # a configuration mistake, as for every command
    assert result.stderr.startswith("error: ") and "nowhere.yaml" in result.stderr and "cannot read" in result.stderr


def test_an_object_the_config_does_not_sync_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("pat-na1-not-a-real-token\n", encoding="utf-8")
    (tmp_path / "crmsync.yaml").write_text(
        "connections:\n  hs: {vendor: hubspot, access_token: {file: token}}\nobjects:\n  contact: {}\n",
        encoding="utf-8",
    )
    result = crmsync("mappings", "--object", "deal", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: deal: not synced by" in result.stderr
