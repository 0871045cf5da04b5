"""Identity map, shadows, golden records, cursors, conflicts, sync errors and audit round-trip their values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync.model.values import CanonicalRecord, CanonicalValue
from crmsync.store import (
    AuditEntry,
    ConflictSide,
    GoldenRecord,
    Link,
    Provenance,
    Shadow,
    StaleRecordError,
    Store,
    SyncErrorReport,
    SyncOperation,
)
from crmsync.store.audit import GROUPED
from crmsync.store.codec import content_hash
from crmsync.store.tables import audit
from tests.unit.store.helpers import FakeClock

AT = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)


async def test_identity_map_links_looks_up_both_ways_and_unlinks(store: Store) -> None:
    async with store.begin() as tx:
        await tx.links.link(Link("c1", "contact", "sf", "Contact", "003A"))
        await tx.links.link(Link("c1", "contact", "hs", "contacts", "501"))
        await tx.links.link(Link("c2", "contact", "hs", "contacts", "502"))
    async with store.begin() as tx:
        assert await tx.links.canonical_id("sf", "Contact", "003A") == "c1"
        assert await tx.links.canonical_id("sf", "Contact", "nope") is None
        assert await tx.links.canonical_ids("hs", "contacts", ["501", "502", "503"]) == {"501": "c1", "502": "c2"}
        assert await tx.links.remote_id("c1", "hs") == "501"
        assert {link.connection for link in await tx.links.remote_links("c1")} == {"sf", "hs"}
        assert {
            cid: [lk.connection for lk in held] for cid, held in (await tx.links.links_of(["c1", "c2"])).items()
        } == {
            "c1": ["hs", "sf"],  # oldest first, then by connection (the clock is the same for both here)
            "c2": ["hs"],
        }
        assert await tx.links.links_of(["c1", "c2"], "sf") == {"c1": [Link("c1", "contact", "sf", "Contact", "003A")]}
        assert await tx.links.unlink("sf", "Contact", "003A")
        assert not await tx.links.unlink("sf", "Contact", "003A")
        assert await tx.links.remote_id("c1", "sf") is None


async def test_identity_map_repoints_links_on_a_merge(store: Store) -> None:
    async with store.begin() as tx:
        await tx.links.link(Link("loser", "contact", "hs", "contacts", "9"))
        await tx.links.link(Link("winner", "contact", "sf", "Contact", "003B"))
        assert await tx.links.repoint("loser", "winner") == 1
        assert await tx.links.canonical_id("hs", "contacts", "9") == "winner"
        # Linking a linked remote id again points it elsewhere instead of failing.
        await tx.links.link(Link("third", "contact", "sf", "Contact", "003B"))
        assert await tx.links.canonical_id("sf", "Contact", "003B") == "third"


async def test_linked_values_pages_a_connections_links_with_their_shadows_link_fields(store: Store) -> None:
    """The link scan's page: by remote id, only records with a shadow there, only the named fields, as text."""
    async with store.begin() as tx:
        await tx.links.link_many(
            [Link(f"c{n}", "contact", "hs", "contacts", f"r{n}") for n in range(1, 5)]
            + [Link("c1", "contact", "sf", "Contact", "003A"), Link("d1", "deal", "hs", "deals", "r0")]
        )
        await tx.shadows.put_many(
            [
                Shadow("c1", "hs", {"@company": "K1", "email": "a@x.io"}),
                Shadow("c2", "hs", {"@company": None}),
                Shadow("c3", "hs", {"email": "c@x.io"}),  # no link field: blank
                Shadow("c4", "sf", {"@company": "K9"}),  # a shadow of another connection only
                Shadow("c1", "sf", {"@company": "K7"}),
            ]
        )
    async with store.read() as tx:
        first = await tx.shadows.linked_values("hs", "contacts", ["@company"], after="", limit=2)
        rest = await tx.shadows.linked_values("hs", "contacts", ["@company"], after=first[-1][0], limit=2)
    assert first == [("r1", "c1", {"@company": "K1"}), ("r2", "c2", {"@company": None})]
    assert rest == [("r3", "c3", {"@company": None})]  # r4 has no HubSpot shadow; deals and Salesforce are apart


