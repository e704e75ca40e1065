"""The Discord shell around the core: the client, the notifier that posts results, command sync.

This module and cogs/ are the only places that import discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import discord
import yarl
from discord.ext import commands

from bot.app import CoreApp
from bot.discord_intake import DiscordIntake
from bot.discord_text import find_earlier_post, job_marker, member_quote, mentions_only
from bot.discord_tree import GenerationTree
from bot.errors import DeliveryImpossible, DeliveryTooLarge
from bot.i18n import Renderable, Text
from bot.settings import Settings
from bot.store import JobRow
from cogs.i18n_translator import CatalogueTranslator
from cogs.results import failure_view, result_post_parts

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.motion", "cogs.animate", "cogs.quota", "cogs.admin", "cogs.results", "cogs.fixes", "cogs.challenge", "cogs.jobs",
)
# Interaction tokens live 15 minutes; stop editing a little before, so an edit never races the expiry.
TOKEN_LIFE_SECONDS = 14 * 60


def point_discord_at(api_base: str) -> None:
    """Send REST traffic to a local Discord stand-in (tests, development); the gateway address
    is then asked of it in setup_hook, as Discord documents (GET /gateway/bot)."""
    if api_base:
        discord.http.Route.BASE = f"{api_base.rstrip('/')}/api/v10"


def in_language(text: Renderable | str, locale: object | None) -> str:
    """A catalogue Text (or Stored sentence) in the reader's language; a plain str as it is."""
    return text if isinstance(text, str) else text.render(locale)


def nonce_for(job: JobRow, what: str) -> str:
    # Discord deduplicates a message create with the same nonce (enforce_nonce): exactly-once posts.
    return f"{what}-{job.id}"[:25]


