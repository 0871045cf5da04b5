"""`crmsync conflicts resolve --value` refuses what the CRMs would refuse, against the emulators over loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from crmsync.config import load_config
from crmsync.model.values import CanonicalRecord, CanonicalValue
from crmsync.store import ConflictSide, GoldenRecord, Link, Provenance, Shadow, open_store
from tests.e2e.test_cli_check import crmsync, emulators, write_config

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def park_stage_conflict(config_file: Path) -> int:
    config = load_config(config_file, environ={})
    store = await open_store(config.state_url)
    fields: dict[str, CanonicalValue] = {"name": "Big", "stage": "qualification"}
    try:
        async with store.begin() as tx:
            await tx.links.link(Link("d5", "deal", "salesforce", "Opportunity", "006dM0000000005AAA"))
            await tx.links.link(Link("d5", "deal", "hubspot", "deals", "905"))
            await tx.records.put(
                GoldenRecord(CanonicalRecord("d5", "deal", fields), {"stage": Provenance("salesforce", AT)})
            )
            await tx.shadows.put(Shadow("d5", "salesforce", {**fields, "stage": "proposal"}))
            await tx.shadows.put(Shadow("d5", "hubspot", {**fields, "stage": ""}))
            conflict = await tx.conflicts.park(
                "d5",
                "stage",
                "qualification",
                [ConflictSide("hubspot", None, AT), ConflictSide("salesforce", "proposal", AT)],
            )
        return conflict.id
    finally:
        await store.aclose()


async def is_open(config_file: Path, conflict_id: int) -> bool:
    store = await open_store(load_config(config_file, environ={}).state_url)
    try:
        async with store.read() as tx:
            conflict = await tx.conflicts.get(conflict_id)
        return conflict is not None and not conflict.resolved
    finally:
        await store.aclose()


def test_clearing_a_required_field_typed_or_taken_and_an_unmapped_value_are_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    with emulators() as urls:
        config_file = write_config(tmp_path, urls)
        conflict_id = asyncio.run(park_stage_conflict(config_file))
        cleared = crmsync("conflicts", "resolve", str(conflict_id), "--value", "", cwd=tmp_path)
        took_blank = crmsync("conflicts", "resolve", str(conflict_id), "--take", "hubspot", cwd=tmp_path)
        typo = crmsync("conflicts", "resolve", str(conflict_id), "--value", "not_a_stage", cwd=tmp_path)
        assert asyncio.run(is_open(config_file, conflict_id))
        valid = crmsync("conflicts", "resolve", str(conflict_id), "--value", "negotiation", cwd=tmp_path)
    assert cleared.returncode == 1, cleared.stdout + cleared.stderr
    assert "error: stage cannot be cleared: it is required in salesforce Opportunity.StageName" in cleared.stderr
    # HubSpot's side is the blank itself: only the sides that hold a stage are offered.
    assert "; use --take salesforce | --take golden" in cleared.stderr
    assert took_blank.returncode == 1 and took_blank.stderr == cleared.stderr
    assert typo.returncode == 1, typo.stdout + typo.stderr
    assert "error: stage: 'not_a_stage' is not a value of deal.stage" in typo.stderr
    assert "allowed values: prospecting, qualification," in typo.stderr
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "stage = negotiation (typed in)" in valid.stdout
