"""Convergence: random edits, deletes, merges and moves in three CRMs, interleaved with syncs, end in agreement."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from crmsync.emulators.registry import VendorName
from crmsync.engine.report import RunReport
from crmsync.engine.resolution import resolve
from crmsync.engine.views.common import OperatorError
from crmsync.model.values import ObjectKind
from crmsync.store import Conflict, open_store
from crmsync.testing.sandbox import Sandbox, VendorCallError
from tests.integration.engine.conftest import Crm
from tests.integration.engine.convergence_model import (
    CASES,
    COMPANIES,
    EDITABLE,
    EMAILS,
    FULL_SYNC_DROPS_DATAVERSE_DELETES,
    LAST_NAMES,
    OBJECTS_YAML,
    PERSON,
    VENDORS,
    VOCABULARY,
    companies_of,
    convergence_problems,
    live_ids,
    lost_conflicts,
    read_store,
    set_company,
    spelled,
    vendor_fields,
    word,
)
from tests.integration.store.conftest import empty_schema, postgres_url  # noqa: F401  (the session's PostgreSQL database)

T = TypeVar("T")

POLICIES = {
    "last_writer_wins": "",
    "prefer_salesforce": "contact: {policy: {prefer: [salesforce]}}\ncompany: {policy: {prefer: [salesforce]}}",
    "manual_title": "contact: {fields: {title: {policy: manual}}}\ncompany:",
    "archive_deletes": "contact: {delete: {policy: archive, archive_field: title, archive_value: Archived}}\ncompany:",
}
"""Object sections per policy under test (the default is last_writer_wins); `manual_title` parks conflicts;
`archive_deletes` keeps a deleted contact in the other CRMs, marked, until it is entered again (S11)."""

KNOWN_BUGS: frozenset[str] = frozenset()
"""Engine bugs the machine steps around (none now; each would have a strict xfail repro in
test_convergence_repros.py): drop one once it is fixed."""

vendors = st.sampled_from(VENDORS)
picks = st.integers(0, 7)  # an index into the live records of one CRM, modulo their number
values = st.integers(0, max(map(len, VOCABULARY.values())) - 1)  # an index into a field's words, modulo their number
worlds = st.lists(st.tuples(vendors, st.integers(0, len(EMAILS) - 1), st.sampled_from(CASES), picks), max_size=5)


class ConvergenceMachine(RuleBasedStateMachine):
    """People edit three CRMs at random; crmsync syncs now and then; at the end everything must agree.

    Each example runs on its own event loop (hypothesis drives rules synchronously) against freshly reset
    emulators with frozen clocks, which move one second per edit, so "the later edit" is well defined. Its
    state is a new SQLite file, or with `state_url` the (emptied) PostgreSQL database there.
    """

    def __init__(self, sb: Sandbox, workdir: Path, state_url: str | None = None) -> None:
        super().__init__()
        self.sb = sb
        self.workdir = workdir
        self.state_url = state_url
        self.loop = asyncio.Runner()
        self.crm: Crm | None = None
        self.seen_conflicts: dict[int, Conflict] = {}
        self.failed = False

    # ---- plumbing ---------------------------------------------------------------------------------
    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return self.loop.run(work)
        except BaseException:
            self.failed = True
            raise

    @property
    def engine(self) -> Crm:
        assert self.crm is not None
        return self.crm

    async def _tick(self) -> None:
        await asyncio.gather(*(self.sb.user(v).control.advance(1) for v in VENDORS))

    async def _pick(self, vendor: VendorName, kind: ObjectKind, pick: int) -> str | None:
        ids = await live_ids(self.sb, vendor, kind)
        return ids[pick % len(ids)] if ids else None

    async def _edit(self, vendor: VendorName, kind: ObjectKind, remote_id: str, fields: dict[str, Any]) -> None:
        try:
            await self.sb.user(vendor).update(kind, remote_id, fields)
        except VendorCallError as exc:
            # A CRM refusing an edit (HubSpot: that email belongs to another contact) is a person's problem.
            note(f"refused: {exc}")
        await self._tick()

    async def _sync(self, *, full: bool = False) -> RunReport:
        if full and FULL_SYNC_DROPS_DATAVERSE_DELETES in KNOWN_BUGS:
            await self.engine.sync()
        report = await self.engine.sync(full=full)
        for conflict in await self.engine.conflicts():
            self.seen_conflicts.setdefault(conflict.id, conflict)
        return report

    # ---- rules ------------------------------------------------------------------------------------
    @initialize(policy=st.sampled_from(sorted(POLICIES)), world=worlds)
    def start(self, policy: str, world: list[tuple[VendorName, int, str, int]]) -> None:
        """A fresh state and emulators holding a few people already, some of them in two CRMs, synced once."""
        self._run(self._start(policy, world))

    async def _start(self, policy: str, world: list[tuple[VendorName, int, str, int]]) -> None:
        await self.sb.reset()
        for vendor in VENDORS:
            await self.sb.user(vendor).control.freeze()
        directory = self.workdir / f"example{next(_EXAMPLES)}"
        objects_yaml = POLICIES[policy] or OBJECTS_YAML
        if self.state_url is None:
            config = self.sb.load_config(directory, objects_yaml=objects_yaml)
        else:
            config = self.sb.load_config(directory, await empty_schema(self.state_url), objects_yaml=objects_yaml)
        self.crm = Crm(self.sb, config, await open_store(config.state_url))
        for vendor, (name, domain) in zip(VENDORS, COMPANIES, strict=True):
            await self.sb.user(vendor).create("company", vendor_fields(vendor, {"name": name, "domain": domain}))
        for vendor, email, case, company in world:
            await self._create_contact(vendor, spelled(EMAILS[email], case), LAST_NAMES[email % 3], None, company)
        await self._sync()

    @rule(
        vendor=vendors,
        email=st.sampled_from(EMAILS),
        case=st.sampled_from(CASES),
        last_name=st.sampled_from(LAST_NAMES),
        title=values,
        company=st.none() | picks,
    )
    def create_contact(
        self, vendor: VendorName, email: str, case: str, last_name: str, title: int, company: int | None
    ) -> None:
        self._run(self._create_contact(vendor, spelled(email, case), last_name, word("title", title), company))

    async def _create_contact(
        self, vendor: VendorName, email: str, last_name: str, title: str | None, company: int | None
    ) -> None:
        fields = vendor_fields(vendor, {"last_name": last_name, "email": email, "title": title})
        try:
            contact = await self.sb.user(vendor).create("contact", fields)
        except VendorCallError as exc:
            note(f"refused: {exc}")  # HubSpot refuses a second contact with the same email
            return
        note(f"{vendor} contact {contact}")
        parent = None if company is None else await self._pick(vendor, "company", company)
        if parent is not None:
            await set_company(self.sb, vendor, contact, parent)
        await self._tick()

    @rule(vendor=vendors, pick=picks, name=st.sampled_from(EDITABLE), value=values)
    def edit_contact(self, vendor: VendorName, pick: int, name: str, value: int) -> None:
        self._run(self._edit_contact(vendor, pick, name, word(name, value)))

    async def _edit_contact(self, vendor: VendorName, pick: int, name: str, value: str | None) -> None:
        contact = await self._pick(vendor, "contact", pick)
        if contact is not None:
            await self._edit(vendor, "contact", contact, vendor_fields(vendor, {name: value}))

    @rule(pair=st.permutations(VENDORS), pick=picks, name=st.sampled_from(EDITABLE), first=values, second=values)
    def edit_contact_in_two(self, pair: list[VendorName], pick: int, name: str, first: int, second: int) -> None:
        """The same field of one person changed in two CRMs between two syncs (S06, S07)."""
        self._run(self._edit_in_two(pair[0], pair[1], pick, name, word(name, first), word(name, second)))

    async def _edit_in_two(
        self, one: VendorName, other: VendorName, pick: int, name: str, first: str | None, second: str | None
    ) -> None:
        contact = await self._pick(one, "contact", pick)
        if contact is None:
            return
        canonical_id = await self.engine.canonical("contact", one, contact)
        twin = None if canonical_id is None else await self.engine.remote(canonical_id, other)
        if twin is None or twin not in await live_ids(self.sb, other, "contact"):
            return
        note(f"{one} {contact} and {other} {twin}")
        await self._edit(one, "contact", contact, vendor_fields(one, {name: first}))
        await self._edit(other, "contact", twin, vendor_fields(other, {name: second}))

    @rule(vendor=vendors, pick=picks)
    def delete_contact(self, vendor: VendorName, pick: int) -> None:
        self._run(self._delete_contact(vendor, pick))

    async def _delete_contact(self, vendor: VendorName, pick: int) -> None:
        contact = await self._pick(vendor, "contact", pick)
        if contact is not None:
            note(f"{vendor} contact {contact} deleted")
            await self.sb.user(vendor).delete("contact", contact)
            await self._tick()

    @rule(vendor=vendors, survivor=picks, victim=picks)
    def merge_contacts(self, vendor: VendorName, survivor: int, victim: int) -> None:
        """Two contacts merged by the CRM's own merge (S14): HubSpot's gets a new id, the others keep the survivor's."""
        self._run(self._merge(vendor, survivor, victim))

    async def _merge(self, vendor: VendorName, survivor: int, victim: int) -> None:
        ids = await live_ids(self.sb, vendor, "contact")
        if len(ids) < 2 or survivor % len(ids) == victim % len(ids):
            return
        kept, gone = ids[survivor % len(ids)], ids[victim % len(ids)]
        merged = await self.sb.user(vendor).merge("contact", kept, gone)
        note(f"{vendor} {kept} + {gone} -> {merged}")
        await self._tick()

    @rule(pick=picks, side=st.integers(0, 2))
    def resolve_conflict(self, pick: int, side: int) -> None:
        """A person settles a parked conflict by taking one side (S06 manual, S13)."""
        self._run(self._resolve(pick, side))

    async def _resolve(self, pick: int, side: int) -> None:
        parked = await self.engine.conflicts()
        if not parked:
            return
        conflict = parked[pick % len(parked)]
        choice = conflict.sides[side % len(conflict.sides)].connection
        try:
            await resolve(self.engine.store, self.engine.config, conflict.id, choice_connection=choice, by=PERSON)
        except OperatorError as exc:
            note(f"refused: {exc}")  # the record was deleted meanwhile, say
            return
        note(f"conflict {conflict.id} on {conflict.canonical_id}.{conflict.field}: took {choice}")

    @rule(vendor=vendors, pick=picks, company=st.none() | picks)
    def move_contact(self, vendor: VendorName, pick: int, company: int | None) -> None:
        """A contact moved to another company, or to none (S15)."""
        self._run(self._move(vendor, pick, company))

    async def _move(self, vendor: VendorName, pick: int, company: int | None) -> None:
        contact = await self._pick(vendor, "contact", pick)
        parent = None if company is None else await self._pick(vendor, "company", company)
        if contact is None or (company is not None and parent is None):
            return
        note(f"{vendor} contact {contact}: company {await companies_of(self.sb, vendor, contact)} -> {parent}")
        await set_company(self.sb, vendor, contact, parent)
        await self._tick()

    @rule(vendor=vendors, which=st.integers(0, len(COMPANIES) - 1), shout=st.booleans())
    def create_company(self, vendor: VendorName, which: int, shout: bool) -> None:
        name, domain = COMPANIES[which]
        self._run(self._create_company(vendor, name, domain.upper() if shout else domain))

    async def _create_company(self, vendor: VendorName, name: str, domain: str) -> None:
        company = await self.sb.user(vendor).create("company", vendor_fields(vendor, {"name": name, "domain": domain}))
        note(f"{vendor} company {company}")
        await self._tick()

    @rule(vendor=vendors, pick=picks, value=values)
    def edit_company(self, vendor: VendorName, pick: int, value: int) -> None:
        self._run(self._edit_company(vendor, pick, word("phone", value)))

    async def _edit_company(self, vendor: VendorName, pick: int, phone: str | None) -> None:
        company = await self._pick(vendor, "company", pick)
        if company is not None:
            await self._edit(vendor, "company", company, vendor_fields(vendor, {"phone": phone}))

    @rule(full=st.sampled_from([False, False, False, True]))
    def sync(self, full: bool) -> None:
        report = self._run(self._sync(full=full))
        note(f"sync: {dict(report.counts)}")

    # ---- the end ----------------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if self.crm is not None and not self.failed:
                self._run(self._converge())
        finally:
            if self.crm is not None:
                self.loop.run(self.crm.store.aclose())
            self.loop.close()

    async def _converge(self) -> None:
        # One sync delivers, the next reads the echoes of its writes; then everything must agree.
        delivered = await self._sync()
        note(f"final sync: {dict(delivered.counts)}")
        echoes = await self._sync()
        note(f"echo sync: {dict(echoes.counts)}")
        view = await read_store(self.engine)
        note(f"errors: {[e.report for e in view.errors]}")
        note(f"open conflicts: {view.open_conflicts()}")
        problems = await convergence_problems(self.engine, view, KNOWN_BUGS)
        problems += lost_conflicts(self.seen_conflicts, view)
        assert problems == [], "\n".join(problems)
        quiet = await self._sync()
        writes = {w: quiet.total(w) for w in ("created", "updated", "deleted")}
        assert writes == dict.fromkeys(writes, 0), f"a sync after convergence wrote {quiet.plan}"


