"""End to end: OUR bot (MotionBot, the cogs, the core on the simulator provider) through
the real discord.py client against the Discord stand-in (tests/discord_standin).

Each scenario starts the bot the way `python -m bot` does (tests/e2e_helpers.py):
in this process through `running_bot`, or as a real OS process through `BotProcess`
where a crash has to be real. What Discord would show (messages, mentions,
attachments, rejected calls) is read from the stand-in; what the bot charged and
kept is read from its SQLite database in DATA_DIR.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import av
import pytest

from tests.discord_standin import (
    MIB,
    Channel,
    InteractionHandle,
    Message,
    StandIn,
    User,
)
from tests.discord_standin import state as standin_state
from tests.e2e_helpers import (
    BotProcess,
    Media,
    bot_env,
    bot_processes,
    bot_settings,
    jobs,
    ledger,
    results_for,
    running_bot,
    status_edits,
    wait_for_new_session,
)
from tests.media_factory import make_image, make_video, truncate

CHANNEL_MESSAGE, DEFERRED = 4, 5  # interaction callback types
EPHEMERAL = 1 << 6
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"
# Far above what any scenario needs on a slow machine; a wait that hits it means the bot lost the job.
RESULT_TIMEOUT = 60.0


class Lab(NamedTuple):
    alice: User
    guild: Any
    general: Channel
    data_dir: Path


@pytest.fixture
async def lab(standin: StandIn, tmp_path: Path) -> Lab:
    """The usual world: member alice in server "Lab" with a #general channel, and the bot's data folder."""
    alice = standin.create_user("alice")
    guild = await standin.create_guild("Lab", channels=["general"], members=[alice])
    return Lab(alice, guild, guild.channel_named("general"), tmp_path / "data")


def is_done(sent_body: dict[str, Any] | None) -> bool:
    return str((sent_body or {}).get("content", "")).startswith("Done! http")


def is_queued(sent_body: dict[str, Any] | None) -> bool:
    return str((sent_body or {}).get("content", "")).startswith("Queued")


async def wait_done(handle: InteractionHandle, timeout: float = RESULT_TIMEOUT) -> None:
    """Until the bot edited the private status to "Done! <link to the result>"."""
    await handle.wait_for("edit_original", lambda s: s.accepted and is_done(s.body), timeout=timeout)


async def wait_delivered(standin: StandIn, data_dir: Path, count: int = 1) -> None:
    """Until `count` jobs are marked delivered in the database (written just after the post)."""

    def delivered() -> bool:
        rows = jobs(data_dir)
        return len(rows) >= count and all(row["state"] == "delivered" for row in rows)

    await standin.wait_until(delivered, RESULT_TIMEOUT, f"{count} job(s) delivered")


def job_ledger(data_dir: Path, job_id: str) -> list[tuple[str, int]]:
    return [(row["kind"], row["amount"]) for row in ledger(data_dir) if row["job_id"] == job_id]


def assert_video(data: bytes) -> None:
    """The bytes are a real, playable MP4 (not an empty or truncated upload)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.frames > 0 or (container.duration or 0) > 0


def assert_refused_privately(handle: InteractionHandle, word: str) -> str:
    """The bot's only answer is private (ephemeral), starts with ❌ and names the problem."""
    answer = handle.answer
    assert answer is not None and answer.accepted, handle
    original = handle.original
    assert original is not None and original.ephemeral
    assert original.content.startswith("❌") and word in original.content, original.content
    return original.content


# --- 1. the happy path -------------------------------------------------------------------


