"""Queries for a server's admin settings: allowances, budgets, bans, channels, words, prices, audit.

Every write takes the caller's transaction (`db`) so that the change and its audit row land
together (bot/guild_admin.py opens the transaction and writes both).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import aiosqlite

from bot.store.base import StoreBase

# guild_settings columns an admin command may set (None: use the bot-wide default from .env).
GUILD_SETTING_COLUMNS = frozenset({"daily_default", "daily_budget", "max_jobs", "nsfw_only"})


@dataclass(frozen=True)
class GuildSettings:
    daily_default: int | None = None
    daily_budget: int | None = None
    max_jobs: int | None = None
    nsfw_only: bool = False


@dataclass(frozen=True)
class Ban:
    user_id: int
    reason: str
    until: float | None
    told: bool
    by_user: int
    at: float


@dataclass(frozen=True)
class AuditRow:
    id: int
    guild_id: int | None
    actor_id: int
    action: str
    target: str
    old: str
    new: str
    reason: str
    at: float


class AdminQueries(StoreBase):
    # --- per-server settings ----------------------------------------------------------------
    async def guild_settings(self, guild_id: int, db: aiosqlite.Connection | None = None) -> GuildSettings:
        row = await self._row(
            "SELECT daily_default, daily_budget, max_jobs, nsfw_only FROM guild_settings WHERE guild_id = ?", (guild_id,), db
        )
        if row is None:
            return GuildSettings()
        return GuildSettings(row[0], row[1], row[2], bool(row[3]))

    async def set_guild_setting(
        self, guild_id: int, column: str, value: int | None, by_user: int, db: aiosqlite.Connection | None = None
    ) -> None:
        if column not in GUILD_SETTING_COLUMNS:
            raise ValueError(f"unknown guild setting {column!r}")
        async with self.atomic(db) as conn:
            await conn.execute(
                f"""INSERT INTO guild_settings(guild_id, {column}, updated_by, updated_at) VALUES(?, ?, ?, ?)
                    ON CONFLICT(guild_id) DO UPDATE SET {column} = excluded.{column},
                        updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, value if column != "nsfw_only" else int(bool(value)), by_user, time.time()),
            )

    async def guild_job_limits(self, db: aiosqlite.Connection | None = None) -> dict[int, int]:
        rows = await self._rows("SELECT guild_id, max_jobs FROM guild_settings WHERE max_jobs IS NOT NULL", (), db)
        return {int(r[0]): int(r[1]) for r in rows}

    # --- role allowances ----------------------------------------------------------------------
    async def role_allowances(self, guild_id: int, db: aiosqlite.Connection | None = None) -> dict[int, int]:
        rows = await self._rows("SELECT role_id, credits FROM role_allowances WHERE guild_id = ?", (guild_id,), db)
        return {int(r[0]): int(r[1]) for r in rows}

    async def set_role_allowance(
        self, guild_id: int, role_id: int, credits: int | None, db: aiosqlite.Connection | None = None
    ) -> None:
        """Set a role's daily credits; None removes the role's tier."""
        async with self.atomic(db) as conn:
            if credits is None:
                await conn.execute("DELETE FROM role_allowances WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
                return
            await conn.execute(
                """INSERT INTO role_allowances(guild_id, role_id, credits) VALUES(?, ?, ?)
                   ON CONFLICT(guild_id, role_id) DO UPDATE SET credits = excluded.credits""",
                (guild_id, role_id, credits),
            )

    # --- bans ---------------------------------------------------------------------------------
    async def ban_of(self, guild_id: int, user_id: int, db: aiosqlite.Connection | None = None) -> Ban | None:
        row = await self._row(
            "SELECT user_id, reason, until, told, by_user, at FROM bans WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
            db,
        )
        return Ban(int(row[0]), row[1], row[2], bool(row[3]), int(row[4]), row[5]) if row else None

    async def set_ban(
        self, guild_id: int, user_id: int, reason: str, until: float | None, by_user: int, db: aiosqlite.Connection | None = None
    ) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO bans(guild_id, user_id, reason, until, told, by_user, at) VALUES(?, ?, ?, ?, 0, ?, ?)
                   ON CONFLICT(guild_id, user_id) DO UPDATE SET reason = excluded.reason, until = excluded.until,
                       told = 0, by_user = excluded.by_user, at = excluded.at""",
                (guild_id, user_id, reason, until, by_user, time.time()),
            )

    async def delete_ban(self, guild_id: int, user_id: int, db: aiosqlite.Connection | None = None) -> bool:
        async with self.atomic(db) as conn:
            cur = await conn.execute("DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
            return cur.rowcount == 1

    async def mark_ban_told(self, guild_id: int, user_id: int, db: aiosqlite.Connection | None = None) -> bool:
        """True the first time only: the member is told of their ban once."""
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                "UPDATE bans SET told = 1 WHERE guild_id = ? AND user_id = ? AND told = 0", (guild_id, user_id)
            )
            return cur.rowcount == 1

    # --- channels -----------------------------------------------------------------------------
    async def channel_rules(self, guild_id: int, db: aiosqlite.Connection | None = None) -> dict[int, str]:
        rows = await self._rows("SELECT channel_id, rule FROM channel_rules WHERE guild_id = ?", (guild_id,), db)
        return {int(r[0]): r[1] for r in rows}

    async def set_channel_rule(
        self, guild_id: int, channel_id: int, rule: str | None, db: aiosqlite.Connection | None = None
    ) -> None:
        """'allow' or 'deny' a channel; None forgets it."""
        async with self.atomic(db) as conn:
            if rule is None:
                await conn.execute(
                    "DELETE FROM channel_rules WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
                )
                return
            await conn.execute(
                """INSERT INTO channel_rules(guild_id, channel_id, rule) VALUES(?, ?, ?)
                   ON CONFLICT(guild_id, channel_id) DO UPDATE SET rule = excluded.rule""",
                (guild_id, channel_id, rule),
            )

    # --- words --------------------------------------------------------------------------------
    async def words(self, guild_id: int, db: aiosqlite.Connection | None = None) -> list[str]:
        rows = await self._rows("SELECT word FROM word_list WHERE guild_id = ? ORDER BY word", (guild_id,), db)
        return [r[0] for r in rows]

    async def add_word(self, guild_id: int, key: str, word: str, db: aiosqlite.Connection | None = None) -> bool:
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                "INSERT INTO word_list(guild_id, entry_key, word) VALUES(?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, key, word),
            )
            return cur.rowcount == 1

    async def remove_word(self, guild_id: int, key: str, db: aiosqlite.Connection | None = None) -> str | None:
        """Remove an entry by its key; returns the word as it was listed, or None."""
        async with self.atomic(db) as conn:
            rows = await conn.execute_fetchall(
                "SELECT word FROM word_list WHERE guild_id = ? AND entry_key = ?", (guild_id, key)
            )
            if not rows:
                return None
            await conn.execute("DELETE FROM word_list WHERE guild_id = ? AND entry_key = ?", (guild_id, key))
            return str(list(rows)[0][0])

    # --- prices -------------------------------------------------------------------------------
    async def price_overrides(self, db: aiosqlite.Connection | None = None) -> dict[tuple[str, str, str, str], int]:
        rows = await self._rows("SELECT provider, kind, model, mode, credits_per_second FROM price_overrides", (), db)
        return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}

    async def set_price_override(
        self, key: tuple[str, str, str, str], credits_per_second: int, db: aiosqlite.Connection | None = None
    ) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO price_overrides(provider, kind, model, mode, credits_per_second) VALUES(?, ?, ?, ?, ?)
                   ON CONFLICT(provider, kind, model, mode) DO UPDATE SET credits_per_second = excluded.credits_per_second""",
                (*key, credits_per_second),
            )

    # --- usage --------------------------------------------------------------------------------
    async def spend_by_day(
        self, since: str, by: str, guild_id: int | None, db: aiosqlite.Connection | None = None
    ) -> list[tuple[str, str, int]]:
        """(day, key, credits spent) from `since` on: reserved minus refunded, by member/provider/kind;
        one server, or every server when guild_id is None."""
        key = {"member": "CAST(l.user_id AS TEXT)", "provider": "j.provider", "kind": "j.kind"}[by]
        where, args = "l.kind IN ('reserve', 'refund', 'admin_refund') AND l.period >= ?", [since]
        if guild_id is not None:
            where += " AND l.guild_id = ?"
            args.append(guild_id)
        rows = await self._rows(
            f"""SELECT l.period, COALESCE({key}, '?'),
                       SUM(CASE l.kind WHEN 'reserve' THEN l.amount ELSE -l.amount END)
                FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id
                WHERE {where} GROUP BY l.period, COALESCE({key}, '?') ORDER BY l.period""",
            args,
            db,
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    # --- audit --------------------------------------------------------------------------------
    async def add_audit(
        self,
        *,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target: str = "",
        old: str = "",
        new: str = "",
        reason: str = "",
        db: aiosqlite.Connection | None = None,
    ) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO audit_log(guild_id, actor_id, action, target, old, new, reason, at)
                   VALUES(?, ?, ?, ?, ?, ?, ?, ?)""",
                (guild_id, actor_id, action, target, old, new, reason, time.time()),
            )

    async def audit(
        self, guild_id: int | None, *, member_id: int | None = None, limit: int = 10, db: aiosqlite.Connection | None = None
    ) -> list[AuditRow]:
        """The latest changes in one server (bot-wide ones, such as prices, have no server), newest
        first; with `member_id`, only those the member made or that were made to them."""
        where, args = "COALESCE(guild_id, 0) = ?", [guild_id or 0]
        if member_id is not None:
            where += " AND (actor_id = ? OR target = ?)"
            args += [member_id, f"user:{member_id}"]
        rows = await self._rows(f"SELECT * FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?", (*args, limit), db)
        return [_audit_row(r) for r in rows]


def _audit_row(row: sqlite3.Row) -> AuditRow:
    return AuditRow(
        int(row["id"]), row["guild_id"], int(row["actor_id"]), row["action"], row["target"], row["old"], row["new"],
        row["reason"], float(row["at"]),
    )
