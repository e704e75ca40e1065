"""SQLite persistence: the only module with SQL.

One aiosqlite connection per process, WAL mode, versioned migrations
(PRAGMA user_version). Writes go through `transaction()`, which serialises
them with a lock and BEGIN IMMEDIATE so a check-then-write (quota, state
transition) is atomic.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import STATE_RANK, JobState

MIGRATIONS: list[str] = [
    # 1: jobs, their history, the credit ledger, key/value metadata
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        provider TEXT NOT NULL,
        request_json TEXT NOT NULL,
        price INTEGER NOT NULL,
        upload_limit INTEGER NOT NULL,
        provider_task_id TEXT,
        provider_status TEXT,
        provider_cost TEXT,
        result_url TEXT,
        error_kind TEXT,
        error_message TEXT,
        error_detail TEXT,
        poll_attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submitted_at REAL,
        finished_at REAL,
        delivered_at REAL,
        notified_at REAL,
        message_id INTEGER
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    CREATE INDEX jobs_user ON jobs(user_id, state);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        note TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX job_events_job ON job_events(job_id);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'refund', 'grant')),
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        job_id TEXT,
        amount INTEGER NOT NULL,
        period TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    -- a job is reserved, committed and refunded at most once each
    CREATE UNIQUE INDEX ledger_job_kind ON ledger(job_id, kind) WHERE job_id IS NOT NULL;
    CREATE INDEX ledger_period ON ledger(period, user_id);
    """,
    # 2: per-guild choices admins make (which provider runs the guild's jobs)
    """
    CREATE TABLE guild_settings (
        guild_id INTEGER PRIMARY KEY,
        provider TEXT,
        updated_by INTEGER,
        updated_at REAL NOT NULL
    );
    """,
    # 3: a provider's "come back later" survives a restart; acknowledged commands survive a crash
    """
    ALTER TABLE jobs ADD COLUMN not_before REAL;
    CREATE TABLE intake_requests (
        interaction_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        application_id INTEGER,
        token_sealed TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        job_id TEXT,
        outcome TEXT,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX intake_requests_state ON intake_requests(state, created_at);
    """,
]

JOB_COLUMNS = frozenset(
    {
        "provider",
        "provider_task_id",
        "provider_status",
        "provider_cost",
        "result_url",
        "error_kind",
        "error_message",
        "error_detail",
        "poll_attempts",
        "submitted_at",
        "finished_at",
        "delivered_at",
        "notified_at",
        "message_id",
        "not_before",
    }
)


@dataclass
class JobRow:
    id: str
    kind: str
    origin: str
    state: JobState
    user_id: int
    guild_id: int | None
    channel_id: int | None
    provider: str
    request: dict[str, Any]
    price: int
    upload_limit: int
    provider_task_id: str | None
    provider_status: str | None
    provider_cost: str | None
    result_url: str | None
    error_kind: str | None
    error_message: str | None
    error_detail: str | None
    poll_attempts: int
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    notified_at: float | None
    message_id: int | None
    not_before: float | None = None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> JobRow:
        data = dict(row)
        data["state"] = JobState(data["state"])
        data["request"] = json.loads(data.pop("request_json"))
        return cls(**data)


