"""Schema migrations: an existing database moves forward with its data, and only once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
