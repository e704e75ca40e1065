"""The Discord side of durable intake (bot/pending.py): record at the deferral, finish after a restart.

A command that defers and then does slow work (fetching attachments, checking them) wraps that
work so a crash in the middle is finished by the next start::

    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.intake.acknowledged(interaction, "motion", payload):
        await take_motion(bot, interaction, payload)

and registers the same function for the restart: `bot.intake.register("motion", take_motion)`.
The function gets either the live Interaction or, after a restart, a `TokenAnswer` that edits the
same private answer through the still-valid token; both have what the function reads (user,
guild_id, channel_id, id, locale, created_at, edit_original_response, response.is_done()).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_tree import report_error
from bot.errors import Refusal
from bot.i18n import Text
from bot.pending import PendingRequest, PendingRequests, TokenSealer
from bot.signing import load_key

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

log = logging.getLogger(__name__)

# Requests whose slow part (downloads, checks) runs at the same time; the others wait, recorded and
# deferred. A crowd's first answers then never queue behind the crowd's downloads on the event
# loop, and a burst costs a bounded amount of memory (bench/bench_interactions.py).
INTAKE_CONCURRENCY = 8
# The slow part of a request starts once arrivals pause this long (a crowd gets all its first
# answers before its downloads compete with them), but never later than MAX_YIELD after it came:
# Discord's own deadline for a first answer, after which no one in the crowd is still waiting.
QUIET_SECONDS = 0.05
MAX_YIELD_SECONDS = 3.0

# Finishes one request after the deferral: (bot, the interaction or its TokenAnswer, the payload).
Finisher = Callable[["MotionBot", Any, dict[str, Any]], Awaitable[None]]


class _AlreadyAnswered:
    """A restarted request was deferred by the process that died: its first answer is given."""

    def is_done(self) -> bool:
        return True


class TokenAnswer:
    """What a finisher needs of an Interaction, for a request acknowledged before a restart."""

    type = discord.InteractionType.application_command
    command = None

    def __init__(self, bot: MotionBot, request: PendingRequest) -> None:
        self.client = bot
        self.id = int(request.interaction_id)
        self.user = discord.Object(request.user_id)
        self.guild_id = request.guild_id
        self.channel_id = request.channel_id
        self.locale = request.payload.get("locale")
        self.created_at = dt.datetime.fromtimestamp(request.created_at, dt.UTC)
        self.response = _AlreadyAnswered()
        assert request.application_id is not None
        self._webhook = discord.Webhook.partial(request.application_id, request.token, client=bot)
        self.followup = self._webhook

    async def edit_original_response(self, **fields: Any) -> discord.WebhookMessage:
        return await self._webhook.edit_message("@original", **fields)  # type: ignore[arg-type]


class DiscordIntake:
    def __init__(self, bot: MotionBot, pending: PendingRequests) -> None:
        self.bot = bot
        self.pending = pending
        self._finishers: dict[str, Finisher] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(INTAKE_CONCURRENCY)
        # Set while no request arrived for QUIET_SECONDS; one timer, re-armed by each arrival.
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._quiet_timer: asyncio.TimerHandle | None = None

    @classmethod
    def for_bot(cls, bot: MotionBot) -> DiscordIntake:
        settings = bot.settings
        secret = settings.callback_secret.get_secret_value() if settings.callback_secret else None
        # The signing secret (CALLBACK_SECRET, else the generated key in DATA_DIR) also seals tokens.
        sealer = TokenSealer(load_key(secret, settings.data_dir))
        return cls(bot, PendingRequests(bot.core.store, sealer, lease_seconds=settings.job_lease_seconds))

    def register(self, kind: str, finisher: Finisher) -> None:
        self._finishers[kind] = finisher

    @asynccontextmanager
    async def acknowledged(
        self, interaction: discord.Interaction, kind: str, payload: dict[str, Any]
    ) -> AsyncIterator[None]:
        """Record the deferred request, run the block, settle it with the outcome. A crash (or a
        shutdown cancelling the block) leaves it pending for the next start to finish."""
        self._arrived()
        payload = {**payload, "locale": str(getattr(interaction.locale, "value", interaction.locale))}
        await self.pending.record(
            PendingRequest(
                interaction_id=str(interaction.id),
                kind=kind,
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                application_id=interaction.application_id,
                token=interaction.token,
                created_at=interaction.created_at.timestamp(),
                payload=payload,
            )
        )
        try:
            await self._yield_to_arrivals()
            async with self._slots:
                yield
        except Exception as exc:
            await self.pending.settle(str(interaction.id), _outcome(exc))
            raise
        # A job settles its request in its own transaction ("queued"); this settles the others.
        await self.pending.settle(str(interaction.id), "answered")

    async def after_the_crowd(self) -> None:
        """For work right after a deferral that is not yet a recorded request (the gate's database
        reads): count this arrival and wait while others still need their first answer."""
        self._arrived()
        await self._yield_to_arrivals()

    def _arrived(self) -> None:
        self._quiet.clear()
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
        self._quiet_timer = asyncio.get_running_loop().call_later(QUIET_SECONDS, self._quiet.set)

    async def _yield_to_arrivals(self) -> None:
        """Wait while other requests keep arriving (they still need their first answer)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(MAX_YIELD_SECONDS):
                await self._quiet.wait()

    def start_recovery(self) -> None:
        # In the background: the gateway need not wait for it (a restarted request uses only REST).
        self._recovery = asyncio.create_task(self._recover_all(), name="intake-recovery")

    async def _recover_all(self) -> None:
        """Once at start; with other processes on the database, again every lease period: a
        process that died leaves its acknowledged requests to the others."""
        while True:
            try:
                await self.recover()
            except Exception:
                log.exception("finishing acknowledged requests failed; trying again later")
            if not self.bot.core.store.shared:
                return
            await asyncio.sleep(self.pending.lease_seconds)

    async def recover(self) -> int:
        """Finish every pending request whose token still lives; returns how many were taken up."""
        requests = await self.pending.due()
        for request in requests:
            await self._finish(request)
        if requests:
            log.info("finished %d request(s) acknowledged before the restart", len(requests))
        return len(requests)

    async def _finish(self, request: PendingRequest) -> None:
        answer = TokenAnswer(self.bot, request)
        finisher = self._finishers.get(request.kind)
        outcome = "answered"
        async with self._slots:
            try:
                if finisher is None:
                    raise Refusal(Text("The bot restarted before it could finish this; please run the command again."))
                log.info("finishing %s request %s after a restart", request.kind, request.interaction_id)
                await finisher(self.bot, answer, request.payload)
            except Exception as exc:
                outcome = _outcome(exc)
                await report_error(answer, exc)  # type: ignore[arg-type]
        await self.pending.settle(request.interaction_id, outcome)


def _outcome(error: BaseException) -> str:
    return f"refused: {error}"[:300] if isinstance(error, Refusal) else f"error: {type(error).__name__}"
