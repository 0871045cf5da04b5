"""Dataverse-specific conformance cases: delta expiry, Win/LoseOpportunity, creates in a closed state, merge hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.base import RemoteRecord, WriteOp
from crmsync.connectors.dynamics import TABLES, DynamicsConnector, DynamicsSettings, DynamicsWebhookDecoder
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app
from crmsync.errors import ConfigError

BASE = "https://dv.conformance"
EXT = "new_crmsyncid"
Env = tuple[DynamicsConnector, httpx.AsyncClient, Starlette]


def settings_for(config: DynamicsConfig, **extra: Any) -> DynamicsSettings:
    """Settings that reach the emulator of `config` with its credentials."""
    return DynamicsSettings(
        org_url=BASE,
        authority=BASE,
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=SecretStr(config.client_secret),
        **extra,
    )


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    column = CustomColumn(name=EXT, max_length=100, alternate_key=True)
    config = DynamicsConfig(custom_columns={table: [column] for table in TABLES})
    app = create_app(config)
    settings = settings_for(config, external_ids=dict.fromkeys(TABLES, EXT), page_size=10)
    now = [0.0]

    async def no_sleep(seconds: float) -> None:
        now[0] += seconds

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        connector = DynamicsConnector(
            settings, connection="dv-conf", client=client, sleep=no_sleep, clock=lambda: now[0]
        )
        yield connector, client, app


def create(ref: str, links: dict[str, str | None] | None = None, **fields: Any) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXT, ref), links=links or {})


async def test_an_expired_delta_token_loses_no_update_and_tracking_resumes(env: Env) -> None:
    connector, client, _ = env
    results = await connector.apply("contact", [create(f"c{i}", lastname=f"L{i}") for i in range(25)])
    ids = [r.id for r in results]
    cursor = [p async for p in connector.changes("contact", None)][-1].cursor
    await client.post("/_emulator/clock", json={"advance_ms": 8 * 86_400_000})
    await connector.apply("contact", [WriteOp("update", "c3", id=ids[3], fields={"jobtitle": "After expiry"})])
    pages = [p async for p in connector.changes("contact", cursor)]
    edited = [r for p in pages for r in p.upserts if r.id == ids[3]]
    assert edited and edited[-1].fields["jobtitle"] == "After expiry"
    assert orjson.loads(pages[-1].cursor)["mode"] == "delta"
    await connector.apply("contact", [WriteOp("delete", "c4", id=ids[4])])
    after = [p async for p in connector.changes("contact", pages[-1].cursor)]
    assert [t.id for p in after for t in p.tombstones] == [ids[4]]


async def test_deal_stages_close_through_the_vendor_actions(env: Env) -> None:
    connector, _, _ = env
    schema = await connector.describe("opportunity")
    won_stage = next(key for key, (_, closed, won) in schema.stages.items() if closed and won)
    state, status = (int(part) for part in won_stage.split(":"))
    [deal] = await connector.apply("opportunity", [create("deal", name="Big deal", statecode=state, statuscode=status)])
    assert deal.ok and deal.id
    [row] = await connector.fetch("opportunity", [deal.id])
    assert isinstance(row, RemoteRecord)
    assert (row.fields["statecode"], row.fields["statuscode"]) == (state, status)
    assert row.fields["closeprobability"] == 100  # WinOpportunity ran, not a PATCH of statecode


async def test_an_activity_has_one_regarding_parent(env: Env) -> None:
    connector, _, _ = env
    [company] = await connector.apply("account", [create("co", name="Co")])
    [contact] = await connector.apply("contact", [create("ct", {"company": company.id}, lastname="Ct")])
    [deal] = await connector.apply("opportunity", [create("dl", {"company": company.id}, name="Dl")])
    assert company.id and contact.id and deal.id
    links: dict[str, str | None] = {"company": company.id, "contact": contact.id, "deal": deal.id}
    [task] = await connector.apply("task", [create("tk", links, subject="Follow up")])
    assert task.ok and task.id
    [row] = await connector.fetch("task", [task.id])
    assert isinstance(row, RemoteRecord) and row.links == {"deal": (deal.id,)}


async def test_merges_reach_the_webhook_decoder_as_re_points(env: Env) -> None:
    connector, client, app = env
    survivor, absorbed = await connector.apply("account", [create("s", name="S"), create("a", name="A")])
    assert survivor.id and absorbed.id
    registration = {"url": "https://hooks.example/dv", "auth": "WebhookKey", "key": "k3y", "table": "account"}
    await client.post("/_emulator/webhooks", json=registration)
    await client.post("/_emulator/merge", json={"table": "account", "target": survivor.id, "subordinate": absorbed.id})
    decoder = DynamicsWebhookDecoder(SecretStr("k3y"))
    hints = []
    for delivery in app.state.vendor.runtime.webhooks.deliveries:
        body, headers = delivery.render(1)
        decoder.verify("POST", delivery.url, headers, body)
        hints.extend(decoder.decode(body))
    assert ("merged", absorbed.id, survivor.id) in [(h.kind, h.id, h.merged_into) for h in hints]


async def _state(connector: DynamicsConnector, table: str, record_id: str | None) -> tuple[Any, Any]:
    assert record_id
    [row] = await connector.fetch(table, [record_id])
    assert isinstance(row, RemoteRecord)
    return row.fields["statecode"], row.fields["statuscode"]


async def _batch_calls(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/_emulator/stats")).json()
    return sum(op["calls"] for name, op in stats["operations"].items() if "$batch" in name)


async def test_a_task_created_completed_is_created_open_then_completed_in_the_same_batch(env: Env) -> None:
    connector, client, _ = env
    before = await _batch_calls(client)
    [task] = await connector.apply("task", [create("done", subject="Call back", statecode=1, statuscode=5)])
    assert task.ok and task.created, task
    assert await _state(connector, "task", task.id) == (1, 5)
    assert await _batch_calls(client) == before + 1  # the upsert and the state PATCH share one $batch


async def test_creates_without_a_key_set_their_state_in_a_second_step(env: Env) -> None:
    connector, client, _ = env
    before = await _batch_calls(client)
    canceled = WriteOp("create", "cancel", fields={"subject": "Never mind", "statecode": 2, "statuscode": 6})
    won = WriteOp(
        "create", "won", fields={"name": "Won at birth", "estimatedvalue": 500, "statecode": 1, "statuscode": 3}
    )
    [task] = await connector.apply("task", [canceled])
    [deal] = await connector.apply("opportunity", [won])
    assert task.ok and task.created and deal.ok and deal.created, (task, deal)
    assert await _state(connector, "task", task.id) == (2, 6)
    assert await _state(connector, "opportunity", deal.id) == (1, 3)
    [row] = await connector.fetch("opportunity", [str(deal.id)])
    assert isinstance(row, RemoteRecord) and row.fields["closeprobability"] == 100  # WinOpportunity ran
    assert await _batch_calls(client) == before + 4  # each create, then its state change once the id is known


@pytest.mark.parametrize(
    ("table", "fields", "state"),
    [
        ("account", {"name": "Gone Co"}, (1, 2)),
        ("contact", {"lastname": "Left"}, (1, 2)),
        ("phonecall", {"subject": "Rang"}, (1, 2)),
        ("appointment", {"subject": "Met"}, (1, 3)),
        ("opportunity", {"name": "Lost at birth"}, (2, 5)),
    ],
)
async def test_every_table_can_be_created_in_a_non_default_state(
    env: Env, table: str, fields: dict[str, Any], state: tuple[int, int]
) -> None:
    connector, _, _ = env
    keyed = create(f"{table}-k", **fields, statecode=state[0], statuscode=state[1])
    unkeyed = WriteOp("create", f"{table}-u", fields={**fields, "statecode": state[0], "statuscode": state[1]})
    results = await connector.apply(table, [keyed, unkeyed])
    assert [r.ref for r in results] == [keyed.ref, unkeyed.ref]
    assert all(r.ok and r.created for r in results), results
    for result in results:
        assert await _state(connector, table, result.id) == state


async def test_a_refused_state_change_is_the_ops_error_with_the_vendor_message(env: Env) -> None:
    connector, _, _ = env
    ops = [
        create("bad-pair", subject="Half done", statecode=1, statuscode=6),  # 6 is Canceled: a status of state 2
        WriteOp("create", "bad-unkeyed", fields={"subject": "Half done too", "statecode": 1, "statuscode": 6}),
        create("fine", subject="Done", statecode=1, statuscode=5),
    ]
    bad, bad_unkeyed, fine = await connector.apply("task", ops)
    for result in (bad, bad_unkeyed):
        assert not result.ok and result.created and result.error is not None, result
        assert result.error.classification == "invalid"
        assert "6 is not a valid status code for state code TaskState.Completed" in result.error.message
        assert await _state(connector, "task", result.id) == (0, 2)  # created, left open
    assert fine.ok and await _state(connector, "task", fine.id) == (1, 5)


async def test_an_upsert_onto_an_existing_record_changes_its_state(env: Env) -> None:
    connector, _, _ = env
    [first] = await connector.apply("task", [create("again", subject="Open")])
    [second] = await connector.apply("task", [create("again", subject="Closed", statecode=1, statuscode=5)])
    assert first.ok and second.ok and not second.created and second.id == first.id, second
    assert await _state(connector, "task", first.id) == (1, 5)
    [reopened] = await connector.apply("task", [create("again", statecode=0, statuscode=3)])
    assert reopened.ok and await _state(connector, "task", first.id) == (0, 3)


async def test_a_create_with_a_status_of_another_state_names_the_default_state(env: Env) -> None:
    connector, _, _ = env
    [account] = await connector.apply("account", [create("status-only", name="Half", statuscode=2)])
    assert not account.ok and account.error is not None
    # Regression: the emulator named every default state "Open"; an account's is AccountState.Active.
    assert account.error.message == "2 is not a valid status code for state code AccountState.Active on account."


async def test_a_read_of_a_missing_external_id_column_says_how_to_make_it() -> None:
    config = DynamicsConfig()  # no custom columns: `crmsync check --fix` has not run
    settings = settings_for(config, external_ids={"contact": EXT})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(config)), base_url=BASE) as client:
        connector = DynamicsConnector(settings, connection="dv-conf", client=client)
        with pytest.raises(ConfigError, match=r"no new_crmsyncid column .* `crmsync check --fix` creates it"):
            [page async for page in connector.changes("contact", None, fields=["lastname", EXT])]
        with pytest.raises(ConfigError, match=r"no new_crmsyncid column"):
            await connector.fetch("contact", ["00000000-0000-0000-0000-000000000001"], fields=["lastname", EXT])
        # Other refused queries are left as they are.
        with pytest.raises(ConfigError, match="Could not find a property named 'nosuchcolumn'") as refused:
            [page async for page in connector.changes("contact", None, fields=["nosuchcolumn"])]
        assert "check --fix" not in str(refused.value)