class DiscordNotifier:
    """Job news to Discord: private status edits while the interaction lives, public results."""

    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot
        self._status: dict[str, tuple[discord.Interaction, float]] = {}
        # Jobs this process tried to post; with `started_at`, tells when an earlier post may exist.
        self._attempted: set[str] = set()
        self.started_at = time.time()
        # Results posted their own way (a challenge entry goes to its thread with a Vote button):
        # the first poster that returns a message has posted it; None means "not mine".
        self.result_posters: list[Callable[[JobRow, Path | None, str | None], Awaitable[discord.Message | None]]] = []

    def track(self, job_id: str, interaction: discord.Interaction) -> None:
        # The token's clock started when the user ran the command, not when the job was queued.
        deadline = interaction.created_at.timestamp() + TOKEN_LIFE_SECONDS
        self._status[job_id] = (interaction, deadline)

    def _live_interaction(self, job_id: str) -> discord.Interaction | None:
        entry = self._status.get(job_id)
        if entry is None:
            return None
        interaction, deadline = entry
        if time.time() > deadline:
            self._status.pop(job_id, None)
            return None
        return interaction

    def public_locale(self, job: JobRow) -> object | None:
        """Public posts speak the server's language (English when it has no catalogue)."""
        get_guild = getattr(self.bot, "get_guild", None)
        guild = get_guild(job.guild_id) if callable(get_guild) and job.guild_id else None
        return guild.preferred_locale if guild is not None else None

    def result_content(self, job: JobRow, link: str | None) -> str:
        """The result post: the requester's mention, their prompt made inert, the link, the job marker."""
        locale = self.public_locale(job)
        lines = [Text("{mention} your video is ready!", mention=f"<@{job.user_id}>").render(locale)]
        prompt = (job.request.get("options") or {}).get("prompt")
        if prompt:
            lines.append(f"> {member_quote(prompt)}")
        if link:
            lines.append(Text("It is too large to attach here, so here is a link: {link}", link=link).render(locale))
        lines.append(job_marker(job.id, locale))  # how a restart finds this post again (find_earlier_post)
        return "\n".join(lines)

    async def progress(self, job: JobRow, text: Renderable | str) -> None:
        interaction = self._live_interaction(job.id)
        if interaction is not None:
            shown = in_language(text, interaction.locale)
            await interaction.edit_original_response(content=f"{shown}\n{job_marker(job.id, interaction.locale)}")

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        for post in self.result_posters:
            posted = await post(job, video, link)
            if posted is not None:
                await self._show_done(job, posted)
                return posted.id
        assert job.channel_id is not None
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        earlier = await self._earlier_post(job, channel)
        if earlier is not None:
            return earlier
        content = self.result_content(job, link)
        mentions = mentions_only(job.user_id)
        view, reference = await result_post_parts(self.bot, job)  # buttons; a remix replies to its original
        try:
            if video is not None:
                message = await channel.send(
                    content,
                    file=discord.File(video, filename=f"motion-{job.id}.mp4"),
                    nonce=nonce_for(job, "job"),
                    allowed_mentions=mentions,
                    view=view,
                    reference=reference,  # type: ignore[arg-type]
                )
            else:
                message = await channel.send(
                    content, nonce=nonce_for(job, "job"), allowed_mentions=mentions, view=view,
                    reference=reference,  # type: ignore[arg-type]
                )
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == 40005:
                raise DeliveryTooLarge() from exc
            if exc.status not in (403, 404):
                raise  # Discord trouble: the engine retries
            # The channel is gone or closed to the bot: the video still reaches its owner by DM.
            message = await self._direct_message(job, content, video, exc)
        interaction = self._live_interaction(job.id)
        if interaction is not None:
            try:
                done = Text("Done! {link}", link=message.jump_url).render(interaction.locale)
                await interaction.edit_original_response(content=done, view=None)
            except discord.HTTPException:
                pass
        self._status.pop(job.id, None)
        return message.id

    async def _earlier_post(self, job: JobRow, channel: discord.abc.Messageable) -> int | None:
        """A post an earlier attempt made (a crash or an outage between posting and recording it).
        Looked for only when one may exist: the job's result was ready before this process
        started, or this process tried before. The nonce covers a few minutes; this covers longer."""
        first_try = job.id not in self._attempted and job.updated_at >= self.started_at
        self._attempted.add(job.id)
        if first_try or self.bot.user is None:
            return None
        try:
            message = await find_earlier_post(channel, job.id, self.bot.user.id, since=job.created_at)
        except discord.HTTPException as exc:  # no Read Message History: the nonce is all there is
            log.warning("job %s: could not look for an earlier post (%s %s)", job.id, exc.status, exc.text)
            return None
        if message is None:
            return None
        log.info("job %s: already posted as message %s; not posting again", job.id, message.id)
        return message.id

    async def _show_done(self, job: JobRow, message: discord.Message) -> None:
        interaction = self._live_interaction(job.id)
        self._status.pop(job.id, None)
        if interaction is not None:
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content=Text("Done! {link}", link=message.jump_url).render(interaction.locale), view=None)

    async def _direct_message(
        self, job: JobRow, content: str, video: Path | None, why: discord.HTTPException
    ) -> discord.Message:
        try:
            user = await self.bot.fetch_user(job.user_id)
            file = discord.File(video, filename=f"motion-{job.id}.mp4") if video else discord.utils.MISSING
            note = Text("(the channel could not be used)").render(self.public_locale(job))
            return await user.send(f"{content}\n-# {note}", file=file, allowed_mentions=mentions_only(job.user_id))
        except discord.HTTPException as exc:
            raise DeliveryImpossible(f"channel refused ({why.status} {why.text}); DM refused ({exc.status})") from exc

    async def notify_failure(self, job: JobRow, text: Renderable | str) -> None:
        interaction = self._live_interaction(job.id)
        self._status.pop(job.id, None)
        if interaction is not None:
            try:
                # Still private while we can: a failure is the user's business.
                shown = in_language(text, interaction.locale)
                await interaction.edit_original_response(
                    content=f"❌ {shown}\n{job_marker(job.id, interaction.locale)}",
                    view=failure_view(self.bot, job, interaction.locale),
                )
                return
            except discord.HTTPException:
                pass
        if job.channel_id is None:
            return
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        if await self._earlier_post(job, channel) is not None:
            return  # told before a restart (or an outage) that ended before the notice was recorded
        reason = Text("{mention} your video could not be made: {reason}", mention=f"<@{job.user_id}>", reason=text)
        locale = self.public_locale(job)
        content = f"{reason.render(locale)}\n{job_marker(job.id, locale)}"
        try:
            await channel.send(
                content,
                view=failure_view(self.bot, job, locale) or discord.utils.MISSING,
                nonce=nonce_for(job, "end"),
                allowed_mentions=mentions_only(job.user_id),
            )
        except discord.HTTPException as exc:
            if exc.status not in (403, 404):
                raise
            await self._direct_message(job, content, None, exc)


