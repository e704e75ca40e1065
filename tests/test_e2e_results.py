"""End to end: the buttons on a posted result (Use this motion, Details, Delete) and Try again,
through the real discord.py client against the Discord stand-in, on the simulator provider.

What members see is read from the stand-in; who was charged, from the bot's SQLite ledger.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bot.retention import sweep_files
from tests.discord_standin import (
    Channel,
    InteractionHandle,
    Message,
    StandIn,
    Upload,
    User,
)
from tests.e2e_helpers import Media, bot_settings, jobs, ledger, running_bot
from tests.media_factory import make_image, make_video

RESULT_TIMEOUT = 60.0
MANAGE_MESSAGES = 1 << 13


class World(NamedTuple):
    alice: User
    bob: User
    mod: User
    guild: Any
    general: Channel
    data_dir: Path


@pytest.fixture
async def world(standin: StandIn, tmp_path: Path) -> World:
    alice, bob, mod = standin.create_user("alice"), standin.create_user("bob"), standin.create_user("mod")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice, bob])
    moderators = await standin.create_role(guild, "moderators", MANAGE_MESSAGES)
    await standin.add_member(guild, mod, roles=[moderators])
    return World(alice, bob, mod, guild, guild.channel_named("general"), tmp_path / "data")


def photo_upload(tmp_path: Path, name: str) -> Upload:
    path = make_image(tmp_path / name, 600, 800)
    return Upload(path.read_bytes(), name, "image/png", 600, 800)


def bot_posts(standin: StandIn, channel: Channel) -> list[Message]:
    return [m for m in standin.channel_messages(channel) if m.author.id == standin.bot_user.id and not m.deleted]


async def make_result(standin: StandIn, world: World, media: Media) -> tuple[Message, str]:
    """Alice's /motion, delivered: the result post and its job id."""
    await standin.invoke("motion", user=world.alice, channel=world.general, options=media.options(prompt="a dance"))
    await standin.wait_until(
        lambda: any(row["state"] == "delivered" for row in jobs(world.data_dir)), RESULT_TIMEOUT, "the first result"
    )
    [row] = jobs(world.data_dir)
    return standin.message(row["message_id"]), row["id"]


async def private_answer(handle: InteractionHandle) -> str:
    """The text of the bot's private answer to a click (a message, or a deferral then its edit)."""

    def text() -> str | None:
        original = handle.original
        if original is None or original.loading:
            return None
        assert original.ephemeral, original.content
        return original.content

    return await handle.standin.wait_until(text, 15, "a private answer")


def ledger_by_user(data_dir: Path) -> dict[int, list[tuple[str, int]]]:
    found: dict[int, list[tuple[str, int]]] = {}
    for row in ledger(data_dir):
        found.setdefault(row["user_id"], []).append((row["kind"], row["amount"]))
    return found


