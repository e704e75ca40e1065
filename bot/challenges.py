"""Motion challenges: a server's shared event around one reference clip.

Someone with Manage Server (or the role the admins chose) starts one with a clip, checked like
any reference video and kept in DATA_DIR; the Discord side posts the card and opens its thread.
Members join with their own photo: an ordinary motion job (the challenge's clip + their photo,
checked and charged like any other, to the member or to the server's budget) whose result is
posted in the thread with a Vote button. Entries, votes and the end time are rows, so a
restart loses nothing: `end_due` (one pass, run by `run_endings` every little while, and
wrappable by a leader lock later) closes what is due and posts the winners.

Core: no discord. What is shown in Discord goes through a `ChallengePoster`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from bot.coalesce import Coalescer
from bot.errors import Refusal
from bot.gate import Asker
from bot.i18n import Text
from bot.intake import IncomingFile, take_file
from bot.line import place_of
from bot.media import precheck_image, precheck_video
from bot.media_video import check_video
from bot.models import Lineage, MediaFile, MotionOptions, Requester
from bot.pricing import Price
from bot.remix import StoredMotion, make_with_motion
from bot.store import ChallengeRow, EntryRow, JobRow, Store

if TYPE_CHECKING:
    from bot.app import CoreApp

log = logging.getLogger(__name__)

Charge = Literal["member", "server"]
TITLE_MAX = 100
MAX_HOURS = 24 * 30  # a month
WINNERS = 3  # how many top entries the results post names
CARD_EDIT_INTERVAL = 5.0  # seconds between two edits of one card (entry counts coalesce)
CHECK_INTERVAL = 30.0  # seconds between two looks for challenges whose end time has passed
ENTRY_RELATION = "challenge"  # an entry's lineage (job_links.relation); its reply_channel_id is the thread


class ChallengePoster(Protocol):
    """What the Discord side shows; the core decides when."""

    async def update_card(self, challenge: ChallengeRow, entries: int) -> None:
        """Edit the card: entry count, and "over" once the challenge is closed."""

    async def post_results(self, challenge: ChallengeRow, winners: list[EntryRow]) -> int | None:
        """Post the top entries (exactly once: the same challenge gives the same post); its message id."""


class AlreadyVoted(Refusal):
    """A repeated vote: said privately, with a way to take the vote back."""

    def __init__(self, job_id: str) -> None:
        super().__init__(Text("You already voted for this entry. You can take your vote back."))  # type: ignore[arg-type]
        self.job_id = job_id


def refuse(text: Text) -> Refusal:
    return Refusal(text)  # type: ignore[arg-type]  # Refusal carries a Text (rendered per reader)


def may_start(*, manage_server: bool, role_ids: Iterable[int], starter_role: int | None) -> bool:
    """Manage Server, or the role the admins chose (/challenge role)."""
    return manage_server or (starter_role is not None and starter_role in set(role_ids))


def stored_motion(challenge: ChallengeRow) -> StoredMotion:
    """The challenge's clip and options, as "Use this motion" takes a stored motion."""
    clip = Path(challenge.clip_path)
    return StoredMotion(
        options=MotionOptions(mode=challenge.mode, orientation=challenge.orientation),  # type: ignore[arg-type]
        video=MediaFile(path=clip, filename=challenge.clip_filename, content_type="video/mp4", size=clip.stat().st_size),
    )


@dataclass(frozen=True)
class Entry:
    job: JobRow
    price: Price
    challenge: ChallengeRow


