"""End to end through the Discord stand-in: a member's own jobs and the line.

- /jobs: newest first, five to a page, Older/Newer buttons that work after a restart and only
  for the member whose list it is;
- /cancel: autocomplete offers only my own waiting jobs; someone else's job is refused and stays;
- fairness: two members queue five videos each while the provider is held; the dispatcher then
  starts them alternately, and the statuses show places in line with an estimate.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from bot.store import Store
from tests.discord_standin import InteractionHandle, StandIn, User
from tests.e2e_helpers import (
    Media,
    bot_settings,
    jobs,
    running_bot,
    status_edits,
)

RESULT_TIMEOUT = 60.0


def job_id(n: int) -> str:
    return f"{0xABC000 + n:012x}"


async def seed_jobs(data_dir: Path, alice: User, bob: User, guild_id: int, channel_id: int) -> None:
    """A history as a running bot would have left it: alice has seven jobs, bob one waiting."""
    store = Store(data_dir / "bot.sqlite3")
    await store.open()
    try:
        now = time.time()
        rows = [(n, alice.id, "delivered") for n in range(5)] + [(5, alice.id, "failed"), (6, alice.id, "queued")]
        rows.append((7, bob.id, "queued"))
        for n, user_id, state in rows:
            await store.insert_job(
                job_id=job_id(n), kind="motion", origin="discord", user_id=user_id, guild_id=guild_id, channel_id=channel_id,
                provider="simulator", request={}, price=3 + n, upload_limit=10 * 1024 * 1024,
            )
            await store.db.execute(
                """UPDATE jobs SET state = ?, created_at = ?, message_id = ?, error_message = ?, notified_at = ?,
                   not_before = ? WHERE id = ?""",
                (
                    state, now - 3600 + n * 60, 900 + n if state == "delivered" else None,
                    "The video service refused this input under its content policy." if state == "failed" else None,
                    now if state == "failed" else None,
                    now + 3600 if state == "queued" else None,  # held back: they stay waiting during the test
                    job_id(n),
                ),
            )
    finally:
        await store.close()


def ids_shown(text: str) -> list[str]:
    return re.findall(r"`([0-9a-f]{12})`", text)


async def test_jobs_pages_and_cancel_only_my_own(standin: StandIn, tmp_path: Path) -> None:
    alice, bob = standin.create_user("alice"), standin.create_user("bob")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice, bob])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    await seed_jobs(data_dir, alice, bob, guild.id, general.id)
    settings = bot_settings(standin, data_dir)

    async with running_bot(standin, settings):
        listing = await standin.invoke("jobs", user=alice, channel=general)
        await listing.first_answer()
        page = listing.original
        assert page is not None and page.ephemeral
        assert "page 1 of 2, 7 in all" in page.content
        assert ids_shown(page.content) == [job_id(n) for n in (6, 5, 4, 3, 2)]  # newest first
        lines = page.content.splitlines()
        assert "waiting in line" in lines[1]
        assert "failed" in lines[2] and "8 credits, refunded" in lines[2] and "content policy" in lines[2]
        assert f"https://discord.com/channels/{guild.id}/{general.id}/904" in lines[3]
        buttons = {c["custom_id"]: c for c in page.components[0]["components"]}
        assert buttons[f"jobs:page:{alice.id}:-1"].get("disabled") and not buttons[f"jobs:page:{alice.id}:1"].get("disabled")

        stranger = await standin.click(page, f"jobs:page:{alice.id}:1", user=bob)
        await stranger.first_answer()
        assert stranger.original is not None and "not your videos" in stranger.original.content
        assert ids_shown(page.content)[0] == job_id(6)  # alice's list did not move

        older = await standin.click(page, f"jobs:page:{alice.id}:1", user=alice)
        assert (await older.first_answer()).callback_type == 7  # the same private message, edited
        assert "page 2 of 2" in page.content and ids_shown(page.content) == [job_id(1), job_id(0)]

        # /quota lists alice's waiting video with its place in line (hers was queued before bob's).
        quota = await standin.invoke("quota", user=alice, channel=general)
        await quota.first_answer()
        assert quota.original is not None
        assert f"`{job_id(6)}` motion: #1 in line: should start in" in quota.original.content

        # /cancel: bob sees only his own waiting job, and cannot cancel alice's.
        offered = await standin.autocomplete("cancel", user=bob, channel=general, options={"job": ""}, focused="job")
        await offered.first_answer()
        assert [c["value"] for c in offered.choices or []] == [job_id(7)]
        refused = await standin.invoke("cancel", user=bob, channel=general, options={"job": job_id(6)})
        await refused.first_answer()
        assert refused.original is not None and refused.original.content.startswith("❌")
        assert "only cancel your own" in refused.original.content

    async with running_bot(standin, settings):  # after a restart the page buttons still work
        newer = await standin.click(page, f"jobs:page:{alice.id}:0", user=alice)
        await newer.first_answer()
        assert "page 1 of 2" in page.content and ids_shown(page.content)[0] == job_id(6)

        mine = await standin.autocomplete("cancel", user=alice, channel=general, options={"job": ""}, focused="job")
        await mine.first_answer()
        assert [c["value"] for c in mine.choices or []] == [job_id(6)]
        cancelled = await standin.invoke("cancel", user=alice, channel=general, options={"job": job_id(6)})
        await cancelled.first_answer()
        assert cancelled.original is not None and "Cancelled" in cancelled.original.content

    states = {row["id"]: row["state"] for row in jobs(data_dir)}
    assert states[job_id(6)] == "cancelled" and states[job_id(7)] == "queued"


def is_queued(handle: InteractionHandle) -> bool:
    return any(text.startswith("Queued") for text in status_edits(handle))


async def test_two_members_bursts_start_round_robin(standin: StandIn, media: Media, tmp_path: Path) -> None:
    alice, bob = standin.create_user("alice"), standin.create_user("bob")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice, bob])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    settings = bot_settings(
        standin, data_dir, max_active_jobs_per_user=5, provider_max_concurrency=1, simulator_delay_seconds=0.2
    )
    async with running_bot(standin, settings) as bot:
        engine = bot.core.engine
        working = engine.config
        # The operator holds the provider (no free slot) while both bursts queue up.
        engine.config = dataclasses.replace(working, provider_max_concurrency=0, sweep_interval=0.2)
        engine.line.min_interval = 0  # show every change of place (the default spaces them out)
        handles: dict[int, list[InteractionHandle]] = {alice.id: [], bob.id: []}
        for member in [alice] * 5 + [bob] * 5:
            handle = await standin.invoke("motion", user=member, channel=general, options=media.options())
            await standin.wait_until(lambda handle=handle: is_queued(handle), RESULT_TIMEOUT, "a queued status")
            handles[member.id].append(handle)
        # Bob's first video is second in line although alice queued five before it.
        bob_first = status_edits(handles[bob.id][0])[0]
        assert bob_first.startswith("Queued (#2 in line)"), bob_first
        assert "should start in" in bob_first and "(rough estimate)" in bob_first
        assert status_edits(handles[bob.id][4])[0].startswith("Queued (#10 in line)")

        engine.config = dataclasses.replace(working, sweep_interval=0.2)  # released: one slot
        await standin.wait_until(
            lambda: len(rows := jobs(data_dir)) == 10 and all(row["state"] == "delivered" for row in rows),
            RESULT_TIMEOUT * 2, "ten videos delivered",
        )
        # As the line moved, bob's last video was told its new place.
        moved = [text for text in status_edits(handles[bob.id][4]) if re.match(r"#\d+ in line", text)]
        assert moved and any(not text.startswith("#10 ") for text in moved), status_edits(handles[bob.id][4])

    started = sorted(jobs(data_dir), key=lambda row: row["submitted_at"])
    assert [row["user_id"] for row in started] == [alice.id, bob.id] * 5
