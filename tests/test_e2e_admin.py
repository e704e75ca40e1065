"""End to end: a server's admins manage the bot with /admin through the Discord stand-in and the
real discord.py client; members meet the rules on /motion (the generation gate) and /quota.

The server's owner (the stand-in's application owner, also in OWNER_IDS) is a bot owner; "mod"
holds Manage Server only (a server admin who is not a bot owner); alice and bob are members.
What was stored is read from the bot's SQLite database.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from PIL import Image

from cogs import i18n_translator
from tests.discord_standin import (
    MANAGE_GUILD,
    Channel,
    CommandNotPermitted,
    InteractionHandle,
    StandIn,
    User,
)
from tests.e2e_helpers import (
    Media,
    bot_settings,
    jobs,
    ledger,
    query,
    running_bot,
)

TIMEOUT = 60.0


class Server(NamedTuple):
    owner: User
    mod: User
    alice: User
    bob: User
    guild: Any
    general: Channel
    data_dir: Path


@pytest.fixture
async def server(standin: StandIn, tmp_path: Path) -> Server:
    alice, bob, mod = standin.create_user("alice"), standin.create_user("bob"), standin.create_user("mod")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice, bob])
    managers = await standin.create_role(guild, "managers", MANAGE_GUILD)
    await standin.add_member(guild, mod, roles=[managers])
    return Server(standin.owner, mod, alice, bob, guild, guild.channel_named("general"), tmp_path / "data")


def settings(standin: StandIn, server: Server, **extra: object) -> Any:
    return bot_settings(standin, server.data_dir, owner_ids=str(server.owner.id), **extra)


async def answer(standin: StandIn, handle: InteractionHandle) -> str:
    """The text of the bot's (private) answer, once it is there (deferred answers: once edited)."""
    await handle.first_answer()

    def text() -> str | None:
        original = handle.original
        return original.content if original is not None and original.content else None

    content = await standin.wait_until(text, TIMEOUT, "an answer")
    assert handle.original is not None and handle.original.ephemeral, content
    return str(content)


async def admin(standin: StandIn, user: User, where: Channel, command: str, **options: Any) -> str:
    return await answer(standin, await standin.invoke(f"admin {command}", user=user, channel=where, options=options))


async def quota(standin: StandIn, user: User, channel: Channel) -> str:
    return await answer(standin, await standin.invoke("quota", user=user, channel=channel))


async def motion_refused(standin: StandIn, user: User, channel: Channel, media: Media, prompt: str = "") -> str:
    """/motion refused by the gate: deferred privately at once, then ❌ (nothing fetched)."""
    handle = await standin.invoke("motion", user=user, channel=channel, options=media.options(prompt=prompt))
    first = await handle.first_answer()
    assert first.callback_type == 5, first  # "thinking…" first: the gate's rules read the database
    text = await answer(standin, handle)
    assert text.startswith("❌"), text
    return text


async def motion_done(standin: StandIn, user: User, channel: Channel, media: Media, prompt: str = "") -> InteractionHandle:
    handle = await standin.invoke("motion", user=user, channel=channel, options=media.options(prompt=prompt))
    first = await handle.first_answer()
    assert first.callback_type == 5, first  # deferred: it passed the gate
    await handle.wait_for("edit_original", lambda s: s.accepted and str((s.body or {}).get("content", "")).startswith("Done!"), timeout=TIMEOUT)
    return handle


def audit_rows(data_dir: Path) -> list[tuple[str, str, str, str]]:
    return [(r["action"], r["target"], r["old"], r["new"]) for r in query(data_dir / "bot.sqlite3", "SELECT * FROM audit_log ORDER BY id")]


# --- allowances, grants, /quota, the audit log ----------------------------------------------


