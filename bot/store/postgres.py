"""PostgreSQL through asyncpg, behind the same small surface the mixins use on aiosqlite.

A mixin writes `await conn.execute(sql, args)` (then `.rowcount`, `.lastrowid`, `await
cur.fetchall()`), `await conn.execute_fetchall(sql, args)`, and reads rows by position or by
name. `PgConnection` gives exactly that over one asyncpg connection (inside a transaction), and
`PgPool` the same for reads outside one. asyncpg's Record already reads like sqlite3.Row
(`row[0]`, `row["x"]`, `row.keys()`, `list(row)`); NUMERIC results (SUM of BIGINT) come back
as int when whole, as SQLite's do.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any

import asyncpg

from bot.store.dialect import to_postgres_query

_COUNT = re.compile(r"(\d+)\s*$")


class PgCursor:
    """What `execute` hands back: rows (when the statement returns them), rowcount, lastrowid."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid: int | None = rows[0]["id"] if rows and "id" in rows[0].keys() else None

    async def fetchall(self) -> list[asyncpg.Record]:
        return self._rows

    async def fetchone(self) -> asyncpg.Record | None:
        return self._rows[0] if self._rows else None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> PgCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Pending:
    """`conn.execute(...)` is awaited, or used as `async with conn.execute(...) as cur` (aiosqlite allows both)."""

    def __init__(self, run: Callable[[], Awaitable[PgCursor]]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._run().__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """One asyncpg connection (or the pool, for reads outside a transaction) that takes `?` SQL."""

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool, identity: frozenset[str]) -> None:
        self.raw = conn
        self._identity = identity

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Pending:
        return _Pending(lambda: self._execute(sql, args))

    async def _execute(self, sql: str, args: Sequence[Any]) -> PgCursor:
        text, returns_rows = to_postgres_query(sql, self._identity)
        if returns_rows:
            rows = await self.raw.fetch(text, *args)
            return PgCursor(rows, len(rows))
        status = await self.raw.execute(text, *args)
        found = _COUNT.search(status or "")
        return PgCursor([], int(found.group(1)) if found else -1)

    async def execute_fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[asyncpg.Record]:
        text, _ = to_postgres_query(sql, self._identity)
        return list(await self.raw.fetch(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        text, _ = to_postgres_query(sql, self._identity)
        await self.raw.executemany(text, [tuple(row) for row in rows])
        return PgCursor([], -1)  # as sqlite3 for a batch: the count is not told

    async def execute_insert(self, sql: str, args: Sequence[Any] = ()) -> tuple[int | None]:
        """aiosqlite's INSERT returning (last row id,)."""
        cursor = await self._execute(sql, args)
        return (cursor.lastrowid,)

    async def executescript(self, script: str) -> None:
        await self.raw.execute(script)  # no arguments: the simple protocol runs several statements


def _numeric(text: str) -> int | float | decimal.Decimal:
    value = decimal.Decimal(text)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Every pooled connection: NUMERIC (SUM over BIGINT) as a Python number, as SQLite gives it."""
    await conn.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text")