async def test_use_this_motion_by_another_member_replies_with_their_video_charged_to_them(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        original, job_id = await make_result(standin, world, media)
        ids = [c["custom_id"] for row in original.components for c in row["components"]]
        assert ids == [f"result:use:{job_id}", f"result:another:{job_id}", f"result:details:{job_id}", f"result:delete:{job_id}"]

        click = await standin.click(original, f"result:use:{job_id}", user=world.bob)
        await click.first_answer()
        assert click.modal is not None, click.sent
        submitted = await standin.submit_modal(click, {"file": photo_upload(tmp_path, "bob.png")}, user=world.bob)
        status = await private_answer(submitted)
        assert status.startswith("Queued") and "charged to you" in status, status

        def second() -> Any:
            rows = [r for r in jobs(world.data_dir) if r["id"] != job_id]
            return rows[0] if rows and rows[0]["state"] == "delivered" else None

        row = await standin.wait_until(second, RESULT_TIMEOUT, "the remix delivered")
        reply = standin.message(row["message_id"])

    assert row["user_id"] == world.bob.id
    assert reply.message_reference is not None and int(reply.message_reference["message_id"]) == original.id
    assert reply.type == 19 and reply.attachments and reply.mentions_user(world.bob.id)
    # Each member pays for their own video, once.
    charged = ledger_by_user(world.data_dir)
    assert charged[world.alice.id] == [("reserve", 3), ("commit", 3)]
    assert charged[world.bob.id] == [("reserve", 3), ("commit", 3)]
    links = [r for r in jobs(world.data_dir) if r["id"] == row["id"]]
    assert links and links[0]["channel_id"] == world.general.id


async def test_buttons_work_after_a_restart_and_say_the_files_are_gone_after_the_sweep(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    settings = bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)
    async with running_bot(standin, settings):
        original, job_id = await make_result(standin, world, media)
        opened = await standin.click(original, f"result:use:{job_id}", user=world.bob)
        await opened.first_answer()
        assert opened.modal is not None  # bob has the form open while the bot restarts

    async with running_bot(standin, settings) as bot:  # a new process: nothing in memory
        details = await standin.click(original, f"result:details:{job_id}", user=world.bob)
        text = await private_answer(details)
        assert "Made by simulator" in text and "Credits: 3" in text and job_id in text, text
        use = await standin.click(original, f"result:use:{job_id}", user=world.alice)
        await use.first_answer()
        assert use.modal is not None  # still offered: the files are kept
        # The form opened before the restart still works: its state is in its custom id.
        sent = await standin.submit_modal(opened, {"file": photo_upload(tmp_path, "bob.png")}, user=world.bob)
        assert (await private_answer(sent)).startswith("Queued")
        await standin.wait_until(
            lambda: [r["state"] for r in jobs(world.data_dir)] == ["delivered", "delivered"], RESULT_TIMEOUT, "the remix"
        )
        remix_id = next(r["id"] for r in jobs(world.data_dir) if r["id"] != job_id)

        swept = await sweep_files(bot.core.store, world.data_dir, settings.result_retention_days, now=time.time() + 31 * 86400)
        assert sorted(swept) == sorted([job_id, remix_id])
        assert not (world.data_dir / "jobs" / job_id).exists()
        gone = await standin.click(original, f"result:use:{job_id}", user=world.bob)
        text = await private_answer(gone)
        assert gone.modal is None
        assert text.startswith("❌") and "files of this video are gone" in text, text
        details = await standin.click(original, f"result:details:{job_id}", user=world.alice)
        assert "files are gone" in await private_answer(details)


async def test_delete_is_refused_to_a_stranger_and_done_for_the_author_and_a_moderator(
    standin: StandIn, world: World, media: Media
) -> None:
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        first, first_id = await make_result(standin, world, media)
        await standin.invoke("motion", user=world.alice, channel=world.general, options=media.options())
        await standin.wait_until(
            lambda: sum(r["state"] == "delivered" for r in jobs(world.data_dir)) == 2, RESULT_TIMEOUT, "two results"
        )
        second_row = next(r for r in jobs(world.data_dir) if r["id"] != first_id)
        second = standin.message(second_row["message_id"])

        refused = await standin.click(first, f"result:delete:{first_id}", user=world.bob)
        assert "Only the member who asked" in await private_answer(refused)
        assert not first.deleted

        by_author = await standin.click(first, f"result:delete:{first_id}", user=world.alice)
        assert "Deleted" in await private_answer(by_author)
        assert first.deleted

        by_moderator = await standin.click(second, f"result:delete:{second_row['id']}", user=world.mod)
        assert "Deleted" in await private_answer(by_moderator)
        assert second.deleted

    # The jobs and the ledger stay.
    assert [r["state"] for r in jobs(world.data_dir)] == ["delivered", "delivered"]
    assert ledger_by_user(world.data_dir)[world.alice.id].count(("commit", 3)) == 2


async def test_try_again_on_a_failed_job_makes_it_again_and_charges_again(
    standin: StandIn, world: World, media: Media
) -> None:
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        handle = await standin.invoke(
            "motion", user=world.alice, channel=world.general, options=media.options(prompt="[simulate:outage]")
        )
        await handle.wait_for(
            "edit_original", lambda s: str((s.body or {}).get("content", "")).startswith("❌"), timeout=RESULT_TIMEOUT
        )
        status = handle.original
        assert status is not None and status.ephemeral
        [failed] = jobs(world.data_dir)
        retry_id = f"job:retry:{failed['id']}"
        assert any(c["custom_id"] == retry_id for row in status.components for c in row["components"])

        stranger = await standin.click(status, retry_id, user=world.bob)
        assert "Only the member who asked" in await private_answer(stranger)

        again = await standin.click(status, retry_id, user=world.alice)
        assert (await private_answer(again)).startswith("Queued")
        await standin.wait_until(lambda: len(jobs(world.data_dir)) == 2, 15, "the new job")
        retried = next(r for r in jobs(world.data_dir) if r["id"] != failed["id"])

    # Same inputs and options (the simulated outage again), charged again and refunded again.
    assert retried["user_id"] == world.alice.id
    assert '"[simulate:outage]"' in retried["request_json"]
    kinds = ledger_by_user(world.data_dir)[world.alice.id]
    assert kinds.count(("reserve", 3)) == 2


async def test_a_clip_too_long_gets_a_trim_button_that_goes_on_with_the_trimmed_clip(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    long_clip = make_video(tmp_path / "long.mp4", 360, 640, seconds=12.0, fps=2)
    options = media.options(orientation="image")
    options["video"] = Upload(long_clip.read_bytes(), "long.mp4", "video/mp4", 360, 640)
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        handle = await standin.invoke("motion", user=world.alice, channel=world.general, options=options)
        offer = await private_answer(handle)
        assert offer.startswith("❌ video is 12") and "Trim to the first 10 s: your video (12.0 s)" in offer, offer
        assert jobs(world.data_dir) == []  # nothing reserved yet
        status = handle.original
        assert status is not None
        [button] = [c for row in status.components for c in row["components"]]
        assert button["label"] == "Trim to the first 10 s" and button["custom_id"].startswith("fix:apply:")

        accepted = await standin.click(status, button["custom_id"], user=world.alice)
        assert (await private_answer(accepted)).startswith("Fixed and queued")
        await standin.wait_until(
            lambda: [r["state"] for r in jobs(world.data_dir)] == ["delivered"], RESULT_TIMEOUT, "the fixed job delivered"
        )
        [row] = jobs(world.data_dir)
        result = standin.message(row["message_id"])
        details = await standin.click(result, f"result:details:{row['id']}", user=world.alice)
        assert "motion: long-first-10s.mp4" in await private_answer(details)  # the fixed file is what was used
    # Charged once, what the offer said it would cost at most.
    assert f"cost at most {row['price']} credits" in offer
    assert ledger_by_user(world.data_dir)[world.alice.id] == [("reserve", row["price"]), ("commit", row["price"])]


async def test_two_members_with_the_same_form_open_both_get_their_video(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        original, job_id = await make_result(standin, world, media)
        forms = [await standin.click(original, f"result:use:{job_id}", user=who) for who in (world.bob, world.mod)]
        for form in forms:
            await form.first_answer()
        bob_sent = await standin.submit_modal(forms[0], {"file": photo_upload(tmp_path, "bob.png")}, user=world.bob)
        mod_sent = await standin.submit_modal(forms[1], {"file": photo_upload(tmp_path, "mod.png")}, user=world.mod)
        assert (await private_answer(bob_sent)).startswith("Queued")
        assert (await private_answer(mod_sent)).startswith("Queued")
        await standin.wait_until(
            lambda: [r["state"] for r in jobs(world.data_dir)] == ["delivered"] * 3, RESULT_TIMEOUT, "both remixes"
        )
    owners = sorted(r["user_id"] for r in jobs(world.data_dir) if r["id"] != job_id)
    assert owners == sorted([world.bob.id, world.mod.id])


async def test_a_remix_of_a_deleted_result_is_still_posted(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        original, job_id = await make_result(standin, world, media)
        form = await standin.click(original, f"result:use:{job_id}", user=world.bob)
        await form.first_answer()
        deleted = await standin.click(original, f"result:delete:{job_id}", user=world.alice)
        assert "Deleted" in await private_answer(deleted)
        sent = await standin.submit_modal(form, {"file": photo_upload(tmp_path, "bob.png")}, user=world.bob)
        assert (await private_answer(sent)).startswith("Queued")
        await standin.wait_until(
            lambda: [r["state"] for r in jobs(world.data_dir)] == ["delivered", "delivered"], RESULT_TIMEOUT, "the remix"
        )
        row = next(r for r in jobs(world.data_dir) if r["id"] != job_id)
        posted = standin.message(row["message_id"])
    # Nothing to reply to any more: a plain post (Discord would refuse a reply to a deleted message).
    assert posted.message_reference is None and posted.mentions_user(world.bob.id) and posted.attachments


async def test_another_motion_with_a_clip_too_long_gets_the_same_trim_button(
    standin: StandIn, world: World, media: Media, tmp_path: Path
) -> None:
    # The fix offer reaches the form through the one error handler (report_error), not a cog's own except.
    long_clip = make_video(tmp_path / "long.mp4", 360, 640, seconds=12.0, fps=2)
    async with running_bot(standin, bot_settings(standin, world.data_dir, simulator_delay_seconds=0.2)):
        await standin.invoke("motion", user=world.alice, channel=world.general, options=media.options(orientation="image"))
        await standin.wait_until(lambda: [r["state"] for r in jobs(world.data_dir)] == ["delivered"], RESULT_TIMEOUT, "the result")
        [first] = jobs(world.data_dir)
        click = await standin.click(standin.message(first["message_id"]), f"result:another:{first['id']}", user=world.alice)
        await click.first_answer()
        assert click.modal is not None, click.sent
        clip = Upload(long_clip.read_bytes(), "long.mp4", "video/mp4", 360, 640)
        submitted = await standin.submit_modal(click, {"file": clip}, user=world.alice)
        offer = await private_answer(submitted)
        assert offer.startswith("❌ video is 12") and "Trim to the first 10 s" in offer, offer
        assert submitted.original is not None
        [button] = [c for row in submitted.original.components for c in row["components"]]
        assert button["custom_id"].startswith("fix:apply:")
        accepted = await standin.click(submitted.original, button["custom_id"], user=world.alice)
        assert (await private_answer(accepted)).startswith("Fixed and queued")
    assert len(jobs(world.data_dir)) == 2  # the original and the fixed remix, nothing else