async def test_role_tiers_grants_and_the_audit_log(standin: StandIn, server: Server, media: Media) -> None:
    owner, mod, alice, bob, guild, general, data_dir = server
    fans = await standin.create_role(guild, "fans")
    patrons = await standin.create_role(guild, "patrons")
    muted = await standin.create_role(guild, "muted")
    await standin.add_member(guild, alice, roles=[fans, patrons])
    await standin.add_member(guild, bob, roles=[fans, muted])
    async with running_bot(standin, settings(standin, server)):
        assert "**5**" in await admin(standin, mod, general, "credits default", credits=5)
        await admin(standin, mod, general, "credits role", role=fans, credits=10)
        await admin(standin, mod, general, "credits role", role=patrons, credits=30)
        assert "may not make videos" in await admin(standin, mod, general, "credits role", role=muted, credits=0)
        table = await admin(standin, mod, general, "credits show")
        assert f"<@&{patrons.id}>: **30**" in table and f"<@&{muted.id}>: may not make videos" in table

        # Two roles: the higher allowance. A 0 role blocks, whatever the other roles give.
        assert "30 of 30 daily credits" in await quota(standin, alice, general)
        assert "may not make videos" in await quota(standin, bob, general)
        refused = await motion_refused(standin, bob, general, media)
        assert f"<@&{muted.id}>" in refused and "may not make videos" in refused
        assert jobs(data_dir) == [] and standin.cdn.downloads == []

        # A grant shows in /quota, and it says granted credits do not expire.
        granted = await admin(standin, mod, general, "credits grant", member=alice, amount=7, reason="contest")
        assert "7 granted credits" in granted and "do not expire" in granted
        shown = await quota(standin, alice, general)
        assert "**37** credits left today" in shown and "7 granted credits" in shown and "do not expire" in shown
        assert "+7 (contest)" in shown
        assert "only 7" in await admin(standin, mod, general, "credits take", member=alice, amount=8)
        await admin(standin, mod, general, "credits take", member=alice, amount=2, reason="typo")
        assert "**35** credits left today" in await quota(standin, alice, general)

        log = await admin(standin, owner, general, "audit", count=25)
        for what in ("daily credits (server default)", "daily credits of a role", "credits granted", "credits taken"):
            assert what in log, log
        assert f"<@&{muted.id}>: — → 0" in log and f"<@{alice.id}>: 7 → 5 (reason: typo)" in log
        only_alice = await admin(standin, owner, general, "audit", member=alice)
        assert "credits granted" in only_alice and "daily credits of a role" not in only_alice
    assert [row[0] for row in audit_rows(data_dir)] == [
        "credits.default", "credits.role", "credits.role", "credits.role", "credits.grant", "credits.take",
    ]  # the refused take changed nothing and wrote nothing
    kinds = [(r["kind"], r["amount"], r["by_user"]) for r in ledger(data_dir)]
    assert kinds == [("grant", 7, mod.id), ("take", 2, mod.id)]


async def test_a_refund_is_given_once(standin: StandIn, server: Server, media: Media) -> None:
    owner, mod, alice, _, _, general, data_dir = server
    async with running_bot(standin, settings(standin, server, user_daily_credits=10)):
        await motion_done(standin, alice, general, media)
        [job] = jobs(data_dir)
        assert "7 of 10 daily credits" in await quota(standin, alice, general)
        first = await admin(standin, mod, general, "refund", job=job["id"], reason="glitchy")
        assert f"Refunded 3 credits of job {job['id']}" in first
        assert "10 of 10 daily credits" in await quota(standin, alice, general)
        second = await admin(standin, mod, general, "refund", job=job["id"])
        assert second.startswith("❌") and "already refunded" in second
        assert "job refunded" in await admin(standin, mod, general, "audit")
    assert [(r["kind"], r["amount"]) for r in ledger(data_dir)] == [("reserve", 3), ("commit", 3), ("admin_refund", 3)]
    assert [row[0] for row in audit_rows(data_dir)] == ["refund"]


# --- the gate: bans, channels, age-restricted only, the word list --------------------------------


async def test_a_banned_member_is_told_once_before_anything_is_fetched(standin: StandIn, server: Server, media: Media) -> None:
    _, mod, alice, _, _, general, data_dir = server
    async with running_bot(standin, settings(standin, server)):
        await admin(standin, mod, general, "ban", member=alice, reason="spamming", days=3)
        told = await motion_refused(standin, alice, general, media)
        assert "until <t:" in told and "spamming" in told
        again = await motion_refused(standin, alice, general, media)
        assert "spamming" not in again and "may not make videos" in again  # told in full once
        assert standin.cdn.downloads == [] and jobs(data_dir) == [] and ledger(data_dir) == []
        await admin(standin, mod, general, "unban", member=alice)
        await motion_done(standin, alice, general, media)
        assert standin.cdn.downloads  # the counter does count: this time the files were fetched
    assert [(a, o, n) for a, _, o, n in audit_rows(data_dir)] == [("ban", "—", "3 d"), ("unban", "banned", "—")]