async def test_motion_happy_path_defers_edits_status_and_posts_the_video(
    standin: StandIn, media: Media, lab: Lab
) -> None:
    alice, guild, general, data_dir = lab
    # A simulated job of 1 s leaves the 0.1 s polls plenty of room to see (and show) "processing".
    async with running_bot(standin, bot_settings(standin, data_dir, simulator_delay_seconds=1.0)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=media.options(prompt="a dance"))
        first = await handle.first_answer()
        # The stand-in enforces the 3 s first-answer rule: accepted means in time.
        assert first.accepted and first.callback_type == DEFERRED, first
        assert (first.body or {}).get("data", {}).get("flags", 0) & EPHEMERAL  # the status is private
        await wait_done(handle)
        await wait_delivered(standin, data_dir)
        results = results_for(standin, general, alice)

    assert len(results) == 1, [m.content for m in results]
    result = results[0]
    [job] = jobs(data_dir)
    assert job["state"] == "delivered" and job["message_id"] == result.id
    # Public, pings exactly the requester, carries the prompt, the nonce and the video.
    assert not result.ephemeral
    assert [u.id for u in result.mentions] == [alice.id]
    assert "> a dance" in result.content
    assert result.nonce == f"job-{job['id']}"
    [attachment] = result.attachments
    assert attachment.filename == f"motion-{job['id']}.mp4" and attachment.size > 0
    assert_video(attachment.data)

    edits = status_edits(handle)
    assert any(e.startswith("Queued") for e in edits), edits
    assert any(e.startswith("Making your video") for e in edits), edits
    assert edits[-1] == f"Done! https://discord.com/channels/{guild.id}/{general.id}/{result.id}"
    assert handle.original is not None and handle.original.ephemeral
    assert job_ledger(data_dir, job["id"]) == [("reserve", 3), ("commit", 3)]
    assert standin.unhandled == []


async def test_failed_job_is_reported_privately_and_refunded(standin: StandIn, media: Media, lab: Lab) -> None:
    alice, guild, general, data_dir = lab
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke(
            "motion", user=alice, channel=general, options=media.options(prompt="[simulate:outage]")
        )
        await handle.wait_for(
            "edit_original", lambda s: str((s.body or {}).get("content", "")).startswith("❌"), timeout=RESULT_TIMEOUT
        )
        # The notice is recorded just after it was sent; stopping earlier would only mean a second notice later.
        await standin.wait_until(lambda: jobs(data_dir)[0]["notified_at"], 10, "the notice recorded")
    [job] = jobs(data_dir)
    assert job["state"] == "failed" and job["notified_at"] is not None
    assert "credits were returned" in status_edits(handle)[-1]
    assert results_for(standin, general, alice) == []  # a failure is the user's business
    assert job_ledger(data_dir, job["id"]) == [("reserve", 3), ("refund", 3)]


async def test_a_zh_cn_member_reads_the_failure_in_chinese(standin: StandIn, media: Media, lab: Lab) -> None:
    """The provider's failure, its detail and the refund line all come from the catalogue."""
    alice, guild, general, data_dir = lab
    alice.locale = "zh-CN"
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke(
            "motion", user=alice, channel=general, options=media.options(prompt="[simulate:outage]")
        )
        await handle.wait_for(
            "edit_original", lambda s: str((s.body or {}).get("content", "")).startswith("❌"), timeout=RESULT_TIMEOUT
        )
        await standin.wait_until(lambda: jobs(data_dir)[0]["notified_at"], 10, "the notice recorded")
    notice = status_edits(handle)[-1]
    assert notice.startswith("❌ 视频服务出现故障。请稍后再试。"), notice
    assert "你的积分已退还。" in notice and "credits" not in notice, notice


# --- 2. too large to attach --------------------------------------------------------------


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.read()


def link_in(message: Message) -> str:
    return next(word for word in message.content.split() if word.startswith("http"))


