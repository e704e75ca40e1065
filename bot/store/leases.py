"""Leases: a name held by one process until a time, taken over by another once that passes.

Two uses, one mechanism: `job:<id>` says which process works on a job (so a job is followed and
delivered by one process, and another takes it over when the holder dies and stops renewing), and
`leader:<name>` says which process does a piece of once-per-bot work (command sync, sweeps,
timers): `await store.leader("retention")` before each run, from every process; one gets True.

Taking a lease is one upsert whose WHERE lets it through only when the name is free, expired, or
already ours; on PostgreSQL the conflicting row's lock makes two takers wait for each other and
the second sees the first's lease, so exactly one wins. `holder` is this process (StoreBase.holder).
"""

from __future__ import annotations

import time

import aiosqlite

from bot.store.base import StoreBase


def job_lease(job_id: str) -> str:
    return f"job:{job_id}"


class LeaseQueries(StoreBase):
    async def take_lease(self, name: str, seconds: float, db: aiosqlite.Connection | None = None) -> bool:
        """Hold `name` for `seconds` from now; False when another process holds it unexpired."""
        now = time.time()
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                """INSERT INTO leases(name, holder, until) VALUES(?, ?, ?)
                   ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                   WHERE leases.holder = excluded.holder OR leases.until < ?""",
                (name, self.holder, now + seconds, now),
            )
            return cur.rowcount == 1

    async def renew_leases(self, seconds: float, db: aiosqlite.Connection | None = None) -> int:
        """Push forward every lease this process holds on work (jobs, requests; not leaderships,
        which their leaders renew by asking again); how many. One statement, however many."""
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                "UPDATE leases SET until = ? WHERE holder = ? AND name NOT LIKE 'leader:%'",
                (time.time() + seconds, self.holder),
            )
            return int(cur.rowcount)

    async def release_lease(self, name: str, db: aiosqlite.Connection | None = None) -> None:
        async with self.atomic(db) as conn:
            await conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, self.holder))

    async def lease_holder(self, name: str, db: aiosqlite.Connection | None = None) -> str | None:
        """Who holds `name` now (None: nobody, or expired)."""
        row = await self._row("SELECT holder FROM leases WHERE name = ? AND until >= ?", (name, time.time()), db)
        return row[0] if row else None

    async def leader(self, name: str, seconds: float = 60.0, db: aiosqlite.Connection | None = None) -> bool:
        """Whether this process leads `name` for the next `seconds` (asking again renews it).
        Call it before each run of once-per-bot work; a dead leader is replaced after `seconds`.
        On SQLite, one process by design: always this one (a restart never waits for a lease)."""
        if not self.shared:
            return True
        return await self.take_lease(f"leader:{name}", seconds, db)

    async def release_leases(self, db: aiosqlite.Connection | None = None) -> None:
        """Give up every lease this process holds (a clean stop: others take over at once)."""
        async with self.atomic(db) as conn:
            await conn.execute("DELETE FROM leases WHERE holder = ?", (self.holder,))
