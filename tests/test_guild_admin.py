"""The admin core without Discord: the per-server slot limit in the dispatcher, audit rows in the
change's own transaction, refusals counted by reason, and migration 4 keeping the ledger."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bot.gate import Asker
from bot.guild_rules import GateRefused
from bot.metrics import REFUSALS
from bot.store import MIGRATIONS, Store
from tests.core_harness import (
    FakeChannel,
    Inputs,
    core_settings,
    open_core,
    submit,
    wait_state,
)

GUILD = 7  # the harness's requester()


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path / "media")


async def test_the_servers_slot_limit_holds_its_second_video_until_the_first_is_done(tmp_path: Path, inputs: Inputs) -> None:
    settings = core_settings(tmp_path / "data", provider_max_concurrency=4, simulator_delay_seconds=1.0)
    async with open_core(settings, FakeChannel()) as app:
        await app.admin.set_budget(GUILD, 1, "jobs", 1)
        first = await submit(app, inputs, user_id=42)
        await wait_state(app, first.id, "submitted", "processing")
        second = await submit(app, inputs, user_id=43)
        await app.engine.wait_for_end(first.id, timeout=30)
        await app.engine.wait_for_end(second.id, timeout=30)
        async with app.store.db.execute("SELECT job_id, to_state FROM job_events ORDER BY id") as cur:
            order = [(row[0], row[1]) for row in await cur.fetchall()]
    # The provider had room for four; the server's limit of one made the second wait for the first.
    started_second = order.index((second.id, "submitting"))
    first_done = next(i for i, (job, to) in enumerate(order) if job == first.id and to in ("succeeded", "failed"))
    assert first_done < started_second, order


async def test_a_change_and_its_audit_row_land_together_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as app:
        await app.admin.set_default(GUILD, 1, 20)

        async def broken(**_: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(app.store, "add_audit", broken)
        with pytest.raises(sqlite3.OperationalError):
            await app.admin.set_default(GUILD, 1, 50)
        assert (await app.store.guild_settings(GUILD)).daily_default == 20  # rolled back with its audit row
        monkeypatch.undo()
        [row] = await app.store.audit(GUILD)
        assert (row.action, row.old, row.new, row.actor_id) == ("credits.default", "—", "20", 1)


async def test_gate_refusals_are_counted_by_reason_and_a_ban_is_told_once(tmp_path: Path) -> None:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as app:
        await app.admin.ban(GUILD, 1, 42, "spam", None)
        await app.admin.add_word(GUILD, 1, "forbidden")
        before = {reason: REFUSALS.labels(reason)._value.get() for reason in ("banned", "word")}
        asker = Asker(user_id=42, guild_id=GUILD, channel_id=99)
        texts = []
        for _ in range(2):
            with pytest.raises(GateRefused) as refused:
                await app.gate.check(asker)
            texts.append(str(refused.value))
        assert "spam" in texts[0] and "spam" not in texts[1]
        with pytest.raises(GateRefused, match="forbidden"):
            await app.gate.check(Asker(user_id=43, guild_id=GUILD, channel_id=99, texts=("a FORBIDDEN thing",)))
        await app.gate.check(Asker(user_id=43, guild_id=GUILD, channel_id=99, texts=("a fine thing",)))
        assert REFUSALS.labels("banned")._value.get() == before["banned"] + 2
        assert REFUSALS.labels("word")._value.get() == before["word"] + 1


async def test_migration_4_keeps_the_ledger_and_its_once_per_job_rule(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as db:  # a database as the bot left it before the admin issue
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(f"{script}\nPRAGMA user_version = {number};")
        db.execute(
            "INSERT INTO ledger(kind, user_id, guild_id, job_id, amount, period, reason, at) "
            "VALUES('reserve', 42, 7, 'job1', 3, '2026-01-01', '', 1.0)"
        )
    store = Store(path)
    await store.open()
    try:
        assert await store.ledger_for_job("job1") == [("reserve", 3)]
        assert not await store.add_ledger(kind="reserve", user_id=42, guild_id=7, job_id="job1", amount=3, period="2026-01-01")
        assert await store.add_ledger(kind="admin_refund", user_id=42, guild_id=7, job_id="job1", amount=3, period="2026-01-01")
        assert not await store.add_ledger(kind="admin_refund", user_id=42, guild_id=7, job_id="job1", amount=3, period="2026-01-01")
        assert (await store.usage("2026-01-01", guild_id=7)).used == 0
    finally:
        await store.close()


async def test_choosing_the_servers_provider_is_audited(tmp_path: Path) -> None:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as app:
        await app.set_guild_provider(GUILD, "simulator", 5)
        [row] = await app.store.audit(GUILD)
    assert (row.action, row.old, row.new, row.actor_id) == ("provider", "—", "simulator", 5)


async def test_a_ban_with_a_length_ends_by_itself(tmp_path: Path) -> None:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as app:
        asker = Asker(user_id=42, guild_id=GUILD, channel_id=99)
        await app.store.set_ban(GUILD, 42, "spam", time.time() + 3600, 1)
        with pytest.raises(GateRefused):
            await app.gate.check(asker)
        await app.store.set_ban(GUILD, 42, "spam", time.time() - 1, 1)  # its days are over
        await app.gate.check(asker)
