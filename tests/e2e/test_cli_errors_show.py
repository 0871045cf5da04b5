"""`crmsync errors show ID` as an operator runs it: one sync error (or job) in full, and what to do about it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crmsync.cli.main import app
from crmsync.config import SyncConfig, load_config
from crmsync.engine.outbox import write_job
from crmsync.store import Store, SyncErrorReport
from tests.e2e.test_cli_operator import CONFIG, SECRETS, with_store
from tests.unit.engine.test_inspect import World, seed


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    for name, secret in SECRETS.items():
        (tmp_path / "secrets" / name).write_text(secret + "\n", encoding="utf-8")
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def config(config_file: Path) -> SyncConfig:
    return load_config(config_file, environ={})


@pytest.fixture
def world(config: SyncConfig) -> World:
    return with_store(config, seed)


def crmsync(config_file: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "--config", str(config_file)], env={"COLUMNS": "250"})
    for secret in SECRETS.values():
        assert secret not in result.output
    return result


def _lines(result: Result) -> str:
    return " ".join(result.stdout.split())


def test_errors_show_tells_everything_about_a_failed_create_and_how_to_retry_it(
    config_file: Path, world: World
) -> None:
    for ref in (f"E{world.error_id}", str(world.error_id), f"e{world.error_id}"):
        result = crmsync(config_file, "errors", "show", ref)
        assert result.exit_code == 0, result.output
        out = _lines(result)
        assert f"Sync error E{world.error_id}: create in dv contact" in out
        assert "record c2 (Grace Hopper <grace@x.io>)" in out
        assert "field last_name" in out and "vendor code 0x80040200" in out
        assert "message Business Process Error: lastname is required" in out
        assert "seen 1×: first 2" in out
        assert "linked sf Contact 003C hs contacts 502" in out  # where the record lives
        # Its write to dv ran and failed for good: nothing runs it again until the record changes or a retry.
        assert "retried on its own no, not on its own" in out
        assert f"Retry with `crmsync errors retry E{world.error_id}`." in out


def test_errors_show_names_the_job_and_when_it_runs_again(config_file: Path, config: SyncConfig, world: World) -> None:
    """A write still queued for the record: it retries on its own, and says when."""

    async def queue(store: Store) -> int:
        async with store.begin() as tx:
            return await tx.jobs.enqueue(write_job("contact", "c2", "dv"))

    job_id = with_store(config, queue)
    out = _lines(crmsync(config_file, "errors", "show", f"E{world.error_id}"))
    assert f"job J{job_id} write:contact:dv dv/c2: pending, 0 of 8 attempts, runs after 2" in out
    assert "retried on its own yes, queued: the next sync after 2" in out


def test_errors_show_a_dead_job_and_a_duplicate_group(config_file: Path, world: World) -> None:
    dead = crmsync(config_file, "errors", "show", f"J{world.dead_job_id}")
    assert dead.exit_code == 0, dead.output
    out = _lines(dead)
    assert f"Job J{world.dead_job_id}: write:contact:hs (dead)" in out
    assert "job's last error INVALID_EMAIL_ADDRESS: email: invalid" in out
    assert f"Retry with `crmsync errors retry J{world.dead_job_id}`." in out
    duplicate = _lines(crmsync(config_file, "errors", "show", f"E{world.duplicate_id}"))
    assert "retried on its own no, never: two records of one CRM share a match key" in duplicate
    assert "what to do merge them in sf, then sync" in duplicate and "Retry with" not in duplicate


def test_errors_show_json_is_for_scripts(config_file: Path, world: World) -> None:
    result = crmsync(config_file, "errors", "show", f"E{world.error_id}", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["ref"], data["error"]["connection"], data["error"]["operation"], data["canonical_id"]) == (
        f"E{world.error_id}",
        "dv",
        "create",
        "c2",
    )
    assert data["retries_itself"] is False and data["retry_command"] == f"crmsync errors retry E{world.error_id}"


def test_errors_show_an_unknown_id_is_an_error_naming_it(config_file: Path, world: World) -> None:
    missing = crmsync(config_file, "errors", "show", "E9999")
    assert missing.exit_code == 1 and "no sync error E9999" in missing.stderr
    no_job = crmsync(config_file, "errors", "show", "J9999")
    assert no_job.exit_code == 1 and "no job J9999" in no_job.stderr
    bad = crmsync(config_file, "errors", "show", "X1")
    assert bad.exit_code == 2 and "expected E<id>" in bad.output
    assert world.error_id != 9999


def test_errors_show_never_prints_a_secret_a_vendor_echoed(config_file: Path, config: SyncConfig) -> None:
    async def record(store: Store) -> int:
        async with store.begin() as tx:
            error = await tx.errors.record(
                SyncErrorReport(
                    connection="hs",
                    object="contacts",
                    operation="update",
                    message=f"401 for token {SECRETS['hs']} on PATCH /crm/v3/objects/contacts/501",
                    canonical_id="c1",
                    remote_id="501",
                    code="UNAUTHORIZED",
                )
            )
            return error.id

    error_id = with_store(config, record)
    for args in ((), ("--json",)):
        result = crmsync(config_file, "errors", "show", f"E{error_id}", *args)  # `crmsync` asserts no secret shows
        assert result.exit_code == 0 and "401 for token *** on PATCH" in result.stdout
