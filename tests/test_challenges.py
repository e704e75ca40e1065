"""The challenge core (bot/challenges.py) without Discord: the clip is checked and kept, an entry
is an ordinary job (charged to the member or to the server), votes follow their rules, the end
is posted once even when a pass runs again or a restart interrupted it, and the card's edits
are coalesced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.app import CoreApp
from bot.challenges import AlreadyVoted, Challenges, may_start
from bot.errors import Refusal
from bot.gate import Asker
from bot.intake import IncomingFile
from bot.intake_fix import FixOffered
from bot.store import ChallengeRow, EntryRow
from tests.core_harness import FakeChannel, Inputs, core_settings, open_core, requester
from tests.media_factory import make_image


def asker(user_id: int) -> Asker:
    return Asker(user_id=user_id, guild_id=7, channel_id=99, action="challenge")


class FakePoster:
    def __init__(self) -> None:
        self.cards: list[tuple[int, int, str]] = []
        self.results: list[tuple[int, list[tuple[int, int]]]] = []

    async def update_card(self, challenge: ChallengeRow, entries: int) -> None:
        self.cards.append((challenge.id, entries, challenge.state))

    async def post_results(self, challenge: ChallengeRow, winners: list[EntryRow]) -> int | None:
        self.results.append((challenge.id, [(w.user_id, w.votes) for w in winners]))
        return 5000 + challenge.id


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path / "inputs")


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[CoreApp]:
    async with open_core(core_settings(tmp_path / "data", guild_daily_credits=100), FakeChannel()) as app:
        yield app


async def started(challenges: Challenges, inputs: Inputs, *, charge: str = "member", hours: float = 1.0) -> ChallengeRow:
    challenge = await challenges.create(
        guild_id=7, channel_id=99, user_id=1, title="  Robot   dance ", clip=inputs.video(), mode="std",
        orientation="video", charge=charge, hours=hours, locale="en-US",  # type: ignore[arg-type]
    )
    return await challenges.posted(challenge.id, card_message_id=555, thread_id=777)


async def test_an_entry_is_a_job_in_the_thread_charged_to_the_member_or_the_server(core: CoreApp, inputs: Inputs) -> None:
    challenges = Challenges(core, FakePoster())
    mine = await started(challenges, inputs)
    assert mine.title == "Robot dance" and Path(mine.clip_path).is_file() and mine.clip_seconds == pytest.approx(3.0, abs=0.2)

    entry = await challenges.join(mine.id, requester(42), inputs.image(), asker(42))
    assert entry.job.channel_id == 777  # its result goes to the challenge's thread
    assert entry.job.request["video"]["path"] != mine.clip_path  # a copy in the job's folder: the clip stays
    with pytest.raises(Refusal, match="already have an entry"):
        await challenges.join(mine.id, requester(42), inputs.image(), asker(42))

    theirs = await started(challenges, inputs, charge="server")
    paid = await challenges.join(theirs.id, requester(43), inputs.image(), asker(43))
    for job in (entry.job, paid.job):
        await core.engine.wait_for_end(job.id, timeout=30)
    rows = {row["job_id"]: row for row in await core.store.db.execute_fetchall("SELECT * FROM ledger WHERE kind = 'reserve'")}
    assert rows[entry.job.id]["user_id"] == 42  # the member pays
    assert rows[paid.job.id]["user_id"] == 0 and rows[paid.job.id]["guild_id"] == 7  # the server's budget pays
    assert (await core.store.get_job(paid.job.id)).user_id == 43  # type: ignore[union-attr]  # still the member's video


async def test_an_entry_through_the_fix_button_is_still_an_entry(core: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    challenges = Challenges(core, FakePoster())
    challenge = await started(challenges, inputs)
    wide = make_image(tmp_path / "wide.png", 1600, 400)  # 4:1: refused, with "Pad to 5:2" offered
    photo = IncomingFile("wide.png", wide.stat().st_size, "image/png", 1600, 400, path=wide)
    with pytest.raises(FixOffered) as offered:
        await challenges.join(challenge.id, requester(42), photo, asker(42))
    job, _ = await core.accept_fix(offered.value.offer.offer_id, asker(42))
    assert job.channel_id == 777  # still the thread
    entry = await challenges.entry_of(job)  # known by its lineage when its video is posted
    assert entry is not None and entry.challenge_id == challenge.id and entry.user_id == 42
    with pytest.raises(Refusal, match="already have an entry"):
        await challenges.join(challenge.id, requester(42), inputs.image(), asker(42))


async def test_a_bad_clip_or_title_is_refused_and_nothing_kept(core: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    challenges = Challenges(core, FakePoster())
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    with pytest.raises(Refusal):
        await challenges.create(
            guild_id=7, channel_id=99, user_id=1, title="x", clip=IncomingFile("junk.mp4", 512, "video/mp4", path=junk),
            mode="std", orientation="video", charge="member", hours=1, locale=None,
        )
    with pytest.raises(Refusal, match="title"):
        await started_with_title(challenges, inputs, " " * 3)
    assert await core.store.db.execute_fetchall("SELECT * FROM challenges") == []
    assert not any((core.settings.data_dir / "challenges").glob("*/*"))


async def started_with_title(challenges: Challenges, inputs: Inputs, title: str) -> ChallengeRow:
    return await challenges.create(
        guild_id=7, channel_id=99, user_id=1, title=title, clip=inputs.video(), mode="std", orientation="video",
        charge="member", hours=1, locale=None,
    )


async def posted_entry(core: CoreApp, challenges: Challenges, challenge: ChallengeRow, inputs: Inputs, user: int) -> str:
    entry = await challenges.join(challenge.id, requester(user), inputs.image(), asker(user))
    await challenges.entry_posted(entry.job.id, message_id=9000 + user)
    return entry.job.id


async def test_votes_and_the_end_posted_once(core: CoreApp, inputs: Inputs) -> None:
    poster = FakePoster()
    challenges = Challenges(core, poster, card_interval=0)
    challenge = await started(challenges, inputs)
    a, b, c = [await posted_entry(core, challenges, challenge, inputs, user) for user in (10, 11, 12)]

    assert await challenges.vote(a, 11) == 1
    with pytest.raises(AlreadyVoted):
        await challenges.vote(a, 11)
    with pytest.raises(Refusal, match="own entry"):
        await challenges.vote(a, 10)
    assert await challenges.unvote(a, 11) == 0
    with pytest.raises(Refusal, match="no vote"):
        await challenges.unvote(a, 11)
    await challenges.vote(c, 11)
    await challenges.vote(b, 12)  # b and c tie at 1: b came first
    await challenges.vote(a, 12)
    await challenges.vote(a, 11)

    assert await challenges.end_due(now=challenge.ends_at - 1) == []  # not yet
    assert await challenges.end_due(now=challenge.ends_at + 1) == [challenge.id]
    assert poster.results == [(challenge.id, [(10, 2), (11, 1), (12, 1)])]
    assert not Path(challenge.clip_path).exists()  # the clip is not kept once no one can join
    assert await challenges.end_due(now=challenge.ends_at + 60) == []  # posted once
    assert (await core.store.get_challenge(challenge.id)).results_message_id == 5000 + challenge.id  # type: ignore[union-attr]
    with pytest.raises(Refusal, match="over"):
        await challenges.vote(b, 10)
    with pytest.raises(Refusal, match="over"):
        await challenges.join(challenge.id, requester(13), inputs.image(), asker(13))


async def test_a_closing_interrupted_by_a_restart_is_finished(core: CoreApp, inputs: Inputs) -> None:
    poster = FakePoster()
    challenges = Challenges(core, poster)
    challenge = await started(challenges, inputs)
    await core.store.close_challenge(challenge.id, now=1.0)  # closed, then the bot died before posting
    again = Challenges(core, poster)  # the next run
    assert await again.end_due() == [challenge.id]
    assert [posted[0] for posted in poster.results] == [challenge.id]
    assert (await core.store.get_challenge(challenge.id)).state == "closed"  # type: ignore[union-attr]


async def test_card_edits_are_coalesced(core: CoreApp, inputs: Inputs) -> None:
    poster = FakePoster()
    challenges = Challenges(core, poster, card_interval=0.3)
    challenge = await started(challenges, inputs)

    async def edits(at_least: int) -> int:
        await asyncio.wait_for(until(lambda: len(poster.cards) >= at_least), 10)
        await asyncio.sleep(0.4)  # longer than the interval: a further edit would have come by now
        return len(poster.cards)

    for _ in range(10):  # ten entries at once: one edit
        challenges.card_changed(challenge.id)
    assert await edits(1) == 1
    for _ in range(5):  # more soon after: one more edit, after the interval
        challenges.card_changed(challenge.id)
    assert await edits(2) == 2
    await challenges.stop()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_who_may_start_a_challenge() -> None:
    assert may_start(manage_server=True, role_ids=[], starter_role=None)
    assert may_start(manage_server=False, role_ids=[5, 6], starter_role=6)
    assert not may_start(manage_server=False, role_ids=[5], starter_role=6)
    assert not may_start(manage_server=False, role_ids=[5], starter_role=None)


async def test_ending_by_command_and_by_time_at_once_posts_once(core: CoreApp, inputs: Inputs) -> None:
    poster = FakePoster()
    challenges = Challenges(core, poster)
    challenge = await started(challenges, inputs)
    with pytest.raises(Refusal, match="Only whoever started"):
        await challenges.end_now(challenge.id, user_id=99, may_manage=False)
    await asyncio.gather(
        challenges.end_now(challenge.id, user_id=1, may_manage=False), challenges.end_due(now=challenge.ends_at + 1)
    )
    assert [posted[0] for posted in poster.results] == [challenge.id]
    with pytest.raises(Refusal, match="over"):
        await challenges.end_now(challenge.id, user_id=1, may_manage=False)
