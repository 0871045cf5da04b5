"""The operator's read-side queries over a populated SQLite state store: status, conflicts, errors, explain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmsync.config import SyncConfig, parse_config
from crmsync.engine.outbox import write_job
from crmsync.engine.views.common import OperatorError, kind_of_object, parse_job_kind
from crmsync.engine.views.conflicts import conflict_detail, list_conflicts
from crmsync.engine.views.errors import list_errors
from crmsync.engine.views.explain import explain_record
from crmsync.engine.views.status import open_state, state_exists, status_summary
from crmsync.model.values import CanonicalRecord, CanonicalValue
from crmsync.store import (
    AuditEntry,
    ConflictSide,
    GoldenRecord,
    Link,
    Provenance,
    Shadow,
    Store,
    SyncErrorReport,
    open_store,
)
from tests.unit.store.helpers import FakeClock

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)

CONFIG = """\
state:
  url: sqlite:///state.db
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    login_url: https://acme.my.salesforce.com
    client_id: consumer-key
    client_secret: {env: SF_SECRET}
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
  dv:
    vendor: dynamics
    org_url: https://contoso.crm.dynamics.com
    tenant_id: tenant
    client_id: app
    client_secret: {env: DV_SECRET}
objects:
  company: {}
  contact:
    fields:
      title: {policy: manual}
  deal:
    fields:
      amount: {policy: manual}