_EXAMPLES = itertools.count()


def _run_machine(sb: Sandbox, workdir: Path, budget: settings, state_url: str | None = None) -> None:
    class Bound(ConvergenceMachine):
        def __init__(self) -> None:
            super().__init__(sb, workdir, state_url)

    run_state_machine_as_test(Bound, settings=budget)


_COMMON = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_convergence_after_random_edits_in_three_crms(roomy_sandbox: Sandbox, tmp_path: Path) -> None:
    # Derandomized: CI runs the same examples every time; `-m slow` explores afresh.
    budget = settings(_COMMON, max_examples=20, stateful_step_count=20, derandomize=True)
    _run_machine(roomy_sandbox, tmp_path, budget)


@pytest.mark.slow
def test_convergence_soak(roomy_sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "slow" not in str(request.config.option.markexpr):
        pytest.skip("a long soak: run it with -m slow")
    budget = settings(_COMMON, max_examples=300, stateful_step_count=40)
    _run_machine(roomy_sandbox, tmp_path, budget)


def test_convergence_on_postgresql(roomy_sandbox: Sandbox, tmp_path: Path, postgres_url: str) -> None:  # noqa: F811
    # The engine's queries on the scale-out store: no order or locking of SQLite's may be what keeps it right.
    budget = settings(_COMMON, max_examples=6, stateful_step_count=20, derandomize=True)
    _run_machine(roomy_sandbox, tmp_path, budget, postgres_url)


@pytest.mark.slow
def test_convergence_soak_on_postgresql(
    roomy_sandbox: Sandbox,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    if "slow" not in str(request.config.option.markexpr):
        pytest.skip("a long soak: run it with -m slow")
    budget = settings(_COMMON, max_examples=150, stateful_step_count=40)
    _run_machine(roomy_sandbox, tmp_path, budget, postgres_url)
