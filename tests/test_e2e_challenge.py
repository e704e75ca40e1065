"""End to end: a motion challenge through the Discord stand-in with the real discord.py client.

Who may start one (the role the owner chose), the card and its thread, three members joining
through the join form (a modal with a file upload), entries posted in the thread, votes (a
repeated vote and a self-vote refused, a vote taken back), a join form sent after a restart, the
end time passing while the bot is down, the winners' post after the restart (ties go to the earlier entry), late clicks refused.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.discord_standin import InteractionHandle, Message, StandIn, Upload, User
from tests.discord_standin.state import CREATE_PUBLIC_THREADS
from tests.e2e_helpers import (
    Media,
    bot_settings,
    jobs,
    ledger,
    query,
    running_bot,
)

RESULT_TIMEOUT = 60.0


def private_text(handle: InteractionHandle) -> str:
    original = handle.original
    assert original is not None and original.ephemeral, handle
    return original.content


async def answered(standin: StandIn, handle: InteractionHandle, starts: str = "") -> str:
    """The private answer's text once the bot has finished writing it (not "thinking…")."""
    await standin.wait_until(
        lambda: handle.original is not None and not handle.original.loading and handle.original.content.startswith(starts),
        RESULT_TIMEOUT, f"an answer starting {starts!r}",
    )
    return private_text(handle)


def photo(media: Media, name: str) -> Upload:
    return Upload(media.image.read_bytes(), f"{name}.png", "image/png", 512, 768)


def clip(media: Media) -> Upload:
    return Upload(media.video.read_bytes(), "robot.mp4", "video/mp4", 360, 640)


def entry_of(standin: StandIn, thread: Any, user: User) -> Message:
    return next(m for m in standin.channel_messages(thread) if m.mentions_user(user.id) and m.attachments)


async def test_a_challenge_from_start_to_winners_across_a_restart(standin: StandIn, media: Media, tmp_path: Path) -> None:  # noqa: F811
    alice, bob, carol, host = (standin.create_user(name) for name in ("alice", "bob", "carol", "host"))
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice, bob, carol])
    hosts = await standin.create_role(guild, "Event host")
    await standin.add_member(guild, host, roles=[hosts])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    settings = bot_settings(standin, data_dir)

    async with running_bot(standin, settings) as bot:
        bot.challenges.cards.interval = 0.2  # type: ignore[attr-defined]  # quick card edits for the test
        # A plain member may not start one; the owner lets the hosts' role do it.
        refused = await standin.invoke(
            "challenge start", user=alice, channel=general, options={"video": clip(media), "title": "Robot dance"}
        )
        assert "Manage Server" in await answered(standin, refused, "❌")
        chosen = await standin.invoke("challenge role", user=standin.owner, channel=general, options={"role": hosts})
        assert "Event host" in await answered(standin, chosen) or str(hosts.id) in private_text(chosen)

        started = await standin.invoke(
            "challenge start", user=host, channel=general,
            options={"video": clip(media), "title": "Robot dance", "ends_in": 2, "charge": "member"},
        )
        assert "Challenge started" in await answered(standin, started, "Challenge started")
        [card] = [m for m in standin.channel_messages(general) if "Robot dance" in m.content]
        assert not card.ephemeral and "Entries: 0" in card.content and f"<@{host.id}>" in card.content
        assert [a.filename for a in card.attachments] == ["challenge-1.mp4"]  # the clip itself
        thread = standin.thread_of(card)
        assert thread is not None and thread.parent_id == general.id

        # Three members join through the form: their photo + the challenge's clip. Carol opens
        # hers just before a restart and sends it after.
        forms = {}
        for member in (alice, bob, carol):
            click = await standin.click(card, "chl:join:1", user=member)
            await click.first_answer()
            assert click.modal is not None, click
            forms[member.id] = click
        for member in (alice, bob):
            form = await standin.submit_modal(forms[member.id], {"photo": photo(media, member.username)})
            assert "You joined **Robot dance**" in await answered(standin, form, "You joined")

    async with running_bot(standin, settings) as bot:
        bot.challenges.cards.interval = 0.2  # type: ignore[attr-defined]
        form = await standin.submit_modal(forms[carol.id], {"photo": photo(media, "carol")})
        assert "You joined **Robot dance**" in await answered(standin, form, "You joined")
        entries = await standin.wait_until(
            lambda: (found := [m for m in standin.channel_messages(thread) if m.attachments]) and len(found) == 3 and found,
            RESULT_TIMEOUT, "three entries in the thread",
        )
        assert {m.mentions[0].id for m in entries} == {alice.id, bob.id, carol.id}
        assert all(m.attachments[0].filename.startswith("entry-") for m in entries)
        assert not [m for m in standin.channel_messages(general) if m.attachments and m.id != card.id]  # none in the channel
        await standin.wait_until(lambda: "Entries: 3" in card.content, RESULT_TIMEOUT, "the card's entry count")
        assert card.edits <= 3  # coalesced: never more edits than entries

        # Votes: once per member per entry, never your own, changeable.
        a, b, c = (entry_of(standin, thread, member) for member in (alice, bob, carol))
        job_a, job_b, job_c = (m.components[0]["components"][0]["custom_id"].split(":")[2] for m in (a, b, c))

        async def vote(entry: Message, job_id: str, voter: User, starts: str) -> InteractionHandle:
            handle = await standin.click(entry, f"chl:vote:{job_id}", user=voter)
            await answered(standin, handle, starts)
            return handle

        await vote(a, job_a, bob, "⭐")
        again = await vote(a, job_a, bob, "❌")
        assert "already voted" in private_text(again)
        assert "own entry" in private_text(await vote(a, job_a, alice, "❌"))
        taken_back = await standin.click(private_text_message(again), f"chl:unvote:{job_a}", user=bob)
        await standin.wait_until(lambda: "taken back" in private_text(again), 10, "the vote taken back")
        assert (await taken_back.first_answer()).accepted
        await vote(a, job_a, bob, "⭐")  # and given again
        await vote(a, job_a, carol, "⭐")  # alice: 2
        await vote(b, job_b, alice, "⭐")  # bob: 1
        await vote(c, job_c, host, "⭐")  # carol: 1, but bob's entry came first

    # The bot is down while the end time passes.
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        db.execute("UPDATE challenges SET ends_at = ?", (time.time() - 60,))
    async with running_bot(standin, settings):
        results = await standin.wait_for_message(general, lambda m: m.content.startswith("🏆"), timeout=RESULT_TIMEOUT)
        lines = results.content.splitlines()
        assert lines[1].startswith(f"1. <@{alice.id}> · 2 votes")
        assert lines[2].startswith(f"2. <@{bob.id}> · 1 vote")
        assert lines[3].startswith(f"3. <@{carol.id}> · 1 vote")
        assert results.message_reference and int(results.message_reference["message_id"]) == card.id
        await standin.wait_until(lambda: "over" in card.content, RESULT_TIMEOUT, "the card saying it is over")

        # Late clicks: no new entry, no vote.
        late = await standin.click(card, "chl:join:1", user=alice)
        assert "over" in await answered(standin, late, "❌")
        late_vote = await standin.click(b, f"chl:vote:{job_b}", user=carol)
        assert "closed" in await answered(standin, late_vote, "❌")

    [(state, results_id)] = query(data_dir / "bot.sqlite3", "SELECT state, results_message_id FROM challenges")
    assert state == "closed" and results_id == results.id
    assert len([m for m in standin.channel_messages(general) if m.content.startswith("🏆")]) == 1  # posted once
    # Each entry was charged to the member who joined, once.
    by_job = {row["id"]: row for row in jobs(data_dir)}
    assert len(by_job) == 3
    for row in ledger(data_dir):
        assert row["user_id"] == by_job[row["job_id"]]["user_id"]
    assert sorted(row["kind"] for row in ledger(data_dir)) == ["commit"] * 3 + ["reserve"] * 3


