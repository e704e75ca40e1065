"""Queries on the credit ledger and per-guild settings."""

from __future__ import annotations

import sqlite3
import time

import aiosqlite

from bot.store.base import StoreBase
from bot.store.rows import Usage


class LedgerQueries(StoreBase):
    # --- guild settings -------------------------------------------------------------------
    async def guild_provider(self, guild_id: int, db: aiosqlite.Connection | None = None) -> str | None:
        row = await self._row("SELECT provider FROM guild_settings WHERE guild_id = ?", (guild_id,), db)
        return row[0] if row else None

    async def set_guild_provider(
        self, guild_id: int, provider: str | None, by_user: int, db: aiosqlite.Connection | None = None
    ) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO guild_settings(guild_id, provider, updated_by, updated_at) VALUES(?, ?, ?, ?)
                   ON CONFLICT(guild_id) DO UPDATE SET provider = excluded.provider,
                       updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, provider, by_user, time.time()),
            )

    # --- ledger -----------------------------------------------------------------------
    async def add_ledger(
        self,
        *,
        kind: str,
        user_id: int,
        guild_id: int | None,
        job_id: str | None,
        amount: int,
        period: str,
        reason: str = "",
        from_granted: int = 0,
        by_user: int | None = None,
        db: aiosqlite.Connection | None = None,
    ) -> bool:
        """Add a ledger row; False when this job already has a row of this kind (exactly once)."""
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                """INSERT INTO ledger(kind, user_id, guild_id, job_id, amount, from_granted, period, reason, by_user, at)
                   VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (kind, user_id, guild_id, job_id, amount, from_granted, period, reason, by_user, time.time()),
            )
            return cur.rowcount == 1

    async def ledger_row(self, job_id: str, kind: str, db: aiosqlite.Connection | None = None) -> sqlite3.Row | None:
        return await self._row("SELECT * FROM ledger WHERE job_id = ? AND kind = ?", (job_id, kind), db)

    async def usage(
        self,
        period: str,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        db: aiosqlite.Connection | None = None,
    ) -> Usage:
        """Credits used in `period` by a user, a guild, or everyone (both None)."""
        where, args = "period = ?", [period]
        if user_id is not None:
            where += " AND user_id = ?"
            args.append(user_id)
        if guild_id is not None:
            where += " AND guild_id = ?"
            args.append(guild_id)
        row = await self._row(
            f"""SELECT
                  COALESCE(SUM(CASE kind WHEN 'reserve' THEN amount WHEN 'refund' THEN -amount
                                         WHEN 'admin_refund' THEN -amount ELSE 0 END), 0),
                  COALESCE(SUM(CASE kind WHEN 'grant' THEN amount WHEN 'take' THEN -amount ELSE 0 END), 0)
                FROM ledger WHERE {where}""",
            args,
            db,
        )
        assert row is not None
        return Usage(used=int(row[0]), granted=int(row[1]))

    async def member_balance(
        self, user_id: int, guild_id: int | None, period: str, db: aiosqlite.Connection | None = None
    ) -> tuple[int, int]:
        """(spent from today's allowance, granted credits left) of one member in one server (or
        outside any server): the SQL form of bot.allowances.balance_from_ledger."""
        row = await self._row(
            """SELECT
                 COALESCE(SUM(CASE WHEN period <> ? THEN 0
                                   WHEN kind = 'reserve' THEN amount - from_granted
                                   WHEN kind IN ('refund', 'admin_refund') THEN from_granted - amount
                                   ELSE 0 END), 0),
                 COALESCE(SUM(CASE kind WHEN 'grant' THEN amount WHEN 'take' THEN -amount
                                   WHEN 'reserve' THEN -from_granted
                                   WHEN 'refund' THEN from_granted WHEN 'admin_refund' THEN from_granted
                                   ELSE 0 END), 0)
               FROM ledger WHERE user_id = ? AND COALESCE(guild_id, 0) = ?""",
            (period, user_id, guild_id or 0),
            db,
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def member_ledger(
        self, user_id: int, guild_id: int | None, limit: int = 5, kinds: tuple[str, ...] = ("grant", "take", "admin_refund"),
        db: aiosqlite.Connection | None = None,
    ) -> list[sqlite3.Row]:
        """A member's latest ledger rows of some kinds (grants, takes, admin refunds), newest first."""
        marks = ",".join("?" * len(kinds))
        return await self._rows(
            f"""SELECT * FROM ledger WHERE user_id = ? AND COALESCE(guild_id, 0) = ? AND kind IN ({marks})
                ORDER BY id DESC LIMIT ?""",
            (user_id, guild_id or 0, *kinds, limit),
            db,
        )

    async def ledger_for_job(self, job_id: str, db: aiosqlite.Connection | None = None) -> list[tuple[str, int]]:
        rows = await self._rows("SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY id", (job_id,), db)
        return [(r[0], r[1]) for r in rows]