async def test_shadow_round_trips_values_and_hashes_them(store: Store, clock: FakeClock) -> None:
    fields: dict[str, CanonicalValue] = {
        "email": "a@x.io",
        "born": date(1990, 5, 1),
        "seen": AT,
        "tags": ("a", "b"),
        "n": 3,
        "x": None,
    }
    async with store.begin() as tx:
        stored = await tx.shadows.put(Shadow("c1", "sf", fields, version_token="v7"))
    assert stored.content_hash == content_hash(fields)
    async with store.read() as tx:
        shadow = await tx.shadows.get("c1", "sf")
        assert await tx.shadows.get("c1", "hs") is None
    assert shadow == Shadow("c1", "sf", fields, "v7", content_hash(fields), clock())
    async with store.begin() as tx:
        await tx.shadows.put(Shadow("c1", "sf", {"email": "b@x.io"}))
        await tx.shadows.put(Shadow("c1", "hs", {"email": "b@x.io"}))
        assert (await tx.shadows.get_all("c1")).keys() == {"sf", "hs"}
        assert (await tx.shadows.get_many(["c1", "c2"]))["c1"].keys() == {"sf", "hs"}
        assert (await tx.shadows.get_many(["c1", "c2"], connection="hs")) == {
            "c1": {"hs": Shadow("c1", "hs", {"email": "b@x.io"}, None, content_hash({"email": "b@x.io"}), clock())}
        }
        assert (await tx.shadows.get("c1", "sf")).fields == {"email": "b@x.io"}  # type: ignore[union-attr]
        assert await tx.shadows.delete("c1") == 2


async def test_golden_record_round_trips_with_provenance_and_versions(store: Store) -> None:
    record = CanonicalRecord("c1", "contact", {"email": "a@x.io", "score": 1.5}, {"company": ("co1",)})
    provenance = {"email": Provenance("sf", AT, "last_writer_wins"), "score": Provenance("hs", AT)}
    async with store.begin() as tx:
        first = await tx.records.put(GoldenRecord(record, provenance))
    assert first.version == 1
    async with store.read() as tx:
        loaded = await tx.records.get("c1")
        assert await tx.records.get("nope") is None
    assert loaded is not None
    assert (loaded.record, loaded.provenance, loaded.version, loaded.deleted) == (record, provenance, 1, False)
    async with store.begin() as tx:
        second = await tx.records.put(GoldenRecord(record, provenance, deleted=True, version=1))
        assert second.version == 2
        assert (await tx.records.get_many(["c1", "x"]))["c1"].deleted
        assert await tx.records.existing(["c1", "x"]) == {"c1"}  # a deleted record's id is taken all the same
        assert await tx.records.existing([]) == set()


async def test_golden_record_put_refuses_a_stale_version(store: Store) -> None:
    record = CanonicalRecord("c1", "company", {"name": "Acme"})
    async with store.begin() as tx:
        await tx.records.put(GoldenRecord(record))
    with pytest.raises(StaleRecordError):
        async with store.begin() as tx:
            await tx.records.put(GoldenRecord(record))  # "new" but exists
    with pytest.raises(StaleRecordError):
        async with store.begin() as tx:
            await tx.records.put(GoldenRecord(record, version=5))


async def test_golden_records_put_many_writes_a_batch_and_refuses_it_whole_when_one_is_stale(store: Store) -> None:
    acme, globex = CanonicalRecord("c1", "company", {"name": "Acme"}), CanonicalRecord("c2", "company", {"name": "G"})
    async with store.begin() as tx:
        await tx.records.put_many([GoldenRecord(acme), GoldenRecord(globex)])
    renamed = CanonicalRecord("c2", "company", {"name": "Globex"})
    async with store.begin() as tx:
        await tx.records.put_many([GoldenRecord(acme, version=1), GoldenRecord(renamed, version=1)])
    async with store.read() as tx:
        stored = await tx.records.get_many(["c1", "c2"])
    assert {cid: (g.version, g.record.fields["name"]) for cid, g in stored.items()} == {
        "c1": (2, "Acme"),
        "c2": (2, "Globex"),
    }
    with pytest.raises(StaleRecordError, match="1 golden records changed"):
        async with store.begin() as tx:
            await tx.records.put_many([GoldenRecord(acme, version=2), GoldenRecord(globex, version=1)])
    async with store.read() as tx:
        after = await tx.records.get_many(["c1", "c2"])
    assert {cid: g.version for cid, g in after.items()} == {"c1": 2, "c2": 2}  # the batch rolled back whole


