"""Queries on jobs and their history."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from bot.models import STATE_RANK, JobState
from bot.store.base import StoreBase, is_busy
from bot.store.rows import JobRow, _check_columns


class JobQueries(StoreBase):
    # --- jobs -----------------------------------------------------------------------
    async def insert_job(
        self,
        *,
        job_id: str,
        kind: str,
        origin: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        provider: str,
        request: dict[str, Any],
        price: int,
        upload_limit: int,
        db: aiosqlite.Connection | None = None,
    ) -> None:
        """Insert a queued job (pass the transaction that also writes its reservation)."""
        now = time.time()
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO jobs(id, kind, origin, state, user_id, guild_id, channel_id, provider,
                                   request_json, price, upload_limit, created_at, updated_at)
                   VALUES(?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (job_id, kind, origin, user_id, guild_id, channel_id, provider, json.dumps(request), price, upload_limit,
                 now, now),
            )
            await conn.execute(
                "INSERT INTO job_events(job_id, from_state, to_state, note, at) VALUES(?, NULL, 'queued', '', ?)",
                (job_id, now),
            )

    async def get_job(self, job_id: str, db: aiosqlite.Connection | None = None) -> JobRow | None:
        sql = "SELECT * FROM jobs WHERE id = ?"
        if db is None and self._lookup is not None:
            try:
                rows = self._lookup.execute(sql, (job_id,)).fetchall()  # fetchall: the read ends here
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
            else:
                return JobRow.from_row(rows[0]) if rows else None
        row = await self._row(sql, (job_id,), db)
        return JobRow.from_row(row) if row else None

    async def jobs_in(
        self, states: Iterable[JobState], origin: str | None = None, db: aiosqlite.Connection | None = None
    ) -> list[JobRow]:
        states = list(states)
        sql = f"SELECT * FROM jobs WHERE state IN ({','.join('?' * len(states))})"
        args: list[Any] = [s.value for s in states]
        if origin is not None:
            sql += " AND origin = ?"
            args.append(origin)
        return [JobRow.from_row(r) for r in await self._rows(sql + " ORDER BY created_at, id", args, db)]

    async def unsettled(
        self, origin: str | None = None, db: aiosqlite.Connection | None = None, *, free_or_mine: bool = False
    ) -> list[JobRow]:
        """Jobs that still need work from the bot: being sent, at the provider, to be posted, or
        ended without the user told. (Queued jobs wait for the dispatcher, not for work.)
        `free_or_mine`: only those no other process holds a live lease on (see leases.py)."""
        sql = """SELECT * FROM jobs WHERE (state IN ('submitting', 'submitted', 'processing', 'succeeded')
                 OR (state IN ('failed', 'expired', 'cancelled') AND notified_at IS NULL))"""
        args: list[Any] = []
        if free_or_mine:
            sql += """ AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.name = 'job:' || jobs.id
                       AND leases.holder <> ? AND leases.until >= ?)"""
            args += [self.holder, time.time()]
        if origin is not None:
            sql += " AND origin = ?"
            args.append(origin)
        return [JobRow.from_row(r) for r in await self._rows(sql + " ORDER BY created_at, id", args, db)]

    async def queue_position(self, job_id: str, db: aiosqlite.Connection | None = None) -> int:
        """1 for the next job to be submitted."""
        row = await self._row(
            """SELECT COUNT(*) FROM jobs WHERE state = 'queued'
               AND (created_at, id) <= (SELECT created_at, id FROM jobs WHERE id = ?)""",
            (job_id,),
            db,
        )
        return int(row[0]) if row else 0

    async def count_active(self, *, user_id: int, db: aiosqlite.Connection | None = None) -> int:
        """A user's unfinished jobs: waiting in line or being made."""
        row = await self._row(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ('queued','submitting','submitted','processing')",
            (user_id,),
            db,
        )
        return int(row[0]) if row else 0

    async def active_by_provider(self, db: aiosqlite.Connection | None = None) -> dict[str, int]:
        """Jobs holding a provider slot (submitting or in flight there), per provider."""
        rows = await self._rows(
            "SELECT provider, COUNT(*) FROM jobs WHERE state IN ('submitting','submitted','processing') GROUP BY provider",
            (),
            db,
        )
        return {row[0]: int(row[1]) for row in rows}

    async def active_by_guild(self, db: aiosqlite.Connection | None = None) -> dict[int, int]:
        """Jobs holding a provider slot, per server (for the per-server slot limit)."""
        rows = await self._rows(
            """SELECT guild_id, COUNT(*) FROM jobs WHERE state IN ('submitting','submitted','processing')
               AND guild_id IS NOT NULL GROUP BY guild_id""",
            (),
            db,
        )
        return {int(row[0]): int(row[1]) for row in rows}

    async def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        allowed_from: Sequence[JobState] | None = None,
        note: str = "",
        db: aiosqlite.Connection | None = None,
        **fields: Any,
    ) -> JobRow | None:
        """Move a job forward and write its history row. Returns the job as now written, or None
        when the move is not allowed (already at or past `to`, or not in `allowed_from`): a no-op."""
        _check_columns(fields)
        below = [s for s in (allowed_from if allowed_from is not None else JobState) if STATE_RANK[s] < STATE_RANK[to]]
        async with self.atomic(db) as conn:
            return await self._move(conn, job_id, below, to, note, fields)

    async def requeue(self, job_id: str, *, not_before: float, note: str, db: aiosqlite.Connection | None = None) -> bool:
        """The one move back: submitting -> queued, when the provider said "not now" (so it surely
        did not take the job). False when the job is not being submitted (a no-op)."""
        async with self.atomic(db) as conn:
            moved = await self._move(conn, job_id, [JobState.SUBMITTING], JobState.QUEUED, note, {"not_before": not_before})
            return moved is not None

    async def _move(
        self, conn: aiosqlite.Connection, job_id: str, from_states: Sequence[JobState], to: JobState, note: str,
        fields: dict[str, Any],
    ) -> JobRow | None:
        if not from_states:
            return None
        # One statement: the check (state IN ...), the change, and (by the history trigger) the
        # history row. This runs for every callback that moves a job.
        sets = "".join(f", {name} = ?" for name in fields)
        marks = ",".join("?" * len(from_states))
        rows = list(
            await conn.execute_fetchall(
                f"UPDATE jobs SET state = ?, updated_at = ?{sets} WHERE id = ? AND state IN ({marks}) RETURNING *",
                (to.value, time.time(), *fields.values(), job_id, *(s.value for s in from_states)),
            )
        )
        if not rows:
            return None
        if note:  # rare (a requeue, a result that could not be posted): the trigger leaves it empty
            await conn.execute(
                "UPDATE job_events SET note = ? WHERE id = (SELECT MAX(id) FROM job_events WHERE job_id = ?)",
                (note, job_id),
            )
        return JobRow.from_row(rows[0])

    async def update_job(self, job_id: str, db: aiosqlite.Connection | None = None, **fields: Any) -> None:
        """Change bookkeeping columns without a state change."""
        _check_columns(fields)
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        async with self.atomic(db) as conn:
            await conn.execute(f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), time.time(), job_id))

    async def job_counts(self, db: aiosqlite.Connection | None = None) -> dict[tuple[str, str], int]:
        """Jobs per (provider, state), for /metrics."""
        rows = await self._rows("SELECT provider, state, COUNT(*) FROM jobs GROUP BY provider, state", (), db)
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def job_events(self, job_id: str, db: aiosqlite.Connection | None = None) -> list[tuple[str | None, str, str]]:
        rows = await self._rows("SELECT from_state, to_state, note FROM job_events WHERE job_id = ? ORDER BY id", (job_id,), db)
        return [(r[0], r[1], r[2]) for r in rows]