async def test_channel_rules_and_age_restricted_only(standin: StandIn, server: Server, media: Media) -> None:
    _, mod, alice, _, guild, general, data_dir = server
    videos = await standin.create_channel(guild, "videos")
    adults = await standin.create_channel(guild, "adults", nsfw=True)
    async with running_bot(standin, settings(standin, server)):
        listed = await admin(standin, mod, general, "channels allow", channel=videos)
        assert f"only in: <#{videos.id}>" in listed
        assert "cannot be made in this channel" in await motion_refused(standin, alice, general, media)
        await motion_done(standin, alice, videos, media)

        await admin(standin, mod, general, "channels allow", channel=adults)
        assert "Only in age-restricted" in await admin(standin, mod, general, "channels nsfw-only", state="on")
        assert "age-restricted" in await motion_refused(standin, alice, videos, media)
        await motion_done(standin, alice, adults, media)

        await admin(standin, mod, general, "channels deny", channel=adults)
        assert "cannot be made in this channel" in await motion_refused(standin, alice, adults, media)
    assert len(jobs(data_dir)) == 2
    assert [row[0] for row in audit_rows(data_dir)] == ["channels", "channels", "channels.nsfw_only", "channels"]


async def test_a_listed_word_is_refused_by_name_look_alikes_included(standin: StandIn, server: Server, media: Media) -> None:
    _, mod, alice, _, _, general, data_dir = server
    async with running_bot(standin, settings(standin, server)):
        assert "refused now" in await admin(standin, mod, general, "words add", word="Nude")
        assert "already on the list" in await admin(standin, mod, general, "words add", word="ｎｕｄｅ")
        assert "“Nude”" in await motion_refused(standin, alice, general, media, prompt="a nude dance")
        # Cyrillic "е" looks like the Latin letter: caught all the same.
        assert "“Nude”" in await motion_refused(standin, alice, general, media, prompt="a nud\u0435 dance")
        assert "||Nude||" in await admin(standin, mod, general, "words list")
        await motion_done(standin, alice, general, media, prompt="a nudibranch dance")  # whole words only
        await admin(standin, mod, general, "words remove", word="NUDE")
        assert "No words" in await admin(standin, mod, general, "words list")
    assert [(a, o, n) for a, _, o, n in audit_rows(data_dir)] == [("words.add", "—", "Nude"), ("words.remove", "Nude", "—")]


# --- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize("owner_ids", ["listed", "empty: the application's owner"])
async def test_members_cannot_run_admin_and_server_admins_cannot_change_prices(
    standin: StandIn, server: Server, media: Media, owner_ids: str
) -> None:
    owner, mod, alice, _, _, general, data_dir = server
    chosen = settings(standin, server) if owner_ids == "listed" else bot_settings(standin, data_dir)
    async with running_bot(standin, chosen):
        with pytest.raises(CommandNotPermitted):
            await standin.invoke("admin credits show", user=alice, channel=general)

        assert "simulator motion std`: 1 credits per second" in await admin(standin, mod, general, "prices show")
        refused = await admin(standin, mod, general, "prices set", provider="simulator", kind="motion", mode="std", credits=5)
        assert refused.startswith("❌") and "bot's owners" in refused
        assert (await admin(standin, mod, general, "usage", scope="all")).startswith("❌")

        await motion_done(standin, alice, general, media)  # queued at 1 credit per second
        changed = await admin(standin, owner, general, "prices set", provider="simulator", kind="motion", mode="std", credits=2)
        assert "1 → **2**" in changed and "keep their price" in changed
        assert "simulator motion std`: 2 ✎ credits per second" in await admin(standin, mod, general, "prices show")
        await motion_done(standin, alice, general, media)
        assert "price changed (whole bot) simulator/motion/std: 1 → 2" in await admin(standin, mod, general, "audit")
    assert [job["price"] for job in jobs(data_dir)] == [3, 6]
    assert audit_rows(data_dir) == [("prices.set", "simulator/motion/std", "1", "2")]


# --- usage -------------------------------------------------------------------------------------