class Challenges:
    """Starting, joining, voting and ending; one per running bot (`core.challenges` is not needed:
    the Discord side makes it with its poster)."""

    def __init__(
        self,
        core: CoreApp,
        poster: ChallengePoster,
        *,
        clock: Callable[[], float] = time.time,
        card_interval: float = CARD_EDIT_INTERVAL,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self.core = core
        self.poster = poster
        self.clock = clock
        self.check_interval = check_interval
        self._joining: dict[tuple[int, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._closing: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.cards: Coalescer[int] = Coalescer(self._edit_card, card_interval)  # the cards' entry counts
        self._wake = asyncio.Event()

    @property
    def store(self) -> Store:
        return self.core.store

    def folder(self, challenge_id: int | str) -> Path:
        return self.core.settings.data_dir / "challenges" / str(challenge_id)

    # --- starting -------------------------------------------------------------------------
    async def precheck_clip(self, guild_id: int | None, clip: IncomingFile) -> None:
        """What the clip's metadata already rules out (before any deferral or download)."""
        provider = self.core.providers[await self.core.provider_for(guild_id)]
        precheck_video(clip.meta, provider.capabilities.limits)

    async def create(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        title: str,
        clip: IncomingFile,
        mode: str,
        orientation: str,
        charge: Charge,
        hours: float,
        locale: str | None,
    ) -> ChallengeRow:
        """Check and keep the clip, write the challenge (open, no card yet). The caller posts the
        card and thread, then calls `posted` (or `discard` if it could not)."""
        title = " ".join(title.split())
        if not title or len(title) > TITLE_MAX:
            raise refuse(Text("The title must be 1 to {limit} characters.", limit=TITLE_MAX))
        if not 0 < hours <= MAX_HOURS:
            raise refuse(Text("A challenge lasts more than 0 and at most {hours} hours.", hours=MAX_HOURS))
        provider = self.core.providers[await self.core.provider_for(guild_id)]
        limits = provider.capabilities.limits
        MotionOptions(mode=mode, orientation=orientation)  # type: ignore[arg-type]  # refuses unknown values
        staging = self.folder(f"new-{time.time_ns()}")
        staging.mkdir(parents=True, exist_ok=True)
        try:
            check = functools.partial(check_video, filename=clip.filename, orientation=orientation, limits=limits)
            media, info = await take_file(self.core.downloader, clip, staging, "video", limits.video_max_bytes, check)
            challenge_id = await self.store.insert_challenge(
                guild_id=guild_id, channel_id=channel_id, title=title, started_by=user_id, clip_path=str(media.path),
                clip_filename=clip.filename, clip_seconds=info.seconds, mode=mode, orientation=orientation,
                charge=charge, locale=locale, ends_at=self.clock() + hours * 3600,
            )
            final = self.folder(challenge_id)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            await self.store.set_challenge_posts(challenge_id, clip_path=str(final / media.path.name))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        challenge = await self.store.get_challenge(challenge_id)
        assert challenge is not None
        return challenge

    async def posted(self, challenge_id: int, card_message_id: int, thread_id: int) -> ChallengeRow:
        await self.store.set_challenge_posts(challenge_id, card_message_id=card_message_id, thread_id=thread_id)
        self._wake.set()  # the end loop may need to look sooner
        challenge = await self.store.get_challenge(challenge_id)
        assert challenge is not None
        return challenge

    async def discard(self, challenge_id: int) -> None:
        """The card could not be posted: nothing of it stays."""
        await self.store.delete_challenge(challenge_id)
        shutil.rmtree(self.folder(challenge_id), ignore_errors=True)

    async def precheck_photo(self, guild_id: int | None, image: IncomingFile) -> None:
        """What a joining photo's metadata already rules out (before the deferral and download)."""
        provider = self.core.providers[await self.core.provider_for(guild_id)]
        precheck_image(image.meta, provider.capabilities.limits)

    async def place_text(self, job_id: str) -> Text | None:
        """"#2 in line: should start in …" for a waiting entry; None once it has started."""
        now = self.clock()
        place = await place_of(self.store, job_id, self.core.origin, self.core.engine.config.provider_max_concurrency, now)
        return place.text(now) if place else None

    # --- reading ----------------------------------------------------------------------------
    async def get_open(self, challenge_id: int) -> ChallengeRow:
        challenge = await self.store.get_challenge(challenge_id)
        if challenge is None or challenge.card_message_id is None:
            raise refuse(Text("This challenge does not exist any more."))
        if not challenge.is_open or challenge.ends_at <= self.clock():
            raise refuse(Text("This challenge is over."))
        return challenge

    async def check_can_join(self, challenge_id: int, user_id: int) -> ChallengeRow:
        """Before the join form opens: open, and no entry of theirs already in it."""
        challenge = await self.get_open(challenge_id)
        if await self.store.live_entry_of(challenge_id, user_id) is not None:
            raise refuse(Text("You already have an entry in this challenge."))
        return challenge

    # --- joining ------------------------------------------------------------------------------
    async def join(self, challenge_id: int, requester: Requester, image: IncomingFile, asker: Asker) -> Entry:
        """Queue the member's entry: the challenge's clip and options with their photo, through the
        same core call as "Use this motion" (bot/remix.py `make_with_motion`: gated, checked,
        charged like any job, to the server's budget when the challenge says so; an image that is
        almost right gets the fix offer, FixOffered). The job's lineage (relation "challenge", the
        thread) is written with it, so its result goes to the thread even when it comes through
        the fix button. One live entry per member."""
        async with self._joining[(challenge_id, requester.user_id)]:
            challenge = await self.check_can_join(challenge_id, requester.user_id)
            assert challenge.thread_id is not None
            if challenge.charge == "server":
                active = await self.store.count_active(user_id=requester.user_id)
                limit = self.core.quotas.max_active_per_user
                if active >= limit:
                    raise refuse(
                        Text(
                            "You already have {count} video in progress (the limit is {limit}). Wait for one to finish, then try again.",
                            plural="You already have {count} videos in progress (the limit is {limit}). Wait for one to finish, then try again.",
                            count=active, limit=limit,
                        )
                    )
            entrant = requester.model_copy(
                update={"channel_id": challenge.thread_id, "charge_server": challenge.charge == "server"}
            )
            job, price = await make_with_motion(
                self.core, stored_motion(challenge), entrant, asker, image=image,
                lineage=Lineage(relation=ENTRY_RELATION, reply_channel_id=challenge.thread_id),
            )
            await self.store.insert_entry(job_id=job.id, challenge_id=challenge_id, user_id=requester.user_id)
        return Entry(job=job, price=price, challenge=challenge)

    async def entry_of(self, job: JobRow) -> EntryRow | None:
        """The challenge entry a job is, if any. A job queued through the fix button (or whose
        entry row a crash kept from being written) is known by its lineage and recorded now."""
        entry = await self.store.entry(job.id)
        if entry is not None:
            return entry
        link = await self.store.job_link(job.id)
        if link is None or link.relation != ENTRY_RELATION or link.reply_channel_id is None:
            return None
        challenge = await self.store.challenge_by_thread(link.reply_channel_id)
        if challenge is None:
            return None
        await self.store.insert_entry(job_id=job.id, challenge_id=challenge.id, user_id=job.user_id)
        return await self.store.entry(job.id)

    async def entry_posted(self, job_id: str, message_id: int) -> EntryRow | None:
        """An entry's video is in the thread: remember where, and count it on the card."""
        entry = await self.store.entry(job_id)
        if entry is None:
            return None
        await self.store.set_entry_message(job_id, message_id)
        self.card_changed(entry.challenge_id)
        return entry

    # --- voting -------------------------------------------------------------------------------
    async def vote(self, job_id: str, voter_id: int) -> int:
        """One vote per member per entry, not on their own; returns the entry's votes."""
        async with self.store.transaction() as db:
            entry = await self.store.entry(job_id, db=db)
            if entry is None:
                raise refuse(Text("This entry is not part of a challenge any more."))
            challenge = await self.store.get_challenge(entry.challenge_id, db=db)
            if challenge is None or not challenge.is_open or challenge.ends_at <= self.clock():
                raise refuse(Text("This challenge is over; votes are closed."))
            if entry.user_id == voter_id:
                raise refuse(Text("You cannot vote for your own entry."))
            if not await self.store.add_vote(job_id, voter_id, db=db):
                raise AlreadyVoted(job_id)
            return await self.store.vote_count(job_id, db=db)

    async def unvote(self, job_id: str, voter_id: int) -> int:
        """Take a vote back (votes can be changed while the challenge is open)."""
        async with self.store.transaction() as db:
            entry = await self.store.entry(job_id, db=db)
            challenge = await self.store.get_challenge(entry.challenge_id, db=db) if entry else None
            if challenge is None or not challenge.is_open or challenge.ends_at <= self.clock():
                raise refuse(Text("This challenge is over; votes are closed."))
            if not await self.store.remove_vote(job_id, voter_id, db=db):
                raise refuse(Text("You have no vote on this entry."))
            return await self.store.vote_count(job_id, db=db)

    # --- ending -------------------------------------------------------------------------------
    async def end_now(self, challenge_id: int, *, user_id: int, may_manage: bool) -> ChallengeRow:
        """/challenge end: by whoever started it, or anyone who may start challenges."""
        challenge = await self.store.get_challenge(challenge_id)
        if challenge is None or challenge.card_message_id is None:
            raise refuse(Text("This challenge does not exist any more."))
        if challenge.started_by != user_id and not may_manage:
            raise refuse(Text("Only whoever started this challenge, or a member who may start challenges, can end it."))
        if challenge.state == "closed":
            raise refuse(Text("This challenge is over."))
        return await self._close(challenge)

    async def end_due(self, now: float | None = None) -> list[int]:
        """One pass: close every challenge whose end time has passed (and finish closings a
        restart interrupted). Returns their ids. Safe to run again at any time."""
        ended = []
        for challenge in await self.store.challenges_due(self.clock() if now is None else now):
            try:
                await self._close(challenge)
                ended.append(challenge.id)
            except Exception:
                log.exception("challenge %s: closing failed; the next pass tries again", challenge.id)
        return ended

    async def _close(self, challenge: ChallengeRow) -> ChallengeRow:
        async with self._closing[challenge.id]:  # the end loop and /challenge end at the same moment: one post
            return await self._close_once(challenge)

    async def _close_once(self, challenge: ChallengeRow) -> ChallengeRow:
        if challenge.state == "open":
            await self.store.close_challenge(challenge.id, self.clock())  # no entry or vote from here on
        winners = await self.store.standings(challenge.id, WINNERS)
        closing = await self.store.get_challenge(challenge.id)
        assert closing is not None
        if closing.state == "closing":
            message_id = await self.poster.post_results(closing, winners)
            await self.store.finish_challenge(challenge.id, message_id)
            shutil.rmtree(self.folder(challenge.id), ignore_errors=True)  # no one can join any more
            log.info("challenge %s: closed with %d winner(s)", challenge.id, len(winners))
        self.card_changed(challenge.id, now=True)
        closed = await self.store.get_challenge(challenge.id)
        assert closed is not None
        return closed

    async def run_endings(self) -> None:
        """Forever: `end_due`, then sleep until the next end time (at most `check_interval`)."""
        while True:
            self._wake.clear()
            timeout = self.check_interval
            try:
                # once per bot: with several processes on one database, the one leading this ends challenges
                if await self.store.leader("challenge-endings", seconds=max(60.0, 3 * self.check_interval)):
                    await self.end_due()
                upcoming = await self.store.next_challenge_end()
                if upcoming is not None:
                    timeout = min(timeout, max(0.0, upcoming - self.clock()))
            except Exception:
                log.exception("challenge endings: a pass failed; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    # --- the card -------------------------------------------------------------------------------
    def card_changed(self, challenge_id: int, *, now: bool = False) -> None:
        """The card should show something new: edited at most once per `cards.interval`, with what
        is current when the edit is made (many entries at once become one edit)."""
        self.cards.changed(challenge_id, now=now)

    async def _edit_card(self, challenge_id: int) -> None:
        challenge = await self.store.get_challenge(challenge_id)
        if challenge is not None:
            await self.poster.update_card(challenge, await self.store.posted_entry_count(challenge_id))

    async def stop(self) -> None:
        await self.cards.stop()