async def test_cursors_get_put_reset(store: Store) -> None:
    async with store.begin() as tx:
        assert await tx.cursors.get("sf", "Contact") is None
        await tx.cursors.put("sf", "Contact", "t1")
        await tx.cursors.put("sf", "Contact", "t2")
        await tx.cursors.put("sf", "Account", "a1")
        assert await tx.cursors.get("sf", "Contact") == "t2"
        assert await tx.cursors.reset("sf", "Contact") == 1
        assert await tx.cursors.get("sf", "Account") == "a1"


async def test_read_fields_are_kept_per_connection_and_object_as_a_set(store: Store) -> None:
    async with store.begin() as tx:
        assert await tx.read_fields.get("sf", "Contact") is None
        await tx.read_fields.put("sf", "Contact", ["LastName", "Email", "Email"])
        await tx.read_fields.put("sf", "Account", ["Name"])
    async with store.begin() as tx:
        assert await tx.read_fields.get("sf", "Contact") == frozenset({"Email", "LastName"})
        await tx.read_fields.put("sf", "Contact", ["Title"])
    async with store.read() as tx:
        assert await tx.read_fields.get("sf", "Contact") == frozenset({"Title"})
        assert await tx.read_fields.get("sf", "Account") == frozenset({"Name"})
        assert await tx.read_fields.get("hs", "Contact") is None
        assert await tx.cursors.get("sf", "Contact") is None  # not a cursor: status and the dashboard list those


async def test_kept_out_records_are_found_by_the_key_they_hold_now_first_met_first(
    store: Store, clock: FakeClock
) -> None:
    async with store.begin() as tx:
        await tx.kept_out.keep("contact", "hs", "contacts", {"501": "k:ada", "502": "k:bob"})
        clock.advance(timedelta(seconds=1))
        await tx.kept_out.keep("contact", "dv", "contact", {"d1": "k:ada"})
        await tx.kept_out.keep("company", "dv", "account", {"a1": "k:ada"})
    async with store.begin() as tx:
        found = await tx.kept_out.find("contact", ["k:ada", "k:eve"])
        assert [(k.connection, k.remote_id) for k in found["k:ada"]] == [("hs", "501"), ("dv", "d1")]
        assert set(found) == {"k:ada"}
        await tx.kept_out.keep("contact", "hs", "contacts", {"501": "k:ann"})  # read again with another address
        assert await tx.kept_out.forget("hs", "contacts", ["502", "503"]) == 1
    async with store.read() as tx:
        assert [k.remote_id for k in (await tx.kept_out.find("contact", ["k:ada"]))["k:ada"]] == ["d1"]
        assert [k.remote_id for k in (await tx.kept_out.find("contact", ["k:ann"]))["k:ann"]] == ["501"]
        assert await tx.kept_out.find("contact", ["k:bob"]) == {}
        assert await tx.kept_out.find("contact", []) == {}


async def test_conflicts_park_once_per_field_and_resolve(store: Store, clock: FakeClock) -> None:
    sides = (ConflictSide("sf", "Ann", AT), ConflictSide("hs", "Anne", None))
    async with store.begin() as tx:
        parked = await tx.conflicts.park("c1", "first_name", "An", sides)
        newer = (ConflictSide("sf", "Ann", AT), ConflictSide("hs", "Annie", AT + timedelta(hours=1)))
        again = await tx.conflicts.park("c1", "first_name", "An", newer)
    assert again.id == parked.id
    assert again.sides == newer
    clock.advance(timedelta(minutes=1))
    async with store.begin() as tx:
        resolved = await tx.conflicts.resolve(parked.id, "Annie", "cli:alice")
        assert await tx.conflicts.resolve(parked.id, "Ann", "cli:bob") is None
        assert await tx.conflicts.list() == []
        assert [c.id for c in await tx.conflicts.list("c1", include_resolved=True)] == [parked.id]
    assert resolved is not None
    assert (resolved.resolved, resolved.resolution, resolved.resolved_by, resolved.resolved_at) == (
        True,
        "Annie",
        "cli:alice",
        clock(),
    )


