"""SQLite persistence: the only module with SQL.

Two aiosqlite connections per process in WAL mode: one writes, one reads, so a
read (a repeated callback, the dispatcher's look at the queue) never waits
behind a write. Versioned migrations (PRAGMA user_version).

Every query method takes `db=None`: given a connection (from `transaction()`),
it runs inside that transaction; without one, a read uses the reading
connection and a write opens its own short transaction. Callers never need to
know which connection a method wants.

Writes go through `transaction()`, which serialises them with a lock and BEGIN
IMMEDIATE so a check-then-write (quota, state transition) is atomic. Another
process holding the database (a backup, a second bot by mistake) makes SQLite
answer "database is locked": that is retried with a bounded backoff
(`busy_retry_seconds`, DB_BUSY_RETRY_SECONDS), then `StoreBusy` is raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from bot.errors import StoreBusy
from bot.models import STATE_RANK, JobState

log = logging.getLogger(__name__)
T = TypeVar("T")

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

# Every change of a job's state writes its history row in the same statement. A TEMP trigger
# (this connection's own, made at each open) so it needs no schema migration; every writer of
# job states is a Store, so every one has it.
HISTORY_TRIGGER = """
CREATE TEMP TRIGGER IF NOT EXISTS job_history AFTER UPDATE OF state ON main.jobs
WHEN old.state IS NOT new.state
BEGIN
    INSERT INTO job_events(job_id, from_state, to_state, note, at)
    VALUES (new.id, old.state, new.state, '', new.updated_at);