def private_text_message(handle: InteractionHandle) -> Message:
    assert handle.original is not None
    return handle.original


async def test_start_is_refused_where_the_bot_cannot_open_a_thread_and_end_ends_it(
    standin: StandIn, media: Media, tmp_path: Path
) -> None:
    alice = standin.create_user("alice")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    owner = standin.owner  # the server's owner: Manage Server
    async with running_bot(standin, bot_settings(standin, data_dir)):
        for role in guild.roles.values():
            role.permissions &= ~CREATE_PUBLIC_THREADS
        refused = await standin.invoke("challenge start", user=owner, channel=general, options={"video": clip(media), "title": "Spin"})
        assert "open a thread" in await answered(standin, refused, "❌")
        assert query(data_dir / "bot.sqlite3", "SELECT * FROM challenges") == []  # nothing kept, nothing posted
        assert standin.channel_messages(general) == []

        for role in guild.roles.values():
            role.permissions |= CREATE_PUBLIC_THREADS
        started = await standin.invoke("challenge start", user=owner, channel=general, options={"video": clip(media), "title": "Spin"})
        await answered(standin, started, "Challenge started")
        listed = await standin.invoke("challenge list", user=alice, channel=general)
        assert "**Spin**: 0 entries" in await answered(standin, listed)

        offered = await standin.autocomplete("challenge end", user=owner, channel=general, options={"challenge": ""}, focused="challenge")
        await offered.first_answer()
        [choice] = offered.choices or []
        not_hers = await standin.invoke("challenge end", user=alice, channel=general, options={"challenge": choice["value"]})
        assert "Only whoever started" in await answered(standin, not_hers, "❌")
        ended = await standin.invoke("challenge end", user=owner, channel=general, options={"challenge": choice["value"]})
        assert "winners are posted" in await answered(standin, ended, "The challenge is over")
        results = await standin.wait_for_message(general, lambda m: m.content.startswith("🏆"), timeout=RESULT_TIMEOUT)
        assert "No entries were posted." in results.content
        none_open = await standin.invoke("challenge list", user=alice, channel=general)
        assert "No challenge is open" in await answered(standin, none_open)