async def test_sync_errors_count_repeats_and_clear(store: Store, clock: FakeClock) -> None:
    report = SyncErrorReport("hs", "contacts", "update", "Property values were not valid", "c1", "501", "email")
    async with store.begin() as tx:
        first = await tx.errors.record(report)
        clock.advance(timedelta(minutes=5))
        again = await tx.errors.record(report)
        other = await tx.errors.record(SyncErrorReport("sf", "Contact", "read", "boom", remote_id="003"))
    assert (again.id, again.count, again.first_seen, again.last_seen) == (first.id, 2, first.first_seen, clock())
    async with store.begin() as tx:
        assert [e.id for e in await tx.errors.list()] == [first.id, other.id]
        assert [e.report for e in await tx.errors.list(connection="hs")] == [report]
        assert await tx.errors.clear("sf", "Contact", remote_id="003") == 1
        assert await tx.errors.clear_id(first.id)
        assert await tx.errors.list() == []


async def test_a_cleared_sync_errors_id_is_never_given_to_another(store: Store) -> None:
    """An operator who noted E-2 must not find a different error under E-2 after a retry cleared it."""
    async with store.begin() as tx:
        first = await tx.errors.record(SyncErrorReport("hs", "contacts", "update", "bad", "c1", "501"))
        newest = await tx.errors.record(SyncErrorReport("sf", "Contact", "read", "boom", remote_id="003"))
        assert await tx.errors.clear_id(newest.id)  # the largest id goes, as a retry of the newest error does
        after_one = await tx.errors.record(SyncErrorReport("dv", "contact", "create", "no", "c2"))
    async with store.begin() as tx:
        assert await tx.errors.clear_id(first.id) and await tx.errors.clear_id(after_one.id)
        after_all = await tx.errors.record(SyncErrorReport("dv", "contact", "create", "no", "c3"))
    assert newest.id < after_one.id < after_all.id


async def test_sync_errors_of_one_record_and_of_some_ids(store: Store) -> None:
    async with store.begin() as tx:
        by_canonical = await tx.errors.record(SyncErrorReport("hs", "contacts", "update", "bad", "c1", "501"))
        by_remote = await tx.errors.record(SyncErrorReport("sf", "Contact", "read", "boom", remote_id="003"))
        elsewhere = await tx.errors.record(SyncErrorReport("dv", "contact", "create", "no", "c1"))
        other = await tx.errors.record(SyncErrorReport("sf", "Contact", "read", "boom", "c2", "004"))
        await tx.errors.record(SyncErrorReport("hs", "contacts", "read", "boom", remote_id="003"))
    async with store.read() as tx:
        about = await tx.errors.about("c1", {("sf", "003")})
        assert [e.id for e in about] == [by_canonical.id, by_remote.id, elsewhere.id]
        assert await tx.errors.about("c9", set()) == []
        found = await tx.errors.get_many([other.id, 10_000, by_remote.id])
        assert sorted(found) == sorted([other.id, by_remote.id])
        assert found[other.id].report.remote_id == "004"


def _problem(
    operation: SyncOperation,
    field: str,
    message: str,
    canonical_id: str = "c1",
    remote_id: str | None = "003",
) -> SyncErrorReport:
    return SyncErrorReport("sf", "Contact", operation, message, canonical_id, remote_id, field, "unmapped_value")


async def test_sync_errors_replace_keeps_each_problem_met_and_clears_the_ones_gone(
    store: Store, clock: FakeClock
) -> None:
    async with store.begin() as tx:
        refused = await tx.errors.record(SyncErrorReport("sf", "Contact", "update", "too long", "c1", "003", "title"))
        await tx.errors.replace(
            "sf",
            "Contact",
            ("read",),
            {
                "c1": [_problem("read", "lead_source", "'Webinar'"), _problem("read", "phone", "?")],
                "c2": [_problem("read", "phone", "??", "c2", "004")],
                "c3": [],
            },
        )
    async with store.read() as tx:
        first = {(e.report.remote_id, e.report.field): e for e in await tx.errors.list() if e.id != refused.id}
    assert set(first) == {("003", "lead_source"), ("003", "phone"), ("004", "phone")}
    assert {e.count for e in first.values()} == {1}
    clock.advance(timedelta(minutes=5))
    async with store.begin() as tx:
        # c1's lead source was fixed, its phone is still unreadable; c2 was not read this time. Its write
        # errors are another operation's: a read leaves them alone.
        await tx.errors.replace("sf", "Contact", ("read",), {"c1": [_problem("read", "phone", "still ?")]})
        # A good write clears the record's write errors, not what its reads met.
        assert await tx.errors.clear_many("sf", "Contact", ["c1", "c2"]) == 1
    async with store.read() as tx:
        after = {(e.report.remote_id, e.report.field): e for e in await tx.errors.list()}
    assert set(after) == {("003", "phone"), ("004", "phone")}
    phone = after[("003", "phone")]
    assert (phone.id, phone.count, phone.report.message) == (first[("003", "phone")].id, 2, "still ?")
    assert (phone.first_seen, phone.last_seen) == (first[("003", "phone")].first_seen, clock())
    assert after[("004", "phone")] == first[("004", "phone")]


