"""The store on both databases (SQLite, and a real PostgreSQL server from tests/postgres_server.py):
the same queries, migrations and guarantees, whichever DATABASE_URL chooses. Two `Store` objects
on one database stand for two bot processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from bot.models import JobState
from bot.quotas import QuotaPolicy, QuotaRefused
from bot.store import MIGRATIONS, Store, job_lease
from bot.store.dialect import identity_tables, to_postgres_ddl, to_postgres_query

DISCORD_ID = 1_234_567_890_123_456_789  # past 2^53 and 2^31: must come back exactly


@pytest_asyncio.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = Store(database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture
async def other(database_url: str, store: Store) -> AsyncIterator[Store]:
    """A second process's store on the same database."""
    opened = Store(database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def add_job(store: Store, job_id: str, *, user_id: int = DISCORD_ID, guild_id: int | None = DISCORD_ID + 1) -> None:
    await store.insert_job(
        job_id=job_id, kind="motion", origin="discord", user_id=user_id, guild_id=guild_id, channel_id=DISCORD_ID + 2,
        provider="simulator", request={"a": 1}, price=3, upload_limit=10,
    )


async def test_a_job_round_trips_with_discord_ids_history_and_notes(store: Store) -> None:
    await add_job(store, "j1")
    job = await store.get_job("j1")
    assert job is not None and (job.user_id, job.guild_id, job.channel_id) == (DISCORD_ID, DISCORD_ID + 1, DISCORD_ID + 2)
    assert job.state is JobState.QUEUED and job.request == {"a": 1} and isinstance(job.created_at, float)

    moved = await store.transition("j1", JobState.SUBMITTING, allowed_from=[JobState.QUEUED], note="taken")
    assert moved is not None and moved.state is JobState.SUBMITTING
    assert await store.transition("j1", JobState.SUBMITTING, allowed_from=[JobState.QUEUED]) is None  # not twice
    await store.update_job("j1", message_id=DISCORD_ID + 3, poll_attempts=2)
    job = await store.get_job("j1")
    assert job is not None and job.message_id == DISCORD_ID + 3 and job.poll_attempts == 2
    # the history row comes from the trigger (TEMP on SQLite, a trigger function on PostgreSQL)
    assert await store.job_events("j1") == [(None, "queued", ""), ("queued", "submitting", "taken")]
    assert [j.id for j in await store.jobs_in([JobState.SUBMITTING])] == ["j1"]
    assert [j.id for j in await store.unsettled()] == ["j1"]
    assert await store.active_by_provider() == {"simulator": 1}
    assert await store.job_counts() == {("simulator", "submitting"): 1}


async def test_the_ledger_counts_once_and_sums_to_plain_numbers(store: Store) -> None:
    await add_job(store, "j1")
    period = "2026-01-01"
    assert await store.add_ledger(kind="reserve", user_id=DISCORD_ID, guild_id=7, job_id="j1", amount=3, period=period)
    assert not await store.add_ledger(kind="reserve", user_id=DISCORD_ID, guild_id=7, job_id="j1", amount=3, period=period)
    assert await store.add_ledger(kind="grant", user_id=DISCORD_ID, guild_id=7, job_id=None, amount=10, period=period)
    usage = await store.usage(period, user_id=DISCORD_ID)
    assert (usage.used, usage.granted) == (3, 10) and type(usage.used) is int
    row = await store.ledger_row("j1", "reserve")
    assert row is not None and row["user_id"] == DISCORD_ID and row["amount"] == 3 and "period" in row.keys()
    assert await store.ledger_for_job("j1") == [("reserve", 3)]


async def test_inserts_return_rowids_and_rows_read_by_name(store: Store) -> None:
    await add_job(store, "j1")
    async with store.transaction() as conn:
        cur = await conn.execute(
            "INSERT INTO job_events(job_id, from_state, to_state, note, at) VALUES(?, ?, ?, ?, ?)",
            ("j1", "queued", "queued", "it's a '?' inside quotes", time.time()),
        )
        first = cur.lastrowid
        cur = await conn.execute(
            "INSERT INTO job_events(job_id, from_state, to_state, note, at) VALUES(?, NULL, 'x', '', ?) RETURNING id, note",
            ("j1", time.time()),
        )
        rows = await cur.fetchall()
    assert isinstance(first, int) and rows[0]["id"] == first + 1 and rows[0]["note"] == ""
    notes = [note for _, _, note in await store.job_events("j1")]
    assert "it's a '?' inside quotes" in notes


async def test_a_version_1_database_is_migrated_forward(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's version-1 upgrade is tests/test_store.py's")
    raw = await asyncpg.connect(database_url)  # PostgreSQL as the first release would have left it
    try:
        await raw.execute(to_postgres_ddl(MIGRATIONS[0]))
        await raw.execute("CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (1)")
        await raw.execute(
            """INSERT INTO jobs(id, kind, origin, state, user_id, provider, request_json, price, upload_limit,
               created_at, updated_at) VALUES('abc', 'motion', 'discord', 'queued', 1, 'simulator', '{}', 3, 10, 0, 0)"""
        )
        await raw.execute(
            "INSERT INTO ledger(kind, user_id, job_id, amount, period, at) VALUES('reserve', 1, 'abc', 3, 'p', 0)"
        )
    finally:
        await raw.close()
    store = Store(database_url)
    await store.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        job = await store.get_job("abc")
        assert job is not None and job.price == 3
        # the ledger was rebuilt with its rows (migration 4): they are kept and new ids follow them
        assert await store.ledger_for_job("abc") == [("reserve", 3)]
        assert await store.add_ledger(kind="commit", user_id=1, guild_id=None, job_id="abc", amount=3, period="p")
        assert await store.ledger_for_job("abc") == [("reserve", 3), ("commit", 3)]
        await store.set_guild_provider(DISCORD_ID, "kling", by_user=1)  # a table from a later migration
        assert await store.guild_provider(DISCORD_ID) == "kling"
    finally:
        await store.close()


async def test_two_processes_opening_at_once_migrate_once(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert [await s.schema_version() for s in stores] == [len(MIGRATIONS)] * 3
    finally:
        for s in stores:
            await s.close()


async def test_a_lease_has_one_holder_until_it_runs_out(store: Store, other: Store) -> None:
    name = job_lease("j1")
    results = await asyncio.gather(*(s.take_lease(name, 30) for s in (store, other, store, other)))
    assert results.count(True) >= 1
    holder = await store.lease_holder(name)
    assert holder in (store.holder, other.holder)
    first, second = (store, other) if holder == store.holder else (other, store)
    assert results == [s.holder == holder for s in (store, other, store, other)]  # the holder again: yes; the other: no
    assert await first.renew_leases(30) == 1  # its job leases: this one
    assert not await second.take_lease(name, 30)
    await first.release_lease(name)
    assert await second.take_lease(name, 0.2)  # free again
    await asyncio.sleep(0.3)
    assert await store.lease_holder(name) is None  # ran out...
    assert await first.take_lease(name, 30)  # ...so the other takes over
    assert await second.renew_leases(30) == 0
    assert await first.take_lease("leader:sync", 30) and await first.renew_leases(30) == 1  # job leases only


async def test_one_leader_per_name(store: Store, other: Store) -> None:
    if not store.shared:
        assert await store.leader("sync") and await other.leader("sync")  # one process by design: always
        return
    answers = await asyncio.gather(store.leader("sync"), other.leader("sync"))
    assert sorted(answers) == [False, True]
    leader, follower = (store, other) if answers[0] else (other, store)
    assert await leader.leader("sync")  # asking again keeps (and renews) it
    assert await follower.leader("sweeps")  # another name, another leader
    await leader.release_leases()
    assert await follower.leader("sync")


async def test_the_sweep_sees_only_jobs_no_other_process_holds(store: Store, other: Store) -> None:
    for job_id in ("mine", "theirs", "free"):
        await add_job(store, job_id)
        await store.transition(job_id, JobState.SUBMITTED)
    assert await store.take_lease(job_lease("mine"), 30)
    assert await other.take_lease(job_lease("theirs"), 30)
    assert {j.id for j in await store.unsettled(free_or_mine=True)} == {"mine", "free"}
    assert {j.id for j in await other.unsettled(free_or_mine=True)} == {"theirs", "free"}
    assert {j.id for j in await store.unsettled()} == {"mine", "theirs", "free"}


async def test_a_budget_holds_when_two_processes_reserve_at_once(store: Store, other: Store) -> None:
    policy = QuotaPolicy(user_daily=100, guild_daily=10, global_daily=0, max_active_per_user=100)

    async def ask(target: Store, number: int) -> bool:
        job_id = f"job{number}"
        try:
            async with target.transaction() as db:
                await policy.reserve(
                    target, user_id=number, guild_id=DISCORD_ID, job_id=job_id, amount=3, price_text="3", db=db
                )
                await target.insert_job(
                    job_id=job_id, kind="motion", origin="discord", user_id=number, guild_id=DISCORD_ID,
                    channel_id=1, provider="simulator", request={}, price=3, upload_limit=10, db=db,
                )
        except QuotaRefused:
            return False
        return True

    accepted = await asyncio.gather(*(ask(store if n % 2 else other, n) for n in range(24)))
    assert accepted.count(True) == 3  # 3 x 3 credits fit in the guild's 10; a fourth would not
    assert (await store.usage(policy.period(), guild_id=DISCORD_ID)).used == 9


def test_the_dialect_translates_placeholders_types_and_identities() -> None:
    text, returns = to_postgres_query("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)")
    assert text == "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)" and returns
    identity = identity_tables(MIGRATIONS)
    assert {"job_events", "ledger"} <= identity and "jobs" not in identity
    text, returns = to_postgres_query("INSERT INTO ledger(kind) VALUES(?)", identity)
    assert text.endswith("RETURNING id") and returns
    assert to_postgres_query("UPDATE jobs SET state = ? WHERE id = ?", identity) == (
        "UPDATE jobs SET state = $1 WHERE id = $2", False
    )
    ddl = to_postgres_ddl("CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, at REAL, b BLOB);\nPRAGMA x=1;")
    assert "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in ddl
    assert "n BIGINT" in ddl and "at DOUBLE PRECISION" in ddl and "b BYTEA" in ddl and "PRAGMA" not in ddl
