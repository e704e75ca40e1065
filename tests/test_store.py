"""The store: migrations move an old database forward once; every method works alone or inside a
caller's transaction; another process's lock is waited out, within bounds."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.errors import StoreBusy
from bot.store import MIGRATIONS, Store


async def test_a_version_1_database_is_migrated_forward_keeping_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    old = sqlite3.connect(path)  # a database as the first release left it
    old.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    old.execute(
        """INSERT INTO jobs(id, kind, origin, state, user_id, provider, request_json, price, upload_limit,
                            created_at, updated_at) VALUES('abc', 'motion', 'discord', 'queued', 1, 'simulator', '{}', 3,
                            10, 0, 0)"""
    )
    old.commit()
    old.close()

    store = Store(path)
    await store.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS) >= 2
        job = await store.get_job("abc")
        assert job is not None and job.price == 3
        await store.set_guild_provider(7, "kling", by_user=1)  # a table only migration 2 creates
        assert await store.guild_provider(7) == "kling"
    finally:
        await store.close()

    again = Store(path)  # opening an up-to-date database changes nothing
    await again.open()
    try:
        assert await again.schema_version() == len(MIGRATIONS)
        assert await again.guild_provider(7) == "kling"
    finally:
        await again.close()


async def test_wal_mode_is_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.sqlite3")
    await store.open()
    try:
        async with store.db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    finally:
        await store.close()


async def test_methods_work_alone_or_inside_a_callers_transaction(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    try:
        await store.set_meta("alone", "1")  # its own short transaction
        assert await store.get_meta("alone") == "1"

        class Undo(Exception):
            pass

        with pytest.raises(Undo):
            async with store.transaction() as db:
                await store.set_meta("inside", "1", db=db)
                assert await store.get_meta("inside", db=db) == "1"  # seen inside...
                assert await store.get_meta("inside") is None  # ...and not outside before the commit
                raise Undo
        assert await store.get_meta("inside") is None  # rolled back with the caller's transaction
    finally:
        await store.close()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's connection in the middle of a write (as a backup or a second bot would be)."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta(key, value) VALUES('other', 'x')")
    return other


async def test_a_write_waits_for_a_lock_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.sqlite3", busy_retry_seconds=20, busy_timeout_ms=50)
    await store.open()
    other = hold_write_lock(store.path)
    try:
        write = asyncio.create_task(store.set_meta("mine", "1"))
        await asyncio.sleep(0.5)  # ten busy timeouts
        assert not write.done()  # still retrying, not failed
        assert await store.get_meta("mine") is None
        assert await store.get_meta("other") is None  # reads go on meanwhile (WAL)
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        assert (await store.get_meta("mine"), await store.get_meta("other")) == ("1", "x")
    finally:
        other.close()
        await store.close()


async def test_a_lock_held_past_the_retry_time_says_the_database_is_busy(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.sqlite3", busy_retry_seconds=0.3, busy_timeout_ms=50)
    await store.open()
    other = hold_write_lock(store.path)
    try:
        with pytest.raises(StoreBusy, match="^the database is busy$"):
            await store.set_meta("mine", "1")
        other.execute("COMMIT")
        await store.set_meta("mine", "1")  # nothing is stuck afterwards
        assert await store.get_meta("mine") == "1"
    finally:
        other.close()
        await store.close()


async def test_grouped_writes_all_land_and_one_failure_spares_the_others(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    try:
        class Refused(Exception):
            pass

        async def write(key: str) -> str:
            async def work(db: object) -> str:
                if key == "bad":
                    await store.set_meta("bad-was-here", "1", db=db)  # type: ignore[arg-type]
                    raise Refused(key)
                await store.set_meta(key, "1", db=db)  # type: ignore[arg-type]
                return key

            return await store.grouped(work)

        results = await asyncio.gather(*(write(k) for k in ("a", "b", "bad", "c")), return_exceptions=True)
        assert results[:2] == ["a", "b"] and isinstance(results[2], Refused) and results[3] == "c"
        # every good write is there, the bad one's partial write is not
        assert [await store.get_meta(k) for k in ("a", "b", "c", "bad-was-here")] == ["1", "1", "1", None]
    finally:
        await store.close()