async def test_the_usage_chart_and_csv_match_the_ledger(standin: StandIn, server: Server, media: Media) -> None:
    owner, mod, alice, bob, _, general, data_dir = server
    async with running_bot(standin, settings(standin, server)):
        await motion_done(standin, alice, general, media)
        await motion_done(standin, bob, general, media)
        await motion_done(standin, alice, general, media)
        [first, *_] = jobs(data_dir)
        await admin(standin, mod, general, "refund", job=first["id"])
        handle = await standin.invoke("admin usage", user=mod, channel=general, options={"days": 7, "by": "member"})
        text = await answer(standin, handle)
        by_kind = await standin.invoke("admin usage", user=owner, channel=general, options={"by": "kind", "scope": "all"})
        await answer(standin, by_kind)
    assert "6 credits spent in the last 7 days" in text
    assert handle.original is not None
    files = {f.filename: f.data for f in handle.original.attachments}
    image = Image.open(io.BytesIO(files["usage.png"]))
    image.load()  # decodes the whole picture
    assert image.format == "PNG" and image.size == (1200, 600)

    spent: dict[tuple[str, str], int] = defaultdict(int)
    for row in ledger(data_dir):
        sign = {"reserve": 1, "refund": -1, "admin_refund": -1}.get(row["kind"], 0)
        spent[(row["period"], str(row["user_id"]))] += sign * row["amount"]
    in_csv = {(day, key): int(credits) for day, key, credits in list(csv.reader(io.StringIO(files["usage.csv"].decode("utf-8-sig"))))[1:]}
    names = {str(alice.id): {str(alice.id), "Alice", "alice"}, str(bob.id): {str(bob.id), "Bob", "bob"}}
    assert sum(in_csv.values()) == sum(spent.values()) == 6
    for (day, user_id), credits in spent.items():
        [match] = [value for (d, key), value in in_csv.items() if d == day and key in names[user_id]]
        assert match == credits
    assert by_kind.original is not None
    kinds = {f.filename: f.data for f in by_kind.original.attachments}["usage.csv"].decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(kinds)))[1:] == [[ledger(data_dir)[0]["period"], "motion", "6"]]


# --- languages ---------------------------------------------------------------------------------


async def test_a_chinese_member_gets_chinese_commands_and_messages(standin: StandIn, server: Server, media: Media) -> None:
    owner, mod, alice, _, guild, general, _ = server
    mod.locale = alice.locale = "zh-CN"
    async with running_bot(standin, settings(standin, server)):
        [synced] = [c for c in standin.synced_commands() + standin.synced_commands(guild) if c["name"] == "admin"]
        assert synced["name_localizations"] == {"zh-CN": "管理"}
        words = next(o for o in synced["options"] if o["name"] == "words")
        assert words["name_localizations"] == {"zh-CN": "屏蔽词"}
        assert "每位成员" in await admin(standin, mod, general, "credits show")
        assert "包含“nude”的提示词现在会被拒绝" in await admin(standin, mod, general, "words add", word="nude")
        refused = await motion_refused(standin, alice, general, media, prompt="nude")
        assert "你的提示词包含“nude”" in refused, refused
        assert "赠送的积分不会在每日重置时清零" in await quota(standin, alice, general)


async def test_a_changed_translation_changes_the_fingerprint_and_re_syncs(
    standin: StandIn, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(standin, settings(standin, server)) as bot:
        writes = len(standin.command_writes)
        assert not await bot.sync_commands()  # nothing changed since start-up: no write
        before = await bot.commands_fingerprint(None)
        original = i18n_translator.lookup

        def reworded(msgid: str, language: str, *, msgctxt: str | None = None) -> str | None:
            return "管理员" if (msgctxt, msgid) == ("command name", "admin") else original(msgid, language, msgctxt=msgctxt)

        monkeypatch.setattr(i18n_translator, "lookup", reworded)
        assert await bot.commands_fingerprint(None) != before
        assert await bot.sync_commands()
        assert len(standin.command_writes) == writes + 1
        [synced] = [c for c in standin.synced_commands() if c["name"] == "admin"]
        assert synced["name_localizations"] == {"zh-CN": "管理员"}


async def test_where_the_bot_cannot_attach_videos_the_member_is_told_before_anything_is_fetched(
    standin: StandIn, server: Server, media: Media
) -> None:
    _, _, alice, _, guild, general, data_dir = server
    for role in guild.roles.values():  # neither @everyone nor the bot's own role may attach files
        role.permissions &= ~(1 << 15)  # ATTACH_FILES
    async with running_bot(standin, settings(standin, server)):
        told = await motion_refused(standin, alice, general, media)
        assert "Attach Files" in told
        assert standin.cdn.downloads == [] and jobs(data_dir) == [] and ledger(data_dir) == []