"""
ENV = {"SF_SECRET": "sf-s3cret", "HS_TOKEN": "pat-na1-secret", "DV_SECRET": "dv-s3cret"}

ADA: dict[str, CanonicalValue] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@x.io",
    "title": "Engineer",
    "phone": "+14155550100",
}


@dataclass(frozen=True, slots=True)
class World:
    """The ids a seeded store hands out."""

    conflict_id: int
    error_id: int
    duplicate_id: int
    dead_job_id: int
    pending_job_id: int


def make_config(base_dir: Path) -> SyncConfig:
    return parse_config(CONFIG, str(base_dir / "crmsync.yaml"), environ=ENV, base_dir=base_dir)


async def seed(store: Store) -> World:
    """Two contacts and a company as a sync would leave them, with a conflict, errors and queued jobs.

    c1 (Ada): linked everywhere; title parked between sf and hs; dv still awaits the phone (a write pending).
    c2 (Grace): linked in sf and hs; its create in dv failed; its write to hs is dead-lettered.
    """
    async with store.begin() as tx:
        for link in (
            Link("c1", "contact", "sf", "Contact", "003A"),
            Link("c1", "contact", "hs", "contacts", "501"),
            Link("c1", "contact", "dv", "contact", "guid-1"),
            Link("c2", "contact", "sf", "Contact", "003C"),
            Link("c2", "contact", "hs", "contacts", "502"),
            Link("k1", "company", "sf", "Account", "001A"),
        ):
            await tx.links.link(link)
        await tx.records.put(
            GoldenRecord(
                CanonicalRecord("c1", "contact", ADA),
                provenance={
                    "first_name": Provenance("sf", T0, "change"),
                    "last_name": Provenance("sf", T0, "change"),
                    "email": Provenance("sf", T0, "change"),
                    "title": Provenance("hs", T0, "change"),
                    "phone": Provenance("sf", T1, "last_writer_wins"),
                },
            )
        )
        grace: dict[str, CanonicalValue] = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@x.io"}
        await tx.records.put(
            GoldenRecord(
                CanonicalRecord("c2", "contact", grace),
                provenance={name: Provenance("sf", T0, "change") for name in grace},
            )
        )
        await tx.records.put(
            GoldenRecord(CanonicalRecord("k1", "company", {"name": "Acme"}), {"name": Provenance("sf", T0, "change")})
        )
        await tx.shadows.put(Shadow("c1", "sf", {**ADA, "title": "CTO"}))
        await tx.shadows.put(Shadow("c1", "hs", {**ADA, "title": "Chief"}))
        await tx.shadows.put(Shadow("c1", "dv", {**ADA, "phone": None}))
        await tx.shadows.put(Shadow("c2", "sf", grace))
        await tx.shadows.put(Shadow("c2", "hs", {**grace, "last_name": "Hoper"}))
        await tx.shadows.put(Shadow("k1", "sf", {"name": "Acme"}))
        conflict = await tx.conflicts.park(
            "c1", "title", "Engineer", [ConflictSide("hs", "Chief", T2), ConflictSide("sf", "CTO", T1)]
        )
        error = await tx.errors.record(
            SyncErrorReport(
                connection="dv",
                object="contact",
                operation="create",
                message="Business Process Error: lastname is required",
                canonical_id="c2",
                field="last_name",
                code="0x80040200",
            )
        )
        duplicate = await tx.errors.record(
            SyncErrorReport(
                connection="sf",
                object="Contact",
                operation="link",
                message="duplicate contact in sf: 003B has the same email as 003A; merge them in sf",
                canonical_id="c1",
                remote_id="003B",
                code="DUPLICATE",
            )
        )
        pending = await tx.jobs.enqueue(write_job("contact", "c1", "dv"))
        await tx.jobs.enqueue(write_job("contact", "c2", "hs"))
        await tx.cursors.put("sf", "Contact", "2026-01-01T09:00:00Z|003A")
        await tx.cursors.put("hs", "contacts", "1767258000000|501")
        await tx.audit.append(
            [
                AuditEntry("c1", "title", "Analyst", "Engineer", "hs", "change", T0),
                AuditEntry("c1", "phone", None, "+14155550000", "sf", "change", T0),
                AuditEntry("c1", "phone", "+14155550000", "+14155550100", "sf", "last_writer_wins", T1),
            ]
        )
    async with store.begin() as tx:
        [claimed] = await tx.jobs.claim("worker-1", kinds=["write:contact:hs"])
        await tx.jobs.fail(claimed.id, "worker-1", "INVALID_EMAIL_ADDRESS: email: invalid", permanent=True)
    return World(conflict.id, error.id, duplicate.id, claimed.id, pending)


@pytest.fixture
def config(tmp_path: Path) -> SyncConfig:
    return make_config(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(config: SyncConfig, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(config.state_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def world(store: Store) -> World:
    return await seed(store)


async def test_status_counts_records_links_cursors_queues_conflicts_and_errors(
    store: Store, config: SyncConfig, world: World
) -> None:
    summary = await status_summary(store, config)
    assert summary.state_url == config.state_url_safe
    assert summary.dialect == "sqlite"
    by_kind = {k.kind: k for k in summary.kinds}
    assert [k.kind for k in summary.kinds] == ["company", "contact", "deal"]
    assert (by_kind["contact"].records, by_kind["contact"].deleted) == (2, 0)
    assert by_kind["contact"].links == {"dv": 1, "hs": 2, "sf": 2}
    assert by_kind["contact"].open_conflicts == 1
    assert by_kind["company"].links == {"sf": 1}
    assert by_kind["deal"].records == 0 and by_kind["deal"].configured
    assert [(c.connection, c.object, c.kind) for c in summary.cursors] == [
        ("hs", "contacts", "contact"),
        ("sf", "Contact", "contact"),
    ]
    queues = {q.job_kind: q for q in summary.queues}
    assert (queues["write:contact:dv"].pending, queues["write:contact:dv"].connection) == (1, "dv")
    assert queues["write:contact:hs"].dead == 1
    assert summary.outbox == {"dv": 1}
    assert summary.dead_jobs == 1
    assert summary.open_conflicts == 1
    assert (summary.sync_errors, summary.errors_by_connection) == (1, {"dv": 1})
    assert summary.duplicate_groups == 1
    assert summary.last_audit_at == T1


async def test_status_of_an_empty_store_needs_no_attention(store: Store, config: SyncConfig) -> None:
    summary = await status_summary(store, config)
    assert all(k.records == 0 and not k.links for k in summary.kinds)
    assert (summary.queues, summary.cursors, summary.outbox) == ((), (), {})
    assert (summary.open_conflicts, summary.sync_errors, summary.duplicate_groups) == (0, 0, 0)
    assert summary.last_audit_at is None and summary.last_change_at is None


async def test_conflicts_list_carries_kind_label_sides_and_the_golden_value(store: Store, world: World) -> None:
    [view] = await list_conflicts(store)
    assert (view.id, view.canonical_id, view.kind, view.field) == (world.conflict_id, "c1", "contact", "title")
    assert view.label == "Ada Lovelace <ada@x.io>"
    assert (view.base, view.has_base, view.golden) == ("Engineer", True, "Engineer")
    assert [(s.connection, s.value) for s in view.sides] == [("hs", "Chief"), ("sf", "CTO")]
    assert not view.resolved
    assert await list_conflicts(store, kind="company") == ()
    assert [v.id for v in await list_conflicts(store, kind="contact")] == [world.conflict_id]


async def test_resolved_conflicts_are_listed_only_on_request(store: Store, world: World) -> None:
    async with store.begin() as tx:
        await tx.conflicts.resolve(world.conflict_id, "CTO", "alice")
    assert await list_conflicts(store) == ()
    [view] = await list_conflicts(store, include_resolved=True)
    assert (view.resolved, view.resolution, view.resolved_by) == (True, "CTO", "alice")


async def test_conflict_detail_gives_the_record_for_context(store: Store, world: World) -> None:
    async with store.begin() as tx:
        await tx.conflicts.park("c1", "email", "ada@x.io", [ConflictSide("dv", "ada@y.io", T1)])
    detail = await conflict_detail(store, world.conflict_id)
    assert detail.conflict.field == "title"
    assert detail.fields == dict(sorted(ADA.items()))
    assert {(link.connection, link.remote_id) for link in detail.links} == {
        ("sf", "003A"),
        ("hs", "501"),
        ("dv", "guid-1"),
    }
    assert detail.other_conflicts == ("email",)
    with pytest.raises(OperatorError, match="no conflict #999"):
        await conflict_detail(store, 999)


async def test_errors_separate_failures_duplicate_groups_and_dead_jobs(
    store: Store, config: SyncConfig, world: World
) -> None:
    report = await list_errors(store, config)
    [error] = report.errors
    assert (error.id, error.connection, error.kind, error.operation) == (world.error_id, "dv", "contact", "create")
    assert (error.field, error.code, error.count) == ("last_name", "0x80040200", 1)
    assert error.message == "Business Process Error: lastname is required"
    assert error.retryable and not error.duplicate
    [group] = report.duplicates
    assert (group.connection, group.kind, group.canonical_id) == ("sf", "contact", "c1")
    assert (group.error_ids, group.duplicates) == ((world.duplicate_id,), ("003B",))
    [dead] = report.dead_jobs
    assert (dead.id, dead.connection, dead.object_kind, dead.canonical_id) == (world.dead_job_id, "hs", "contact", "c2")
    assert dead.last_error == "INVALID_EMAIL_ADDRESS: email: invalid"


async def test_errors_filter_by_connection_and_kind(store: Store, config: SyncConfig, world: World) -> None:
    only_hs = await list_errors(store, config, connection="hs")
    assert (only_hs.errors, only_hs.duplicates, [d.id for d in only_hs.dead_jobs]) == ((), (), [world.dead_job_id])
    only_sf = await list_errors(store, config, connection="sf")
    assert [g.error_ids for g in only_sf.duplicates] == [(world.duplicate_id,)] and not only_sf.dead_jobs
    assert (await list_errors(store, config, kind="company")).empty


async def test_explain_tells_each_fields_story(store: Store, config: SyncConfig, world: World) -> None:
    record = await explain_record(store, config, "contact", "c1")
    assert (record.canonical_id, record.kind, record.stored, record.version) == ("c1", "contact", True, 1)
    assert record.label == "Ada Lovelace <ada@x.io>"
    assert {(link.connection, link.remote_id) for link in record.links} == {
        ("sf", "003A"),
        ("hs", "501"),
        ("dv", "guid-1"),
    }
    assert record.writes == {"dv": "pending"}
    fields = {f.field: f for f in record.fields}
    phone = fields["phone"]
    assert (phone.value, phone.source, phone.at, phone.rule) == ("+14155550100", "sf", T1, "last_writer_wins")
    assert {s.connection: s.state for s in phone.shadows} == {"dv": "pending", "hs": "same", "sf": "same"}
    assert [(e.old, e.new, e.reason) for e in phone.history] == [
        (None, "+14155550000", "change"),
        ("+14155550000", "+14155550100", "last_writer_wins"),
    ]
    title = fields["title"]
    assert [c.id for c in title.conflicts] == [world.conflict_id]
    assert {s.connection: (s.value, s.state) for s in title.shadows} == {
        "dv": ("Engineer", "same"),
        "hs": ("Chief", "withheld"),
        "sf": ("CTO", "withheld"),
    }
    assert [e.id for e in record.errors] == [world.duplicate_id]


async def test_explain_limits_history_and_finds_a_record_by_remote_id(
    store: Store, config: SyncConfig, world: World
) -> None:
    record = await explain_record(store, config, "contact", "502", history=1)
    assert record.canonical_id == "c2"
    assert {f.field: len(f.history) for f in record.fields} == {"email": 0, "first_name": 0, "last_name": 0}
    last_name = next(f for f in record.fields if f.field == "last_name")
    # hs still holds the old spelling and its write is dead-lettered; dv never got the record.
    assert {s.connection: s.state for s in last_name.shadows} == {"dv": "absent", "hs": "failed", "sf": "same"}
    assert record.writes == {"hs": "dead"}
    assert [e.id for e in record.errors] == [world.error_id]
    history = await explain_record(store, config, "contact", "c1", history=1)
    assert [len(f.history) for f in history.fields if f.field == "phone"] == [1]


async def test_explain_refuses_unknown_wrong_kind_and_ambiguous_ids(
    store: Store, config: SyncConfig, world: World
) -> None:
    with pytest.raises(OperatorError, match="no contact with canonical or remote id 'nope'"):
        await explain_record(store, config, "contact", "nope")
    with pytest.raises(OperatorError, match="is a company, not a contact"):
        await explain_record(store, config, "contact", "k1")
    async with store.begin() as tx:
        await tx.links.link(Link("c2", "contact", "dv", "contact", "501"))
    with pytest.raises(OperatorError, match="several connections"):
        await explain_record(store, config, "contact", "501")


async def test_open_state_refuses_a_missing_sqlite_file_without_creating_it(tmp_path: Path) -> None:
    (tmp_path / "nowhere").mkdir()  # the folder exists (the loader refuses a missing one), the file not yet
    config = make_config(tmp_path / "nowhere")
    assert not state_exists(config)
    with pytest.raises(OperatorError, match="no state database"):
        await open_state(config)
    assert not (tmp_path / "nowhere" / "state.db").exists()


def test_job_kinds_and_vendor_objects_map_to_canonical_kinds(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert parse_job_kind("write:contact:hs") == ("write", "contact", "hs")
    assert parse_job_kind("refetch:deal:sf") == ("refetch", "deal", "sf")
    assert parse_job_kind("delete:contact") == ("delete", None, None)
    assert kind_of_object(config, "sf", "Opportunity") == "deal"
    assert kind_of_object(config, "hs", "companies") == "company"
    assert kind_of_object(config, "dv", "contact") == "contact"
    assert kind_of_object(config, "nope", "Contact") is None


async def test_duplicates_of_one_survivor_are_one_group(store: Store, config: SyncConfig, world: World) -> None:
    async with store.begin() as tx:
        extra = await tx.errors.record(
            SyncErrorReport("sf", "Contact", "link", "003D too", canonical_id="c1", remote_id="003D", code="DUPLICATE")
        )
    assert (await status_summary(store, config)).duplicate_groups == 1
    [group] = (await list_errors(store, config)).duplicates
    assert (group.error_ids, group.duplicates, group.message) == (
        (world.duplicate_id, extra.id),
        ("003B", "003D"),
        "003D too",
    )