async def test_result_above_the_guilds_upload_limit_is_posted_as_a_link(
    standin: StandIn, media: Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator's videos are far below 10 MiB, so give unboosted guilds a tiny limit
    # instead: the stand-in reports it in the interaction (attachment_size_limit) and
    # enforces it on uploads (413 / 40005), as Discord does with its real limits.
    limit = 4096
    monkeypatch.setitem(standin_state.UPLOAD_LIMIT_BY_TIER, 0, limit)
    alice = standin.create_user("alice")
    guild = await standin.create_guild("Small", premium_tier=0, channels=["general"], members=[alice])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        assert (await handle.first_answer()).accepted
        await wait_done(handle)
        await wait_delivered(standin, data_dir)
        [result] = results_for(standin, general, alice)
        video = await fetch(link_in(result))  # the link works while the bot runs

    [job] = jobs(data_dir)
    assert job["upload_limit"] == limit  # taken from the interaction, not assumed
    assert result.attachments == [] and "too large to attach" in result.content
    assert len(video) > limit
    assert_video(video)
    # The bot knew the limit, so it never tried an upload Discord would refuse.
    assert all(not r.files for r in standin.requests_to(MESSAGES_ROUTE))
    assert job["state"] == "delivered" and job["message_id"] == result.id


async def test_upload_refused_as_too_large_falls_back_to_a_link(
    standin: StandIn, media: Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guild loses its boost while the job runs: the interaction promised 50 MiB,
    # Discord now refuses the upload with 413 / 40005 and the bot must post a link instead.
    monkeypatch.setitem(standin_state.UPLOAD_LIMIT_BY_TIER, 0, 4096)
    alice = standin.create_user("alice")
    guild = await standin.create_guild("Boosted", premium_tier=2, channels=["general"], members=[alice])
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await standin.set_premium_tier(guild, 0)
        assert (await handle.first_answer()).accepted
        await wait_done(handle)
        await wait_delivered(standin, data_dir)
        results = results_for(standin, general, alice)

    [job] = jobs(data_dir)
    assert job["upload_limit"] == 50 * MIB
    posts = standin.requests_to(MESSAGES_ROUTE)
    assert [p.status for p in posts] == [413, 200]
    assert posts[0].files and not posts[1].files
    assert len(results) == 1 and results[0].attachments == [] and "http" in results[0].content
    assert job["state"] == "delivered" and job["message_id"] == results[0].id


# --- 3. refused inputs: private answer, no job, no charge ----------------------------------


def bad_image(root: Path) -> dict[str, object]:
    # Cut short: the header (and so Discord's metadata) looks fine, the pixels are not there.
    return {"image": truncate(make_image(root / "cut.png", 512, 768), 0.3)}


def small_image(root: Path) -> dict[str, object]:
    return {"image": make_image(root / "tiny.png", 200, 200)}


def short_video(root: Path) -> dict[str, object]:
    return {"video": make_video(root / "short.mp4", 360, 640, seconds=1.0, fps=10)}


def long_prompt(root: Path) -> dict[str, object]:
    return {"prompt": "x" * 2501}


@pytest.mark.parametrize(
    ("make_bad", "says", "first_callback"),
    [
        # Found by reading the bytes: the refusal edits the private "thinking" answer.
        pytest.param(bad_image, "image is damaged", DEFERRED, id="corrupt-image"),
        pytest.param(short_video, "the minimum is 3 s", DEFERRED, id="video-too-short"),
        # Found from Discord's metadata alone, before any download; still after the deferral,
        # which never waits for anything (the first answer under a crowd).
        pytest.param(small_image, "at least 300 px", DEFERRED, id="image-too-small"),
        pytest.param(long_prompt, "the limit is 2,500", DEFERRED, id="prompt-too-long"),
    ],
)
async def test_bad_input_is_refused_privately_without_job_or_charge(
    standin: StandIn,
    media: Media,
    tmp_path: Path,
    make_bad: Callable[[Path], dict[str, object]],
    says: str,
    first_callback: int,
    lab: Lab,
) -> None:
    alice, guild, general, data_dir = lab
    options = media.options(**make_bad(tmp_path / "bad"))
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=options)
        first = await handle.first_answer()
        assert first.accepted and first.callback_type == first_callback
        await standin.wait_until(lambda: handle.original and handle.original.content.startswith("❌"), 10, "refusal")
    assert_refused_privately(handle, says)  # names the rule that was broken and the value found
    assert standin.channel_messages(general) == []
    assert jobs(data_dir) == [] and ledger(data_dir) == []
    leftovers = list((data_dir / "jobs").glob("*")) if (data_dir / "jobs").exists() else []
    assert leftovers == []  # downloaded inputs are not kept either


# --- 4. quota ---------------------------------------------------------------------------


async def test_quota_exhausted_is_refused_without_a_job(standin: StandIn, media: Media, lab: Lab) -> None:
    alice, guild, general, data_dir = lab
    # Exactly one 3 s standard video (3 credits) per day.
    async with running_bot(standin, bot_settings(standin, data_dir, user_daily_credits=3)):
        first = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await wait_done(first)
        second = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await standin.wait_until(lambda: second.original and second.original.content.startswith("❌"), 10, "refusal")
        await wait_delivered(standin, data_dir)
    text = assert_refused_privately(second, "credits")
    assert "0 of 3 left" in text
    [job] = jobs(data_dir)
    assert [(row["job_id"], row["kind"]) for row in ledger(data_dir)] == [(job["id"], "reserve"), (job["id"], "commit")]
    assert len(results_for(standin, general, alice)) == 1


# --- 5. longer than the interaction token -------------------------------------------------


async def test_job_outliving_the_interaction_token_is_still_delivered(
    standin: StandIn, media: Media, lab: Lab
) -> None:
    alice, guild, general, data_dir = lab
    async with running_bot(standin, bot_settings(standin, data_dir, simulator_delay_seconds=1.5)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await handle.wait_for("edit_original", lambda s: s.accepted and is_queued(s.body))
        assert results_for(standin, general, alice) == []  # still being made...
        standin.advance_clock(standin.token_lifetime + 60)  # ...when the 15-minute token dies
        result = await standin.wait_for_message(general, lambda m: m.mentions_user(alice.id), timeout=RESULT_TIMEOUT)
        [job] = jobs(data_dir)
        await wait_delivered(standin, data_dir)

    # The bot did try its webhook edits after the token died; Discord refused them.
    expired = [s for s in handle.sent if s.error_code == 50027]
    assert expired and all(s.status == 401 for s in expired)
    assert len(results_for(standin, general, alice)) == 1
    assert len(result.attachments) == 1 and result.nonce == f"job-{job['id']}"
    assert jobs(data_dir)[0]["message_id"] == result.id


# --- 7. rate limited result post -----------------------------------------------------------


@pytest.mark.parametrize(
    "times",
    [
        pytest.param(1, id="discord.py-waits"),  # discord.py sleeps Retry-After and sends again
        pytest.param(5, id="bot-retries"),  # discord.py gives up after 5 tries; the job engine tries later
    ],
)
async def test_rate_limited_result_post_waits_and_posts_once(
    standin: StandIn, media: Media, times: int, lab: Lab
) -> None:
    alice, guild, general, data_dir = lab
    retry_after = 0.2
    # The result post is the bot's only channel-message create: its first tries get 429s.
    standin.rate_limit(MESSAGES_ROUTE, times=times, retry_after=retry_after)
    async with running_bot(standin, bot_settings(standin, data_dir)):
        handle = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await wait_done(handle)
        await wait_delivered(standin, data_dir)
    posts = standin.requests_to(MESSAGES_ROUTE)
    assert [p.status for p in posts] == [429] * times + [200]
    # Discord's rule, not a speed check: no retry before Retry-After has passed.
    assert all(later.at - earlier.at >= retry_after - 0.01 for earlier, later in itertools.pairwise(posts))
    [result] = results_for(standin, general, alice)
    [attachment] = result.attachments
    assert attachment.size == posts[-1].files[0].size and attachment.size > 0
    assert jobs(data_dir)[0]["message_id"] == result.id


# --- 8. a crowd ----------------------------------------------------------------------------


async def test_fifty_users_at_once_are_all_deferred_in_time_and_served(
    standin: StandIn, media: Media, tmp_path: Path
) -> None:
    users = [standin.create_user(f"user{i}") for i in range(50)]
    guild = await standin.create_guild("Crowd", channels=["general"], members=users)
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    # 50 provider slots: the wait is for the simulator's renders, not for a provider's line.
    settings = bot_settings(standin, data_dir, simulator_delay_seconds=0.2, provider_max_concurrency=50)
    async with running_bot(standin, settings):
        handles = await asyncio.gather(
            *(standin.invoke("motion", user=u, channel=general, options=media.options()) for u in users)
        )
        firsts = await asyncio.gather(*(h.first_answer(timeout=10) for h in handles))
        late = [(h.user.username, s.status, s.error_code) for h, s in zip(handles, firsts, strict=True) if not s.accepted]
        assert late == []  # the stand-in's 3 s rule accepted every deferral
        assert all(s.callback_type == DEFERRED for s in firsts)
        await standin.wait_until(
            lambda: len(standin.channel_messages(general)) >= len(users), RESULT_TIMEOUT, "50 results"
        )
        await asyncio.gather(*(wait_done(h) for h in handles))
        await wait_delivered(standin, data_dir, len(users))

    per_user = Counter(u.id for m in standin.channel_messages(general) for u in m.mentions)
    assert per_user == {u.id: 1 for u in users}
    rows = jobs(data_dir)
    assert len(rows) == 50 and {r["state"] for r in rows} == {"delivered"}


# --- 6. a real crash, and command sync across real starts (last: the slowest) --------------


class HeldPosts:
    """Discord stores the bot's channel posts but holds back its answers until `release`:
    a bot killed in that window posted a result without learning so, the hazard that
    the job-<id> nonce (Discord's enforce_nonce) must turn into exactly one message."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.inner = standin.create_message
        self.released = asyncio.Event()
        self.held: list[Message] = []

    async def __call__(
        self, channel: Channel, author: User, body: dict[str, Any], uploads: list[Any], **kw: Any
    ) -> Message:
        message = await self.inner(channel, author, body, uploads, **kw)
        if kw.get("interaction") is None and author.id == self.standin.bot_user.id:
            self.held.append(message)
            self.standin.notify()
            await self.released.wait()
        return message


async def test_bot_process_killed_mid_jobs_delivers_each_exactly_once_and_syncs_only_when_needed(
    standin: StandIn, media: Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [standin.create_user(f"user{i}") for i in range(3)]
    guild = await standin.create_guild("Lab", channels=["general"], members=users)
    general = guild.channel_named("general")
    data_dir = tmp_path / "data"
    env = bot_env(
        standin, data_dir, simulator_delay_seconds=3, poll_interval_seconds=0.2, poll_max_interval_seconds=0.5
    )
    runs = [BotProcess(env, tmp_path / "run", name=name) for name in ("first", "second", "third")]
    forced = BotProcess(env, tmp_path / "run", args=("sync",), name="forced-sync")
    hold = HeldPosts(standin)
    monkeypatch.setattr(standin, "create_message", hold)

    async def start(process: BotProcess) -> None:
        known = {s.id for s in standin.gateway.sessions.values()}
        await process.start()
        await wait_for_new_session(standin, known)

    async with bot_processes(*runs, forced):
        try:
            await start(runs[0])
            assert len(standin.command_writes) == 1  # the first start pushes the commands

            # Two jobs each for three members: with 4 provider slots, 4 run and 2 wait in line.
            handles = [
                await standin.invoke("motion", user=u, channel=general, options=media.options(prompt=f"take {n}"))
                for n in range(2)
                for u in users
            ]
            for handle in handles:  # "Queued": the job row and its reservation are written
                await handle.wait_for("edit_original", lambda s: s.accepted and is_queued(s.body), timeout=15)

            # Crash 1, mid-flight: all 4 provider slots busy (a simulated job takes 3 s), 2 in line.
            in_flight = ("submitted", "processing")
            await standin.wait_until(
                lambda: sum(row["state"] in in_flight for row in jobs(data_dir)) == 4, 15, "4 jobs at the provider"
            )
            assert await runs[0].kill() == -9
            states = Counter(row["state"] for row in jobs(data_dir))
            assert states["queued"] == 2 and states["submitted"] + states["processing"] == 4, states
            assert standin.channel_messages(general) == []

            # Crash 2, mid-delivery: a result reached Discord, the answer never reached the bot.
            await start(runs[1])
            assert len(standin.command_writes) == 1  # same definitions: a restart does not write
            await standin.wait_until(lambda: hold.held, RESULT_TIMEOUT, "a result post")
            assert await runs[1].kill() == -9
            held = list(hold.held)
            hold.released.set()
            # Made and posted, but not recorded as delivered: the next start must post these again.
            succeeded = {f"job-{row['id']}" for row in jobs(data_dir) if row["state"] == "succeeded"}
            assert held and {m.nonce for m in held} <= succeeded

            await start(runs[2])
            await standin.wait_until(
                lambda: all(row["state"] == "delivered" for row in jobs(data_dir)), RESULT_TIMEOUT, "every job delivered"
            )
            assert len(standin.command_writes) == 1
            await runs[2].stop()

            rows = jobs(data_dir)
            assert len(rows) == 6
            results = [m for m in standin.channel_messages(general) if m.author.id == standin.bot_user.id]
            assert sorted(m.nonce or "" for m in results) == sorted(f"job-{row['id']}" for row in rows)
            for row in rows:
                [mine] = [m for m in results if m.nonce == f"job-{row['id']}"]
                assert mine.id == row["message_id"] and len(mine.attachments) == 1
                assert [kind for kind, _ in job_ledger(data_dir, row["id"])] == ["reserve", "commit"]
            assert Counter(u.id for m in results for u in m.mentions) == {u.id: 2 for u in users}
            # The held posts were found in the channel's history after the restart (the job marker),
            # not posted again: one post per job (the nonce stays the guard within its few minutes).
            assert len(standin.requests_to(MESSAGES_ROUTE)) == len(rows)
            assert standin.requests_to("GET /channels/{channel_id}/messages")

            # `python -m bot sync` writes the commands even though nothing changed.
            await start(forced)
            assert len(standin.command_writes) == 2
        finally:
            hold.released.set()


async def test_sigterm_stops_the_bot_cleanly(standin: StandIn, tmp_path: Path) -> None:
    """`docker stop` and systemd send SIGTERM: the bot closes its session and database and exits 0."""
    process = BotProcess(bot_env(standin, tmp_path / "data"), tmp_path / "run")
    known = {s.id for s in standin.gateway.sessions.values()}
    await process.start()
    try:
        await wait_for_new_session(standin, known)
    except BaseException:
        await process.kill()
        raise
    code = await process.stop(timeout=15)
    assert code == 0, process.log()
    assert "Traceback" not in process.log()


async def test_cancel_button_on_the_status_cancels_a_waiting_job_and_refunds_it(
    standin: StandIn, media: Media, lab: Lab
) -> None:
    alice, guild, general, data_dir = lab
    # One provider slot and a 3 s job: alice's second video waits in line, cancellable.
    settings = bot_settings(standin, data_dir, simulator_delay_seconds=3.0, provider_max_concurrency=1)
    async with running_bot(standin, settings):
        first = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await first.wait_for("edit_original", lambda s: s.accepted, timeout=15)
        second = await standin.invoke("motion", user=alice, channel=general, options=media.options())
        await second.wait_for("edit_original", lambda s: s.accepted and is_queued(s.body), timeout=15)
        assert second.original is not None
        [waiting] = [row for row in jobs(data_dir) if row["state"] == "queued"]
        click = await standin.click(second.original, f"job:cancel:{waiting['id']}", user=alice)
        answer = await click.first_answer()
        assert answer.accepted and "Cancelled" in (answer.body or {}).get("data", {}).get("content", ""), answer
        await second.wait_for("edit_original", lambda s: s.accepted and "❌ Cancelled" in str(s.body), timeout=15)
        await wait_done(first)

    by_id = {row["id"]: row for row in jobs(data_dir)}
    assert by_id[waiting["id"]]["state"] == "cancelled"
    assert job_ledger(data_dir, waiting["id"]) == [("reserve", 3), ("refund", 3)]
    assert len(results_for(standin, general, alice)) == 1  # only the first video was posted