class MotionBot(commands.Bot):
    def __init__(self, settings: Settings, *, force_sync: bool = False) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and boost tier (upload limit); no message content needed
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            owner_ids=set(settings.owner_ids) or None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=GenerationTree,  # the generation gate and the one error handler (bot/discord_tree.py)
            **_shards(self, settings),
        )
        self.settings = settings
        self.force_sync = force_sync
        self.notifier = DiscordNotifier(self)
        self.core: CoreApp  # opened in setup_hook, before any extension loads
        self.intake: DiscordIntake  # made in setup_hook, with the core
        self._core_stack = AsyncExitStack()
        self._core_closed: asyncio.Future[None] | None = None

    async def setup_hook(self) -> None:
        # `docker stop` sends SIGTERM: close cleanly (jobs would survive a kill too, but a clean
        # stop lets in-flight posts finish and the database close).
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)
        if self.settings.discord_api_base_url:
            # A plain client never asks for the gateway; one setting must be enough to redirect both.
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self.core = await self._core_stack.enter_async_context(CoreApp.open(self.settings, self.notifier, origin="discord"))
        self.intake = DiscordIntake.for_bot(self)  # before the cogs: they register their finishers
        if not self.settings.owner_ids:
            # OWNER_IDS empty: the application's owner (or its team) owns the bot-wide admin commands.
            app = await self.application_info()
            owners = [member.id for member in app.team.members] if app.team else [app.owner.id]
            self.core.admin.owner_ids = frozenset(owners)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Chinese command names and descriptions ride along with every sync (cogs/i18n_translator.py).
        await self.tree.set_translator(CatalogueTranslator())
        await self.sync_commands(force=self.force_sync)
        self.intake.start_recovery()  # requests acknowledged before a crash get their answer

    def _on_sigterm(self) -> None:
        # Keep a reference: the event loop holds tasks only weakly.
        self._stop_task = asyncio.create_task(self.close())

    async def close(self) -> None:
        log.info("stopping")
        await super().close()
        await self.close_core()
        log.info("stopped")

    async def close_core(self) -> None:
        """Idempotent, and finishes even if the caller is cancelled half-way (SIGTERM and the runner overlap)."""
        if self._core_closed is None:
            self._core_closed = asyncio.ensure_future(self._core_stack.aclose())
        await asyncio.shield(self._core_closed)

    def _sync_target(self) -> discord.Object | None:
        guild_id = self.settings.discord_test_guild_id
        if guild_id is None:
            return None
        guild = discord.Object(guild_id)
        self.tree.copy_global_to(guild=guild)
        return guild

    async def commands_fingerprint(self, guild: discord.Object | None) -> str:
        """A hash of exactly what a sync would send, translations included: a changed translation re-syncs."""
        translator = self.tree.translator
        payload = [
            await command.get_translated_payload(self.tree, translator) if translator else command.to_dict(self.tree)
            for command in self.tree.get_commands(guild=guild)
        ]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_commands(self, force: bool = False) -> bool:
        """Push the slash commands when their definitions changed (Discord rate-limits command writes)."""
        guild = self._sync_target()
        scope = f"guild:{guild.id}" if guild else "global"
        fingerprint = await self.commands_fingerprint(guild)
        key = f"commands_fingerprint:{scope}"
        if not force and not await self.core.store.leader("command-sync", seconds=60):
            log.info("another bot process syncs the slash commands; not syncing here")
            return False
        if not force and await self.core.store.get_meta(key) == fingerprint:
            log.info("slash commands unchanged (%s); not syncing", scope)
            return False
        synced = await self.tree.sync(guild=guild)
        await self.core.store.set_meta(key, fingerprint)
        log.info("synced %d slash commands (%s)", len(synced), scope)
        return True


class ShardedMotionBot(MotionBot, commands.AutoShardedBot):
    """The same bot over several gateway shards in one process (SHARD_COUNT, SHARD_IDS)."""


def _shards(bot: MotionBot, settings: Settings) -> dict[str, object]:
    if not isinstance(bot, commands.AutoShardedBot):
        return {}
    return {"shard_count": settings.shard_count, "shard_ids": settings.shard_ids or None}


def run_bot(settings: Settings, *, force_sync: bool = False) -> int:
    point_discord_at(settings.discord_api_base_url)
    bot = (ShardedMotionBot if settings.shard_count else MotionBot)(settings, force_sync=force_sync)
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()

    async def runner() -> None:
        # Not bot.run(): its event loop ends as soon as the gateway closes, cancelling whatever
        # close() still had to do; here the core always gets to stop (database closed, jobs saved).
        try:
            async with bot:
                await bot.start(token)
        finally:
            await bot.close_core()

    try:
        asyncio.run(runner())
    except discord.LoginFailure:
        print("Discord refused DISCORD_TOKEN. Check the token in .env (Developer Portal → Bot → Reset Token).")
        return 2
    return 0