async def test_sync_errors_replace_settles_the_operations_it_is_given_only(store: Store) -> None:
    async with store.begin() as tx:
        await tx.errors.replace(
            "sf",
            "Contact",
            ("create", "update"),
            {"c1": [_problem("create", "industry", "no such value", remote_id=None)]},
        )
        read = await tx.errors.record(_problem("read", "phone", "?"))
        # Created since: the update that went through met a problem of another field; the create's is gone.
        await tx.errors.replace("sf", "Contact", ("create", "update"), {"c1": [_problem("update", "rating", "no")]})
    async with store.read() as tx:
        left = await tx.errors.list()
    assert [(e.report.operation, e.report.field) for e in left] == [("read", "phone"), ("update", "rating")]
    assert left[0].id == read.id
    async with store.read() as tx:
        # What a changed record's next read asks: which of these a CRM refused (its read errors do not count).
        assert await tx.errors.refused("sf", "Contact", ["c1", "c2"]) == {"c1"}
        assert await tx.errors.refused("hs", "Contact", ["c1"]) == set()
    async with store.begin() as tx:
        await tx.errors.replace("sf", "Contact", ("create", "update"), {"c1": []})
        assert await tx.errors.refused("sf", "Contact", ["c1"]) == set()
    with pytest.raises(ValueError, match="a read error of c1 filed under c1"):
        async with store.begin() as tx:
            await tx.errors.replace("sf", "Contact", ("create",), {"c1": [_problem("read", "phone", "?")]})


async def test_sync_errors_follow_records_that_leave_a_crm_or_a_canonical_record(store: Store) -> None:
    async with store.begin() as tx:
        for report in (
            _problem("read", "phone", "?"),
            _problem("update", "title", "too long"),
            SyncErrorReport("sf", "Contact", "link", "duplicate of 003", "c1", "005", code="DUPLICATE"),
            _problem("create", "industry", "no", "c2", None),
            _problem("read", "phone", "?", "c2", "004"),
            SyncErrorReport("hs", "contacts", "update", "bad", "c2", "501"),
            SyncErrorReport("hs", "contacts", "read", "boom", "c2", "003"),
        ):
            await tx.errors.record(report)

    async def left() -> list[tuple[str, str, str | None, str | None]]:
        async with store.read() as tx:
            return [
                (e.report.connection, e.report.operation, e.report.canonical_id, e.report.remote_id)
                for e in await tx.errors.list()
            ]

    async with store.begin() as tx:
        # Another CRM's record 003 is another record; the duplicate report about 005 is not about c1's record.
        # Read again without a problem: only its read errors go, and only under the canonical record it was read as.
        assert await tx.errors.clear_reads("sf", "Contact", {"003": "c9"}) == 0
        assert await tx.errors.clear_reads("sf", "Contact", {"003": "c1"}) == 1
        assert await tx.errors.clear_remote("sf", "Contact", ["003", "999"]) == 1
        assert await tx.errors.clear_remote("sf", "Contact", []) == 0
    assert await left() == [
        ("sf", "link", "c1", "005"),
        ("sf", "create", "c2", None),
        ("sf", "read", "c2", "004"),
        ("hs", "update", "c2", "501"),
        ("hs", "read", "c2", "003"),
    ]
    async with store.begin() as tx:
        read = [e.id for e in await tx.errors.list("sf", "c2") if e.report.operation == "read"]
        await tx.errors.move(read, "c1")
        assert await tx.errors.clear_writes("c2") == 2
    assert await left() == [("sf", "link", "c1", "005"), ("sf", "read", "c1", "004"), ("hs", "read", "c2", "003")]
    async with store.begin() as tx:
        assert await tx.errors.clear_record("sf", "Contact", "c1") == 1
        assert await tx.errors.clear_record("sf", "Contact", "c2") == 0
    assert await left() == [("sf", "link", "c1", "005"), ("hs", "read", "c2", "003")]


