"""The store's connections: SQLite by default, PostgreSQL when DATABASE_URL says so.

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

PostgreSQL (several bot processes on one database): a pool of asyncpg connections behind the
same surface (bot/store/postgres.py, bot/store/dialect.py); each transaction has its own pooled
connection, so writes run side by side and row locks do the ordering. A check-then-write that
must hold across processes (a budget) takes `lock(conn, name)` first: a transaction-scoped
advisory lock there, nothing on SQLite (whose writes are already one at a time).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import asyncpg
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from bot.errors import StoreBusy
from bot.store.dialect import (
    identity_tables,
    is_postgres_url,
    sqlite_path_of,
    to_postgres_ddl,
)
from bot.store.postgres import PgConnection, init_connection
from bot.store.schema import HISTORY_TRIGGER, MIGRATIONS, PG_HISTORY_TRIGGER

log = logging.getLogger(__name__)
T = TypeVar("T")
_MIGRATION_LOCK = 727_001  # the advisory lock key held while one process migrates PostgreSQL



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


class StoreBase:
    """Connections, transactions and migrations; the query mixins (jobs, ledger, ...) build on it."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_retry_seconds: float = 30.0,
        busy_timeout_ms: int = 200,
        pool_size: int = 10,
    ) -> None:
        """`path`: a SQLite file, or a URL (`sqlite:///file`, `postgresql://user:pw@host/db`)."""
        text = str(path)
        self.dsn: str | None = text if isinstance(path, str) and is_postgres_url(text) else None
        if self.dsn is not None:
            self.dsn = self.dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        sqlite_file = sqlite_path_of(text) if isinstance(path, str) else None
        self.path = Path(sqlite_file if sqlite_file is not None else text)
        self.busy_retry_seconds = busy_retry_seconds
        # SQLite's own wait per attempt; kept short so the connection's thread is not held long,
        # the longer wait is the backoff in `_retry_busy` (which lets other work run meanwhile).
        self.busy_timeout_ms = busy_timeout_ms
        self.pool_size = pool_size
        # Who this process is, in leases (jobs it works on, once-per-bot work it leads).
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lookup: sqlite3.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._pg: PgConnection | None = None  # the pool behind the mixins' surface (reads, autocommit)
        self._listener: asyncpg.Connection | None = None
        self._identity = identity_tables(MIGRATIONS)
        self._lock = asyncio.Lock()
        self._waiting: list[_Pending] = []  # grouped writes not yet begun
        self._grouper: asyncio.Task[None] | None = None

    @property
    def postgres(self) -> bool:
        return self.dsn is not None

    @property
    def shared(self) -> bool:
        """Whether other bot processes may use this database too (then jobs are leased)."""
        return self.postgres

    @property
    def for_update(self) -> str:
        """Append to a SELECT whose rows this transaction will change and others should skip."""
        return " FOR UPDATE SKIP LOCKED" if self.postgres else ""

    async def open(self) -> None:
        if self.dsn is not None:
            await self._open_postgres(self.dsn)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await self._connect()
        db = self._db
        await self._busy_safe(lambda: db.execute("PRAGMA journal_mode=WAL"))  # another process may be opening too
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

    async def _open_postgres(self, dsn: str) -> None:
        self._pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=self.pool_size, init=init_connection, statement_cache_size=512
        )
        self._pg = PgConnection(self._pool, self._identity)
        # Several processes may start at once: one migrates, under a lock, the others then see it done.
        async with self._pool.acquire() as raw, raw.transaction():
            await raw.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            version = await raw.fetchval("SELECT version FROM schema_version")
            if version is None:
                await raw.execute("INSERT INTO schema_version(version) VALUES (0)")
                version = 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await raw.execute(to_postgres_ddl(script))
                await raw.execute("UPDATE schema_version SET version = $1", number)
            if version < len(MIGRATIONS):
                # A migration that copies rows with their ids (a table rebuilt) leaves the identity's
                # counter behind them: move every counter past its table's largest id.
                for table in sorted(self._identity):
                    if await raw.fetchval("SELECT to_regclass($1)", table) is not None:
                        await raw.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        )
            await raw.execute(PG_HISTORY_TRIGGER)

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return db

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        if self._pool is not None:
            await self._pool.close()
        self._pool = self._pg = self._listener = None
        if self._lookup is not None:
            self._lookup.close()
        for conn in (self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = self._lookup = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The writing connection (also fine for ad-hoc reads in tests; on PostgreSQL the pool,
        each statement its own transaction)."""
        if self._pg is not None:
            return self._pg  # type: ignore[return-value]  # the same surface (bot/store/postgres.py)
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._pg is not None:
            return self._pg  # type: ignore[return-value]
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits on its own; wrap so a half-applied migration rolls back
            script = f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            try:
                await self._busy_safe(lambda script=script: self.db.executescript(script))
            except sqlite3.OperationalError:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                if await self.schema_version() < number:
                    raise
                # another process opening at the same moment applied it first

    async def schema_version(self) -> int:
        if self._pg is not None:
            rows = await self._pg.execute_fetchall("SELECT version FROM schema_version")
            return int(rows[0][0]) if rows else 0
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
        if self._pool is not None:
            async with self._pool.acquire() as raw, raw.transaction():
                yield PgConnection(raw, self._identity)  # type: ignore[misc]  # the same surface
            return
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
        if self._pool is not None:  # a transaction each: PostgreSQL runs them side by side
            async with self.transaction() as conn:
                return await work(conn)
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

    # --- across processes ----------------------------------------------------------------
    async def lock(self, conn: aiosqlite.Connection, *names: str) -> None:
        """Hold `names` until `conn`'s transaction ends, against every process: for a check and
        the write that depends on it (a budget). SQLite: nothing to do, its writes are serial."""
        if self._pool is None:
            return
        for name in sorted(set(names)):  # one order everywhere: no deadlock between two lockers
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    async def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(payload)` for every NOTIFY on `channel` from any process (PostgreSQL);
        returns how to stop. SQLite has one process: nothing to hear, a no-op."""
        if self.dsn is None:
            return lambda: None
        if self._listener is None:
            self._listener = await asyncpg.connect(self.dsn)

        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            callback(payload)

        listener = self._listener
        await listener.add_listener(channel, heard)

        def stop() -> None:
            if not listener.is_closed():
                asyncio.ensure_future(listener.remove_listener(channel, heard))

        return stop

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

