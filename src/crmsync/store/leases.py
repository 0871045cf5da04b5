"""Named leases: one holder at a time, renewed by heartbeats, taken over once expired or once its process is gone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.tables import leases
from crmsync.store.upsert import upsert
from crmsync.store.values import Clock


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Acquired:
    """The lease is ours; `previous` is the holder we took it over from (expired or dead), if any."""

    lease: Lease
    previous: Lease | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """Someone alive holds the lease."""

    lease: Lease


def _lease(row: sa.Row[tuple[object, ...]]) -> Lease:
    return Lease(row.name, row.holder, row.host, row.pid, row.acquired_at, row.expires_at)


class Leases:
    """Acquire, renew and release named leases inside the caller's transaction."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def get(self, name: str) -> Lease | None:
        row = (await self._db.execute(sa.select(leases).where(leases.c.name == name))).first()
        return _lease(row) if row else None

    async def acquire(
        self, name: str, holder: str, host: str, pid: int, ttl: timedelta, is_dead: Callable[[Lease], bool]
    ) -> Acquired | Held:
        """Take `name` unless a live holder has it (`is_dead` says whether a holder's process is gone).

        Atomic on PostgreSQL too: the row is inserted if absent, else locked before it is judged. A read then
        a write let two processes (two `crmsync serve`s) that asked at once both insert (one crashed on the
        key) or both take over an expired lease, each believing it held it.
        """
        now = self._clock()
        mine = Lease(name, holder, host, pid, now, now + ttl)
        values = {"holder": holder, "host": host, "pid": pid, "acquired_at": now, "expires_at": mine.expires_at}
        insert = postgresql.insert if self._db.dialect.name == "postgresql" else sqlite.insert
        inserted = await self._db.execute(
            insert(leases).values(name=name, **values).on_conflict_do_nothing(index_elements=["name"])
        )
        if inserted.rowcount == 1:
            return Acquired(mine)
        # FOR UPDATE: a concurrent taker waits for this transaction, then judges the row it left (SQLite's
        # BEGIN IMMEDIATE already serialises writers and renders no clause).
        row = (await self._db.execute(sa.select(leases).where(leases.c.name == name).with_for_update())).one()
        current = _lease(row)
        if current.holder != holder and current.expires_at > now and not is_dead(current):
            return Held(current)
        await self._db.execute(sa.update(leases).where(leases.c.name == name).values(**values))
        return Acquired(mine, current if current.holder != holder else None)

    async def hold(self, name: str, holder: str, host: str, pid: int, ttl: timedelta) -> None:
        """Take `name` whoever has it: for a lease only the holder of another (the run lease) may take."""
        now = self._clock()
        values = {"name": name, "holder": holder, "host": host, "pid": pid, "acquired_at": now, "expires_at": now + ttl}
        await upsert(self._db, leases, values, ("name",))

    async def live(self, prefix: str, is_dead: Callable[[Lease], bool]) -> list[Lease]:
        """The leases named `prefix…` that have not expired and whose holder's process is not gone."""
        now = self._clock()
        rows = await self._db.execute(
            sa.select(leases).where(leases.c.name.startswith(prefix, autoescape=True), leases.c.expires_at > now)
        )
        return [lease for lease in map(_lease, rows) if not is_dead(lease)]

    async def renew_held(self, holder: str, ttl: timedelta) -> int:
        """Renew every lease `holder` holds; how many it held."""
        result = await self._db.execute(
            sa.update(leases).where(leases.c.holder == holder).values(expires_at=self._clock() + ttl)
        )
        return result.rowcount

    async def release(self, name: str, holder: str) -> None:
        await self._db.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))


__all__ = ["Acquired", "Held", "Lease", "Leases"]