@dataclass
class Usage:
    """Credits used in one period (reserved minus refunded), and granted extra."""

    used: int
    granted: int


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._migrate()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits on its own; wrap so a half-applied migration rolls back
            await self.db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def schema_version(self) -> int:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")

    # --- meta -----------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- jobs -----------------------------------------------------------------------
    @staticmethod
    async def insert_job(
        db: aiosqlite.Connection,
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
    ) -> None:
        """Insert a queued job; call inside `transaction()` together with the reservation."""
        now = time.time()
        await db.execute(
            """INSERT INTO jobs(id, kind, origin, state, user_id, guild_id, channel_id, provider,
                               request_json, price, upload_limit, created_at, updated_at)
               VALUES(?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (job_id, kind, origin, user_id, guild_id, channel_id, provider, json.dumps(request), price, upload_limit, now, now),
        )
        await db.execute(
            "INSERT INTO job_events(job_id, from_state, to_state, note, at) VALUES(?, NULL, 'queued', '', ?)", (job_id, now)
        )

    async def get_job(self, job_id: str) -> JobRow | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return JobRow.from_row(row) if row else None

    async def jobs_in(self, states: Iterable[JobState], origin: str | None = None) -> list[JobRow]:
        states = list(states)
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM jobs WHERE state IN ({marks})"
        args: list[Any] = [s.value for s in states]
        if origin is not None:
            sql += " AND origin = ?"
            args.append(origin)
        async with self.db.execute(sql + " ORDER BY created_at, id", args) as cur:
            return [JobRow.from_row(r) for r in await cur.fetchall()]

    async def failed_unnotified(self, origin: str | None = None) -> list[JobRow]:
        sql = "SELECT * FROM jobs WHERE state IN ('failed', 'expired', 'cancelled') AND notified_at IS NULL"
        args: list[Any] = []
        if origin is not None:
            sql += " AND origin = ?"
            args.append(origin)
        async with self.db.execute(sql + " ORDER BY created_at", args) as cur:
            return [JobRow.from_row(r) for r in await cur.fetchall()]

    async def queue_position(self, job_id: str) -> int:
        """1 for the next job to be submitted."""
        async with self.db.execute(
            """SELECT COUNT(*) FROM jobs WHERE state = 'queued'
               AND (created_at, id) <= (SELECT created_at, id FROM jobs WHERE id = ?)""",
            (job_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def count_active(self, *, user_id: int) -> int:
        """A user's unfinished jobs: waiting in line or being made."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ('queued','submitting','submitted','processing')",
            (user_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def active_by_provider(self) -> dict[str, int]:
        """Jobs holding a provider slot (submitting or in flight there), per provider."""
        async with self.db.execute(
            "SELECT provider, COUNT(*) FROM jobs WHERE state IN ('submitting','submitted','processing') GROUP BY provider"
        ) as cur:
            return {row[0]: int(row[1]) for row in await cur.fetchall()}

    @staticmethod
    async def transition_in(
        db: aiosqlite.Connection,
        job_id: str,
        to: JobState,
        *,
        allowed_from: Sequence[JobState] | None = None,
        note: str = "",
        **fields: Any,
    ) -> JobState | None:
        """Move a job forward inside an open transaction. Returns the old state, or None when the
        move is not allowed (already at or past `to`, or not in `allowed_from`): a no-op."""
        bad = set(fields) - JOB_COLUMNS
        if bad:
            raise ValueError(f"unknown job columns: {bad}")
        async with db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        current = JobState(row[0])
        if allowed_from is not None and current not in allowed_from:
            return None
        if STATE_RANK[current] >= STATE_RANK[to]:
            return None
        now = time.time()
        sets = ", ".join(f"{name} = ?" for name in fields)
        await db.execute(
            f"UPDATE jobs SET state = ?, updated_at = ?{', ' + sets if sets else ''} WHERE id = ?",
            (to.value, now, *fields.values(), job_id),
        )
        await db.execute(
            "INSERT INTO job_events(job_id, from_state, to_state, note, at) VALUES(?, ?, ?, ?, ?)",
            (job_id, current.value, to.value, note, now),
        )
        return current

    async def update_job(self, job_id: str, **fields: Any) -> None:
        """Change bookkeeping columns without a state change."""
        bad = set(fields) - JOB_COLUMNS
        if bad:
            raise ValueError(f"unknown job columns: {bad}")
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        async with self.transaction() as db:
            await db.execute(
                f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), time.time(), job_id)
            )

    async def job_counts(self) -> dict[tuple[str, str], int]:
        """Jobs per (provider, state), for /metrics."""
        async with self.db.execute("SELECT provider, state, COUNT(*) FROM jobs GROUP BY provider, state") as cur:
            return {(r[0], r[1]): int(r[2]) for r in await cur.fetchall()}

    async def job_events(self, job_id: str) -> list[tuple[str | None, str, str]]:
        async with self.db.execute(
            "SELECT from_state, to_state, note FROM job_events WHERE job_id = ? ORDER BY id", (job_id,)
        ) as cur:
            return [(r[0], r[1], r[2]) for r in await cur.fetchall()]

    # --- guild settings -------------------------------------------------------------------
    async def guild_provider(self, guild_id: int) -> str | None:
        async with self.db.execute("SELECT provider FROM guild_settings WHERE guild_id = ?", (guild_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_guild_provider(self, guild_id: int, provider: str | None, by_user: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO guild_settings(guild_id, provider, updated_by, updated_at) VALUES(?, ?, ?, ?)
                   ON CONFLICT(guild_id) DO UPDATE SET provider = excluded.provider,
                       updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, provider, by_user, time.time()),
            )

    # --- ledger -----------------------------------------------------------------------
    @staticmethod
    async def add_ledger(
        db: aiosqlite.Connection,
        *,
        kind: str,
        user_id: int,
        guild_id: int | None,
        job_id: str | None,
        amount: int,
        period: str,
        reason: str = "",
    ) -> bool:
        """Add a ledger row; False when this job already has a row of this kind (exactly once)."""
        cur = await db.execute(
            """INSERT INTO ledger(kind, user_id, guild_id, job_id, amount, period, reason, at)
               VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            (kind, user_id, guild_id, job_id, amount, period, reason, time.time()),
        )
        return cur.rowcount == 1

    @staticmethod
    async def ledger_row(db: aiosqlite.Connection, job_id: str, kind: str) -> aiosqlite.Row | None:
        async with db.execute("SELECT * FROM ledger WHERE job_id = ? AND kind = ?", (job_id, kind)) as cur:
            return await cur.fetchone()

    @staticmethod
    async def usage(
        db: aiosqlite.Connection, period: str, *, user_id: int | None = None, guild_id: int | None = None
    ) -> Usage:
        """Credits used in `period` by a user, a guild, or everyone (both None)."""
        where, args = "period = ?", [period]
        if user_id is not None:
            where += " AND user_id = ?"
            args.append(user_id)
        if guild_id is not None:
            where += " AND guild_id = ?"
            args.append(guild_id)
        async with db.execute(
            f"""SELECT
                  COALESCE(SUM(CASE kind WHEN 'reserve' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0),
                  COALESCE(SUM(CASE kind WHEN 'grant' THEN amount ELSE 0 END), 0)
                FROM ledger WHERE {where}""",
            args,
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return Usage(used=int(row[0]), granted=int(row[1]))

    async def ledger_for_job(self, job_id: str) -> list[tuple[str, int]]:
        async with self.db.execute("SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY id", (job_id,)) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]