END
"""

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
    request_json: str
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

    @cached_property
    def request(self) -> dict[str, Any]:
        # Parsed when first asked for: most reads (a callback, the dispatcher's pass) never need it.
        return json.loads(self.request_json)  # type: ignore[no-any-return]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        # Positional when the columns are in field order (the usual case, ten times faster than
        # by name: this runs for every callback); by name otherwise.
        names = tuple(row.keys())
        values = list(row) if names == _JOB_FIELDS else [row[names.index(name)] for name in _JOB_FIELDS]
        job = cls(*values)
        job.state = JobState(job.state)
        return job


_JOB_FIELDS = tuple(f.name for f in fields(JobRow))


@dataclass
class Usage:
    """Credits used in one period (reserved minus refunded), and granted extra."""

    used: int
    granted: int


@dataclass
class _Pending:
    work: Callable[[aiosqlite.Connection], Awaitable[Any]]
    future: asyncio.Future[Any]


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked" / "database table is locked": another writer, try again later."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


class Store:
    def __init__(self, path: Path, *, busy_retry_seconds: float = 30.0, busy_timeout_ms: int = 200) -> None:
        self.path = path
        self.busy_retry_seconds = busy_retry_seconds
        # SQLite's own wait per attempt; kept short so the connection's thread is not held long,
        # the longer wait is the backoff in `_retry_busy` (which lets other work run meanwhile).
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lookup: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._waiting: list[_Pending] = []  # grouped writes not yet begun
        self._grouper: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await self._connect()
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._migrate()
        await self._db.execute(HISTORY_TRIGGER)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only=ON")
        # Lookups of one job by its key, on the event loop's own thread: a few microseconds of
        # SQLite against ~150 us of hand-off to a connection thread, on the path every callback
        # takes. It never waits (busy_timeout 0): when SQLite says busy it steps aside.
        self._lookup = sqlite3.connect(self.path, isolation_level=None)
        self._lookup.row_factory = sqlite3.Row
        self._lookup.execute("PRAGMA query_only=ON")
        self._lookup.execute("PRAGMA busy_timeout=0")

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return db

    async def close(self) -> None:
        if self._lookup is not None:
            self._lookup.close()
        for conn in (self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = self._lookup = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The writing connection (also fine for ad-hoc reads in tests)."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits on its own; wrap so a half-applied migration rolls back
            script = f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            await self._busy_safe(lambda script=script: self.db.executescript(script))

    async def schema_version(self) -> int:
        rows = await self._busy_safe(lambda: self.db.execute_fetchall("PRAGMA user_version"))
        return int(rows[0][0]) if rows else 0

    # --- the two ways in: a transaction, or a read -------------------------------------------
    async def _busy_safe(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run `op`; while SQLite says another process holds the database, retry with backoff."""
        try:
            return await op()  # the common case pays nothing for the retry machinery
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            log.warning("database is busy (another process is writing); retrying for up to %.0f s", self.busy_retry_seconds)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_busy),
                stop=stop_after_delay(self.busy_retry_seconds),
                wait=wait_exponential(multiplier=0.05, max=1.0),
                reraise=True,
            ):
                with attempt:
                    return await op()
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise StoreBusy() from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._busy_safe(lambda: self.db.execute("BEGIN IMMEDIATE"))
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")

    async def grouped(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in a write transaction shared with the other grouped work waiting at the
        same moment (many callbacks arriving together): one BEGIN and one COMMIT for all. The
        caller gets its result only after that commit, so "recorded before answered" holds.
        `work` must only use the database. If one work raises, the group is rolled back and run
        again without it, so one bad write cannot undo the others."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Pending(work, future))
        if self._grouper is None or self._grouper.done():
            self._grouper = asyncio.create_task(self._run_groups(), name="store-write-groups")
        return await future

    async def _run_groups(self) -> None:
        group: list[_Pending] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                await self._commit_group(group)
        finally:  # cancelled (shutdown): nobody may wait forever for an answer
            for pending in group + self._waiting:
                if not pending.future.done():
                    pending.future.cancel()

    async def _commit_group(self, group: list[_Pending]) -> None:
        while group:
            results: list[Any] = []
            failed_at: int | None = None
            try:
                async with self.transaction() as db:
                    for index, pending in enumerate(group):
                        failed_at = index
                        results.append(await pending.work(db))
                    failed_at = None
            except Exception as exc:
                if failed_at is None:  # BEGIN or COMMIT failed (StoreBusy): nothing landed, for anyone
                    failing, group[:] = group[:], []
                else:  # one work failed: it gets the error, the others run again without it
                    failing = [group.pop(failed_at)]
                for pending in failing:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, result in zip(group, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
            group.clear()

    @asynccontextmanager
    async def atomic(self, db: aiosqlite.Connection | None) -> AsyncIterator[aiosqlite.Connection]:
        """The caller's transaction when given, else a short one of its own: for a check-then-write
        that must be atomic whoever calls it."""
        if db is not None:
            yield db
        else:
            async with self.transaction() as own:
                yield own

    async def _rows(self, sql: str, args: Sequence[Any] = (), db: aiosqlite.Connection | None = None) -> list[sqlite3.Row]:
        """All rows of a read; inside the caller's transaction when given (one hop to SQLite's thread)."""
        conn = db if db is not None else self.reader
        return list(await self._busy_safe(lambda: conn.execute_fetchall(sql, args)))

    async def _row(self, sql: str, args: Sequence[Any] = (), db: aiosqlite.Connection | None = None) -> sqlite3.Row | None:
        rows = await self._rows(sql, args, db)
        return rows[0] if rows else None

    # --- meta -----------------------------------------------------------------------
    async def get_meta(self, key: str, db: aiosqlite.Connection | None = None) -> str | None:
        row = await self._row("SELECT value FROM meta WHERE key = ?", (key,), db)
        return row[0] if row else None

    async def set_meta(self, key: str, value: str, db: aiosqlite.Connection | None = None) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

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

    async def unsettled(self, origin: str | None = None, db: aiosqlite.Connection | None = None) -> list[JobRow]:
        """Jobs that still need work from the bot: being sent, at the provider, to be posted, or
        ended without the user told. (Queued jobs wait for the dispatcher, not for work.)"""
        sql = """SELECT * FROM jobs WHERE (state IN ('submitting', 'submitted', 'processing', 'succeeded')
                 OR (state IN ('failed', 'expired', 'cancelled') AND notified_at IS NULL))"""
        args: list[Any] = []
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
        db: aiosqlite.Connection | None = None,
    ) -> bool:
        """Add a ledger row; False when this job already has a row of this kind (exactly once)."""
        async with self.atomic(db) as conn:
            cur = await conn.execute(
                """INSERT INTO ledger(kind, user_id, guild_id, job_id, amount, period, reason, at)
                   VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (kind, user_id, guild_id, job_id, amount, period, reason, time.time()),
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
                  COALESCE(SUM(CASE kind WHEN 'reserve' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0),
                  COALESCE(SUM(CASE kind WHEN 'grant' THEN amount ELSE 0 END), 0)
                FROM ledger WHERE {where}""",
            args,
            db,
        )
        assert row is not None
        return Usage(used=int(row[0]), granted=int(row[1]))

    async def ledger_for_job(self, job_id: str, db: aiosqlite.Connection | None = None) -> list[tuple[str, int]]:
        rows = await self._rows("SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY id", (job_id,), db)
        return [(r[0], r[1]) for r in rows]


def _check_columns(fields: dict[str, Any]) -> None:
    bad = set(fields) - JOB_COLUMNS
    if bad:
        raise ValueError(f"unknown job columns: {bad}")