async def test_a_write_that_replaced_a_value_clears_the_read_errors_about_it(store: Store) -> None:
    async with store.begin() as tx:
        for report in (
            _problem("read", "phone", "?"),
            _problem("read", "title", "?", "c2", "004"),
            _problem("update", "phone", "too long"),
            SyncErrorReport("hs", "contacts", "read", "?", "c1", "003", "phone"),
        ):
            await tx.errors.record(report)
    async with store.begin() as tx:
        # Only the fields written, only read errors, only that CRM's record: 004's title still reads as it did.
        assert await tx.errors.clear_overwritten("sf", "Contact", {"004": {"phone"}}) == 0
        assert await tx.errors.clear_overwritten("sf", "Contact", {"003": {"phone", "email"}, "004": set()}) == 1
        assert await tx.errors.clear_overwritten("sf", "Contact", {}) == 0
    async with store.read() as tx:
        left = [(e.report.connection, e.report.operation, e.report.field) for e in await tx.errors.list()]
    assert left == [("sf", "read", "title"), ("sf", "update", "phone"), ("hs", "read", "phone")]


async def test_audit_appends_and_lists_a_records_history(store: Store) -> None:
    entries = [
        AuditEntry("c1", "email", None, "a@x.io", "sf", "create", AT),
        AuditEntry("c1", "born", None, date(1990, 1, 2), "hs", "only_change", AT),
        AuditEntry("c2", "email", "x", "y", "sf", "last_writer_wins", AT),
    ]
    async with store.begin() as tx:
        await tx.audit.append(entries)
        await tx.audit.append([])
    async with store.read() as tx:
        assert await tx.audit.list("c1") == entries[:2]
        assert await tx.audit.list("c1", "born") == [entries[1]]


async def test_changes_of_a_record_made_at_once_share_an_audit_row_and_read_back_one_by_one(store: Store) -> None:
    later = AT + timedelta(seconds=1)
    values: dict[str, CanonicalValue] = {
        "email": "a@x.io", "born": date(1990, 1, 2), "score": 1.5, "tags": ("a", "b"), "seen": AT, "opted_out": False,
    }  # fmt: skip
    first_meeting = [
        AuditEntry("c1", name, None, value, "sf", "prefer (first meeting)", AT) for name, value in values.items()
    ]
    by_another_rule = AuditEntry("c1", "title", None, "CEO", "sf", "last_writer_wins (first meeting)", AT)
    again = AuditEntry("c1", "email", "a@x.io", "b@x.io", "sf", "prefer (first meeting)", AT)  # met twice
    elsewhere = AuditEntry("c2", "email", None, "c@x.io", "sf", "prefer (first meeting)", AT)
    changed_later = [AuditEntry("c1", name, None, "x", "hs", "last_writer_wins", later) for name in ("city", "zip")]
    async with store.begin() as tx:
        await tx.audit.append([*first_meeting[:2], by_another_rule, *first_meeting[2:], again, elsewhere])
        await tx.audit.append(changed_later)
    async with store.read() as tx:
        rows = (await tx.connection.execute(sa.select(audit.c.canonical_id, audit.c.field, audit.c.changes))).all()
        history = await tx.audit.list("c1")
        emails = await tx.audit.list("c1", "email")
        cities = await tx.audit.list("c1", "city")
    assert sorted(rows) == sorted(
        [("c1", GROUPED, 6), ("c1", "title", 1), ("c1", "email", 1), ("c2", "email", 1), ("c1", GROUPED, 2)]
    )
    assert history == [*first_meeting, by_another_rule, again, *changed_later]  # every value as it was written
    assert emails == [first_meeting[0], again]  # a field's own history keeps its order
    assert cities == [changed_later[0]]
