"""The operator's commands as a user runs them, on a populated state store: status, conflicts, errors, explain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from crmsync.cli.main import app
from crmsync.config import SyncConfig, load_config
from crmsync.connectors.salesforce.records import to_id18
from crmsync.engine.outbox import await_job, refetch_job
from crmsync.store import ConflictSide, Link, Store, SyncErrorReport, open_store
from tests.unit.engine.test_inspect import T1, World, seed

T = TypeVar("T")

CONFIG = """\
state:
  url: sqlite:///state.db
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    login_url: https://acme.my.salesforce.com
    client_id: consumer-key
    client_secret: {file: secrets/sf}
  hs:
    vendor: hubspot
    access_token: {file: secrets/hs}
  dv:
    vendor: dynamics
    org_url: https://contoso.crm.dynamics.com
    tenant_id: tenant
    client_id: app
    client_secret: {file: secrets/dv}
objects:
  company: {}
  contact:
    fields:
      title: {policy: manual}
"""
SECRETS = {"sf": "sf-s3cret-value", "hs": "pat-na1-s3cret-value", "dv": "dv-s3cret-value"}


def with_store(config: SyncConfig, work: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        store = await open_store(config.state_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


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
    # Wide, so table cells are not wrapped in the middle of the text the tests look for.
    result = CliRunner().invoke(app, [*args, "--config", str(config_file)], env={"COLUMNS": "250"})
    for secret in SECRETS.values():
        assert secret not in result.output
    return result


def test_status_shows_the_state_at_a_glance(config_file: Path, config: SyncConfig, world: World) -> None:
    result = crmsync(config_file, "status")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"State database {config.state_url_safe} (sqlite)" in out
    assert "Records, and links per connection" in out
    assert "│ contact │       2 │       0 │  2 │  2 │  1 │         1 │" in out
    assert "│ write │ contact │ dv         │       1 │" in out
    assert "Outbox backlog (writes waiting per connection): dv 1" in out
    assert "! 1 open conflict: crmsync conflicts list" in out
    assert "! 1 sync error (dv 1): crmsync errors list" in out
    assert "! 1 duplicate group" in out
    assert "! 1 dead job" in out
    assert "· 1 write queued (dv 1): the next sync delivers it" in out
    assert "nothing needs attention" not in out


def test_status_names_what_the_next_sync_still_has_to_do_before_it_says_all_clear(
    config_file: Path, config: SyncConfig
) -> None:
    async def nothing(store: Store) -> None:
        del store  # a state database a sync left with nothing to do

    with_store(config, nothing)
    clear = crmsync(config_file, "status")
    assert clear.exit_code == 0, clear.output
    assert "✓ nothing needs attention" in clear.stdout

    async def queue(store: Store) -> None:
        async with store.begin() as tx:
            await tx.jobs.enqueue_many(
                [
                    await_job("contact", "hs", "contacts", "101"),
                    await_job("contact", "hs", "contacts", "102"),
                    refetch_job("company", "sf", "Account", "001000000000001AAA", reason="webhook"),
                ]
            )

    with_store(config, queue)
    result = crmsync(config_file, "status")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "nothing needs attention" not in out
    assert (
        "· 2 records wait for a parent crmsync has not synced yet (contact 2): each sync reads them again until it "
        "has (`crmsync sync --dry-run` names the kinds waiting)"
    ) in out
    assert "· 1 record queued to read again (sf 1): the next sync reads it" in out
    data = json.loads(crmsync(config_file, "status", "--json").stdout)
    assert data["pending"] == {
        "waiting": {"contact": 2},
        "reads": {"sf": 1},
        "writes": {},
        "other": 0,
        "links": {},
        "blocked": [],
    }


def test_status_json_is_for_scripts(config_file: Path, world: World) -> None:
    result = crmsync(config_file, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["open_conflicts"] == 1 and data["dead_jobs"] == 1 and data["outbox"] == {"dv": 1}
    contact = next(k for k in data["kinds"] if k["kind"] == "contact")
    assert contact["links"] == {"dv": 1, "hs": 2, "sf": 2}


def test_status_without_a_state_database_says_so_and_creates_nothing(config_file: Path) -> None:
    result = crmsync(config_file, "status")
    assert result.exit_code == 1
    assert "no state database" in result.stderr and "crmsync sync" in result.stderr
    assert not (config_file.parent / "state.db").exists()


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG.replace("url: sqlite:///state.db", "url: {env: STATE_URL}"), encoding="utf-8")
    (tmp_path / "secrets").mkdir()
    for name, secret in SECRETS.items():
        (tmp_path / "secrets" / name).write_text(secret, encoding="utf-8")
    url = "postgresql+asyncpg://crmsync:hunter2-pw@127.0.0.1:1/crmsync"
    result = CliRunner().invoke(app, ["status", "--config", str(path)], env={"STATE_URL": url, "COLUMNS": "250"})
    assert result.exit_code == 1
    assert "cannot use the state database at postgresql+asyncpg://crmsync:***@127.0.0.1:1/crmsync" in result.stderr
    assert "hunter2-pw" not in result.output


def test_a_broken_config_lists_its_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text("connections: {}\nbogus: 1\n", encoding="utf-8")
    result = crmsync(path, "status")
    assert result.exit_code == 2
    assert "unknown key 'bogus'" in result.stderr


def test_conflicts_list_and_show(config_file: Path, world: World) -> None:
    listed = crmsync(config_file, "conflicts", "list")
    assert listed.exit_code == 0, listed.output
    assert "Ada Lovelace" in listed.stdout and "title" in listed.stdout
    assert "hs: Chief" in listed.stdout and "sf: CTO" in listed.stdout
    assert "1 open conflict." in listed.stdout
    as_json = json.loads(crmsync(config_file, "conflicts", "list", "--json").stdout)
    assert [(c["id"], c["field"], c["golden"]) for c in as_json] == [(world.conflict_id, "title", "Engineer")]
    assert "No open conflicts" in crmsync(config_file, "conflicts", "list", "--object", "company").stdout

    shown = crmsync(config_file, "conflicts", "show", str(world.conflict_id))
    assert shown.exit_code == 0, shown.output
    assert f"Conflict #{world.conflict_id} on title" in shown.stdout
    assert "golden now" in shown.stdout and "Engineer" in shown.stdout
    assert "title ◀ this conflict" in shown.stdout and "ada@x.io" in shown.stdout  # the record's other fields
    assert f"crmsync conflicts resolve {world.conflict_id} --take hs | --take sf" in shown.stdout
    missing = crmsync(config_file, "conflicts", "show", "999")
    assert missing.exit_code == 1 and "no conflict #999" in missing.stderr


def test_resolve_closes_the_conflict_and_queues_writes(config_file: Path, config: SyncConfig, world: World) -> None:
    result = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id), "--take", "hs", "--by", "alice")
    assert result.exit_code == 0, result.output
    assert f"Resolved conflict #{world.conflict_id}: contact c1 title = Chief (from hs), by alice" in result.stdout
    assert "Queued writes" in result.stdout and "The next `crmsync sync` delivers them." in result.stdout
    assert "A running `crmsync serve` or `crmsync worker` runs them within seconds." in " ".join(result.stdout.split())

    async def check(store: Store) -> None:
        async with store.read() as tx:
            conflict = await tx.conflicts.get(world.conflict_id)
            assert conflict is not None and (conflict.resolved, conflict.resolved_by) == (True, "alice")
            pending = {j.kind for j in await tx.jobs.list("pending")}
            assert {"write:contact:sf", "write:contact:dv"} <= pending
            golden = await tx.records.get("c1")
            assert golden is not None and golden.record.fields["title"] == "Chief"

    with_store(config, check)
    assert "No open conflicts" in crmsync(config_file, "conflicts", "list").stdout
    again = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id), "--take", "sf")
    assert again.exit_code == 1 and "already resolved by alice" in again.stderr


def test_resolve_needs_exactly_one_choice_and_explains_a_bad_side(config_file: Path, world: World) -> None:
    neither = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id))
    assert neither.exit_code == 2 and "exactly one of --take CONNECTION or --value TEXT" in neither.output
    wrong = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id), "--take", "dv")
    assert wrong.exit_code == 1 and "no side from 'dv'" in wrong.stderr
    typed = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id), "--value", "VP Engineering")
    assert typed.exit_code == 0, typed.output
    assert "title = VP Engineering (typed in), by cli" in typed.stdout


def test_errors_list_shows_failures_duplicates_and_dead_jobs(config_file: Path, world: World) -> None:
    result = crmsync(config_file, "errors", "list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"E{world.error_id}" in out and "Business Process Error: lastname is required" in out
    assert "Duplicate groups" in out and "003B" in out
    assert f"J{world.dead_job_id}" in out and "INVALID_EMAIL_ADDRESS" in out
    assert "1 sync error, 1 duplicate group, 1 dead job." in out
    only_sf = crmsync(config_file, "errors", "list", "--connection", "sf", "--json")
    data = json.loads(only_sf.stdout)
    assert (data["errors"], data["dead_jobs"], [d["error_ids"] for d in data["duplicates"]]) == (
        [],
        [],
        [[world.duplicate_id]],
    )


def test_errors_retry_requeues_and_says_what(config_file: Path, config: SyncConfig, world: World) -> None:
    result = crmsync(
        config_file, "errors", "retry", f"E{world.error_id}", f"j{world.dead_job_id}", f"E{world.duplicate_id}"
    )
    assert result.exit_code == 0, result.output
    assert f"re-queued E{world.error_id}: write:contact:dv dv/c2" in result.stdout
    assert f"re-queued J{world.dead_job_id}: write:contact:hs hs/c2" in result.stdout
    assert f"not retried E{world.duplicate_id}: a duplicate group" in result.stdout
    assert "A running `crmsync serve` or `crmsync worker` runs them within seconds." in " ".join(result.stdout.split())

    async def check(store: Store) -> None:
        async with store.read() as tx:
            pending = {j.key for j in await tx.jobs.list("pending")}
            assert {"dv/c2", "hs/c2"} <= pending
            assert await tx.jobs.list("dead") == []

    with_store(config, check)
    assert "Nothing to retry." in crmsync(config_file, "errors", "retry", "--all").stdout
    bad = crmsync(config_file, "errors", "retry", "X1")
    assert bad.exit_code == 2 and "expected E<id>" in bad.output
    both = crmsync(config_file, "errors", "retry")
    assert both.exit_code == 2


def test_a_delete_versus_edit_conflict_says_what_each_choice_does(config_file: Path, config: SyncConfig) -> None:
    # Grace (c2) deleted in Dataverse and edited in HubSpot (S13, `on_edit: park`). The table said
    # `@deleted  false | dv: true | hs: false | golden now (blank)` and offered `--value TEXT`: nothing told the
    # operator which choice deletes the person everywhere and which brings them back.
    def park(store: Store) -> Coroutine[Any, Any, int]:
        async def work() -> int:
            async with store.begin() as tx:
                sides = [ConflictSide("dv", True, T1), ConflictSide("hs", False, T1)]
                return (await tx.conflicts.park("c2", "@deleted", False, sides)).id

        return work()

    with_store(config, seed)
    conflict_id = with_store(config, park)
    listed = " ".join(crmsync(config_file, "conflicts", "list").stdout.split())
    assert "dv: deleted" in listed and "hs: kept" in listed and "live (kept while the delete waits)" in listed
    shown = crmsync(config_file, "conflicts", "show", str(conflict_id))
    out = " ".join(shown.stdout.split())
    assert shown.exit_code == 0, shown.output
    assert f"Deleted in dv, edited in hs. Resolve #{conflict_id}:" in out
    assert "`--take dv` (or `--value true`) deletes it everywhere" in out
    assert "`--take hs` (or `--value false`) keeps it and creates it again in dv" in out
    assert "--value TEXT" not in out
    resolved = crmsync(config_file, "conflicts", "resolve", str(conflict_id), "--take", "hs")
    assert resolved.exit_code == 0, resolved.output
    assert "@deleted = false (kept)" in " ".join(resolved.stdout.split())


def test_resolve_by_rule_settles_every_conflict_on_a_field_with_one_side(
    config_file: Path, config: SyncConfig, world: World
) -> None:
    # The dashboard's rule ("prefer HubSpot on title"), from the CLI. Grace (c2) also has a title dispute, between
    # Salesforce and Dataverse only: HubSpot's side cannot settle it, so it stays open and the command says why.
    def park(store: Store) -> Coroutine[Any, Any, int]:
        async def work() -> int:
            async with store.begin() as tx:
                sides = [ConflictSide("sf", "Admiral", T1), ConflictSide("dv", "Commodore", T1)]
                return (await tx.conflicts.park("c2", "title", "Captain", sides)).id

        return work()

    other = with_store(config, park)
    result = crmsync(config_file, "conflicts", "resolve", "--field", "title", "--object", "contact", "--take", "hs")
    out = " ".join(result.stdout.split())
    assert result.exit_code == 1, result.output  # one was left open: not everything the rule asked was done
    assert f"Resolved conflict #{world.conflict_id}: contact c1 title = Chief" in out
    assert f"Left open #{other}: conflict on 'title' has no side from 'hs'" in out
    assert "1 conflict on title settled with hs's side" in out and "1 left open" in out
    listed = json.loads(crmsync(config_file, "conflicts", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [other]
    typo = crmsync(config_file, "conflicts", "resolve", "--field", "titel", "--take", "hs")
    assert typo.exit_code == 2 and "'titel' is not a field" in " ".join(typo.output.split())
    both = crmsync(config_file, "conflicts", "resolve", str(other), "--field", "title", "--take", "sf")
    assert both.exit_code == 2
    done = crmsync(config_file, "conflicts", "resolve", "--field", "title", "--take", "sf")
    assert done.exit_code == 0, done.output
    assert (
        "No open conflict on title."
        in crmsync(config_file, "conflicts", "resolve", "--field", "title", "--take", "sf").stdout
    )


def test_errors_retry_all_of_one_connection_or_object_kind(config_file: Path, world: World) -> None:
    # `--object company` narrows --all to nothing here: the contact's error and dead job stay as they are.
    none = crmsync(config_file, "errors", "retry", "--all", "--object", "company")
    assert none.exit_code == 0 and "Nothing to retry." in none.stdout
    only_hs = crmsync(config_file, "errors", "retry", "--all", "--connection", "hs", "--object", "contact")
    assert only_hs.exit_code == 0, only_hs.output
    assert f"re-queued J{world.dead_job_id}: write:contact:hs hs/c2" in only_hs.stdout
    assert f"E{world.error_id}" not in only_hs.stdout  # Dataverse's error waits for its own retry
    left = json.loads(crmsync(config_file, "errors", "list", "--json").stdout)
    assert ([e["id"] for e in left["errors"]], left["dead_jobs"]) == ([world.error_id], [])
    without_all = crmsync(config_file, "errors", "retry", "--connection", "dv")
    assert without_all.exit_code == 2 and "add --all" in without_all.output


def test_errors_refuse_a_connection_the_config_does_not_define(config_file: Path, world: World) -> None:
    # A typo listed "No sync errors" (exit 0) and retried nothing: the operator took it for all clear.
    for args in (("list",), ("retry", "--all")):
        typo = crmsync(config_file, "errors", *args, "--connection", "dataverse")
        out = " ".join(typo.output.split())
        assert typo.exit_code == 2, typo.output
        assert "'dataverse' is not a connection in" in out and "dv, hs, sf" in out
        assert "No sync errors" not in out and "Nothing to retry" not in out


def test_explain_by_remote_id(config_file: Path, world: World) -> None:
    result = crmsync(config_file, "explain", "contact", "501")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "contact Ada Lovelace <ada@x.io>  c1" in out
    assert "guid-1" in out and "003A" in out
    assert "last_writer_wins" in out and "write pending" in out and "held by conflict" in out
    assert "Open conflicts" in out and "Recent changes (audit)" in out
    assert "+14155550000 → +14155550100" in out
    assert f"E{world.duplicate_id}" in out  # the record's duplicate group
    data = json.loads(crmsync(config_file, "explain", "contact", "c1", "--json").stdout)
    assert data["canonical_id"] == "c1" and data["writes"] == {"dv": "pending"}
    missing = crmsync(config_file, "explain", "contact", "nobody")
    assert missing.exit_code == 1 and "no contact with canonical or remote id 'nobody'" in missing.stderr


def test_resolve_can_keep_the_golden_value(config_file: Path, config: SyncConfig, world: World) -> None:
    help_text = " ".join(
        CliRunner().invoke(app, ["conflicts", "resolve", "--help"], env={"COLUMNS": "250"}).output.split()
    )
    assert "`golden` to keep the value the golden record holds now" in help_text
    shown = crmsync(config_file, "conflicts", "show", str(world.conflict_id))
    assert "--take golden` (keep golden now)" in shown.stdout
    result = crmsync(config_file, "conflicts", "resolve", str(world.conflict_id), "--take", "golden")
    assert result.exit_code == 0, result.output
    assert "title = Engineer (the golden value, kept), by cli" in result.stdout
    assert "Queued writes" in result.stdout


def test_explain_takes_a_15_character_salesforce_id_as_the_ui_shows_it(
    config_file: Path, config: SyncConfig, world: World
) -> None:
    id15 = "003dM0000000007"
    id18 = to_id18(id15)
    assert len(id18) == 18

    async def link(store: Store) -> None:
        async with store.begin() as tx:
            await tx.links.link(Link("c1", "contact", "sf", "Contact", id18))

    with_store(config, link)
    for ident in (id15, id18):
        result = crmsync(config_file, "explain", "contact", ident)
        assert result.exit_code == 0, (ident, result.output)
        assert "contact Ada Lovelace <ada@x.io>  c1" in result.stdout and id18 in result.stdout
    # 15-character ids are case-sensitive: another casing is another record.
    wrong_case = crmsync(config_file, "explain", "contact", "003DM0000000007")  # another record for Salesforce
    assert wrong_case.exit_code == 1 and "no contact with canonical or remote id '003DM0000000007'" in wrong_case.stderr


def test_piped_tables_keep_ids_and_values_whole(config_file: Path, config: SyncConfig, world: World) -> None:
    survivor, duplicate = "003dM000000AbCdQAC", "003dM000000XyZwQAC"

    async def add(store: Store) -> None:
        async with store.begin() as tx:
            await tx.errors.record(
                SyncErrorReport(
                    connection="sf",
                    object="Contact",
                    operation="link",
                    message=f"duplicate contact in sf: {duplicate} has the same email as {survivor}; merge them in sf",
                    canonical_id="c2",
                    remote_id=duplicate,
                    code="DUPLICATE",
                )
            )
            await tx.conflicts.park(
                "c2", "title", "Head of Procurement Negotiations", [ConflictSide("hs", "negotiation lead", None)]
            )

    with_store(config, add)
    for command in (("errors", "list"), ("conflicts", "list")):
        # No terminal and no COLUMNS, as in a pipe or CI: rich alone would lay tables out in 80 columns.
        result = CliRunner().invoke(app, [*command, "--config", str(config_file)], env={"COLUMNS": None})
        assert result.exit_code == 0, result.output
        assert not [line for line in result.stdout.splitlines() if line.startswith("│") and "…" in line], result.stdout
        if command[0] == "errors":
            assert survivor in result.stdout and duplicate in result.stdout, result.stdout
        else:
            assert "Head of Procurement Negotiations" in result.stdout and "negotiation lead" in result.stdout
