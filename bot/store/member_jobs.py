"""Queries for a member's own jobs (/jobs, /cancel, /quota) and for the line of waiting jobs
(who started lately, how long jobs take at a provider)."""

from __future__ import annotations

import aiosqlite

from bot.fairness import Started
from bot.store.base import StoreBase
from bot.store.rows import JobRow

ACTIVE_STATES = ("queued", "submitting", "submitted", "processing")


class MemberJobQueries(StoreBase):
    # --- a member's jobs ----------------------------------------------------------------
    async def jobs_of_user(
        self, user_id: int, *, limit: int, offset: int = 0, origin: str = "discord", db: aiosqlite.Connection | None = None
    ) -> list[JobRow]:
        """The member's jobs, newest first (a page of them)."""
        rows = await self._rows(
            "SELECT * FROM jobs WHERE user_id = ? AND origin = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (user_id, origin, limit, offset),
            db,
        )
        return [JobRow.from_row(r) for r in rows]

    async def count_jobs_of_user(self, user_id: int, *, origin: str = "discord", db: aiosqlite.Connection | None = None) -> int:
        row = await self._row("SELECT COUNT(*) FROM jobs WHERE user_id = ? AND origin = ?", (user_id, origin), db)
        return int(row[0]) if row else 0

    async def active_jobs_of_user(
        self, user_id: int, *, origin: str = "discord", db: aiosqlite.Connection | None = None
    ) -> list[JobRow]:
        """The member's jobs waiting in line or being made, oldest first."""
        marks = ",".join("?" * len(ACTIVE_STATES))
        rows = await self._rows(
            f"SELECT * FROM jobs WHERE user_id = ? AND origin = ? AND state IN ({marks}) ORDER BY created_at, id",
            (user_id, origin, *ACTIVE_STATES),
            db,
        )
        return [JobRow.from_row(r) for r in rows]

    # --- the line ---------------------------------------------------------------------------
    async def recent_starts(self, since: float, db: aiosqlite.Connection | None = None) -> list[Started]:
        """Each member's (per server) last start since `since`: when a job of theirs was sent, or
        claimed for sending (the dispatcher's round-robin goes on from there)."""
        # Two index-friendly halves (jobs_submitted; jobs_state): this runs on dispatcher passes.
        rows = await self._rows(
            """SELECT user_id, guild_id, MAX(at) FROM (
                   SELECT user_id, guild_id, submitted_at AS at FROM jobs WHERE submitted_at >= ?
                   UNION ALL
                   SELECT user_id, guild_id, updated_at AS at FROM jobs WHERE state = 'submitting' AND updated_at >= ?
               ) AS starts GROUP BY user_id, guild_id""",  # the alias: PostgreSQL requires one
            (since, since),
            db,
        )
        return [Started(user_id=int(r[0]), guild_id=r[1], started_at=float(r[2])) for r in rows]

    async def recent_durations(self, provider: str, limit: int, db: aiosqlite.Connection | None = None) -> list[float]:
        """Seconds from submission to result of the provider's latest successful jobs."""
        rows = await self._rows(
            """SELECT finished_at - submitted_at FROM jobs
               WHERE provider = ? AND state IN ('succeeded', 'delivered') AND submitted_at IS NOT NULL
               AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?""",
            (provider, limit),
            db,
        )
        return [float(r[0]) for r in rows]

    async def running_since(self, provider: str, db: aiosqlite.Connection | None = None) -> list[float]:
        """When each job holding one of the provider's slots started."""
        rows = await self._rows(
            """SELECT COALESCE(submitted_at, updated_at) FROM jobs
               WHERE provider = ? AND state IN ('submitting', 'submitted', 'processing')""",
            (provider,),
            db,
        )
        return [float(r[0]) for r in rows]
