"""What the S11–S14 scenario tests share: a person's email, and reading a canonical record and its audit."""

from __future__ import annotations

from crmsync.store import AuditEntry, GoldenRecord
from tests.integration.engine.conftest import Crm

EMAIL = "grace.hopper@example.com"


async def stored_record(crm: Crm, canonical_id: str) -> GoldenRecord:
    async with crm.store.read() as tx:
        stored = await tx.records.get(canonical_id)
    assert stored is not None
    return stored


async def audit_entries(crm: Crm, canonical_id: str, field: str | None = None) -> list[AuditEntry]:
    async with crm.store.read() as tx:
        return await tx.audit.list(canonical_id, field)
