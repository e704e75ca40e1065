"""/challenge start|join|end|list|role: a server's motion challenges (bot/challenges.py).

Thin: check who may do what, render, call the core. The card, the join form, entries and votes
are in cogs/challenge_views.py. Loading this cog starts the loop that ends challenges when their
time is up (the end time is in the database, so a restart just picks it up again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.challenges import Challenges, may_start
from bot.discord_tree import asker_for
from bot.errors import Refusal
from bot.i18n import Text
from cogs.challenge_views import (
    DiscordChallengePoster,
    JoinButton,
    UnvoteButton,
    VoteButton,
    answer_privately,
    check_can_post_entries,
    join_with,
    jump_url,
    on_join_form,
    say,
)
from cogs.motion import incoming

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


class ChallengeCog(commands.Cog):
    challenge = app_commands.Group(
        name="challenge", description="Motion challenges: everyone makes the same motion with their own photo", guild_only=True
    )

    def __init__(self, bot: MotionBot, poster: DiscordChallengePoster | None = None) -> None:
        self.bot = bot
        self.poster = poster
        self._endings: asyncio.Task[None] | None = None

    @property
    def service(self) -> Challenges:
        return self.bot.challenges  # type: ignore[attr-defined,no-any-return]

    async def cog_load(self) -> None:
        if self.poster is None:
            return  # only the commands (a test that looks at the command tree)
        self.bot.challenges = Challenges(self.bot.core, self.poster)  # type: ignore[attr-defined]
        self.bot.notifier.result_posters.append(self.poster.post_entry)
        self._endings = asyncio.create_task(self.service.run_endings(), name="challenge-endings")

    async def cog_unload(self) -> None:
        if self.poster is None:
            return
        if self._endings is not None:
            self._endings.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._endings
        await self.service.stop()
        with contextlib.suppress(ValueError):
            self.bot.notifier.result_posters.remove(self.poster.post_entry)

    async def may_start(self, interaction: discord.Interaction) -> bool:
        role = await self.bot.core.store.challenge_role(interaction.guild_id) if interaction.guild_id else None
        roles = getattr(interaction.user, "roles", None) or ()
        return may_start(
            manage_server=interaction.permissions.manage_guild, role_ids=[r.id for r in roles], starter_role=role
        )

    # --- start -------------------------------------------------------------------------------
    @challenge.command(name="start", description="Start a motion challenge in this channel")
    @app_commands.describe(
        video="The motion everyone copies: one continuous shot (MP4 or MOV)",
        title="What the challenge is called",
        ends_in="Hours until it ends (default 24)",
        mode="Standard (720p) or Pro (1080p, costs more)",
        orientation="Which way the characters face",
        charge="Who pays for each entry",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="Standard (720p)", value="std"),
            app_commands.Choice(name="Pro (1080p)", value="pro"),
        ],
        orientation=[
            app_commands.Choice(name="Follow the video (up to 30 s)", value="video"),
            app_commands.Choice(name="Face like the image (up to 10 s)", value="image"),
        ],
        charge=[
            app_commands.Choice(name="Each member who joins", value="member"),
            app_commands.Choice(name="The server's budget", value="server"),
        ],
    )
    async def start(
        self,
        interaction: discord.Interaction,
        video: discord.Attachment,
        title: app_commands.Range[str, 1, 100],
        ends_in: app_commands.Range[float, 0.1, 720.0] = 24.0,
        mode: str = "std",
        orientation: str = "video",
        charge: str = "member",
    ) -> None:
        locale = interaction.locale
        assert interaction.guild_id is not None and interaction.channel_id is not None
        if not await self.may_start(interaction):
            raise Refusal(Text("Starting a challenge needs Manage Server or the role the admins chose (/challenge role)."))
        if isinstance(interaction.channel, discord.Thread):
            raise Refusal(Text("Start a challenge in a text channel, not in a thread."))
        perms = interaction.app_permissions
        if not (perms.send_messages and perms.attach_files and perms.create_public_threads and perms.send_messages_in_threads):
            raise Refusal(Text("The bot may not post here or open a thread here; ask an admin to let it, or use another channel."))
        clip = incoming(video)
        await self.bot.core.gate.check(asker_for(interaction, "challenge", (title,)))
        await self.service.precheck_clip(interaction.guild_id, clip)
        await interaction.response.defer(ephemeral=True, thinking=True)
        challenge = await self.service.create(
            guild_id=interaction.guild_id, channel_id=interaction.channel_id, user_id=interaction.user.id,
            title=title, clip=clip, mode=mode, orientation=orientation, charge=charge,  # type: ignore[arg-type]
            hours=ends_in, locale=str(interaction.guild_locale or "en-US"),
        )
        card: discord.Message | None = None
        try:
            assert isinstance(interaction.channel, discord.abc.Messageable)
            assert self.poster is not None
            card = await self.poster.post_card(interaction.channel, challenge, interaction.filesize_limit)
            thread = await card.create_thread(name=challenge.title[:100], auto_archive_duration=10080)
        except discord.HTTPException as exc:
            if card is not None:
                with contextlib.suppress(discord.HTTPException):
                    await card.delete()
            await self.service.discard(challenge.id)
            raise Refusal(
                Text("The bot could not post the challenge here (Discord said {status}). Nothing was started.", status=exc.status)
            ) from exc
        challenge = await self.service.posted(challenge.id, card.id, thread.id)
        text = Text("Challenge started: {link} It ends <t:{ends}:R>.", link=card.jump_url, ends=int(challenge.ends_at))
        await answer_privately(interaction, say(text, locale))

    # --- join (the command way, for clients that cannot show the join form) ----------------------
    @challenge.command(name="join", description="Join a challenge with your photo (the same as its Join button)")
    @app_commands.describe(challenge="The challenge", image="Your character: a clear photo or drawing showing the head and body")
    async def join(self, interaction: discord.Interaction, challenge: int, image: discord.Attachment) -> None:
        await self.service.check_can_join(challenge, interaction.user.id)
        check_can_post_entries(interaction)
        await join_with(interaction, challenge, image)

    # --- end, list, role -----------------------------------------------------------------------------
    @challenge.command(name="end", description="End a challenge now and post its winners")
    @app_commands.describe(challenge="The challenge")
    async def end(self, interaction: discord.Interaction, challenge: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        ended = await self.service.end_now(challenge, user_id=interaction.user.id, may_manage=await self.may_start(interaction))
        link = jump_url(ended.guild_id, ended.channel_id, ended.results_message_id)
        await answer_privately(interaction, say(Text("The challenge is over; the winners are posted: {link}", link=link), interaction.locale))

    @challenge.command(name="list", description="The open challenges in this server")
    async def list_open(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        open_ones = await self.bot.core.store.open_challenges(interaction.guild_id)
        if not open_ones:
            await answer_privately(interaction, Text("No challenge is open in this server."))
            return
        lines = [say(Text("Open challenges:"), interaction.locale)]
        for row in open_ones:
            entries = await self.bot.core.store.posted_entry_count(row.id)
            lines.append(
                "• "
                + Text(
                    "**{title}**: {entries} entries, ends <t:{ends}:R>: {link}",
                    title=row.title, entries=entries, ends=int(row.ends_at),
                    link=jump_url(row.guild_id, row.channel_id, row.card_message_id),
                ).render(interaction.locale)
            )
        await answer_privately(interaction, "\n".join(lines))

    @challenge.command(name="role", description="Choose the role that may start challenges (besides Manage Server)")
    @app_commands.describe(role="The role; leave empty to allow only Manage Server")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            raise Refusal(Text("Choosing the challenge role needs Manage Server."))
        await self.bot.core.store.set_challenge_role(interaction.guild_id, role.id if role else None, interaction.user.id)
        text = (
            Text("Members with {role} may now start challenges.", role=role.mention)
            if role
            else Text("Only members with Manage Server may start challenges now.")
        )
        await answer_privately(interaction, text)

    @join.autocomplete("challenge")
    @end.autocomplete("challenge")
    async def challenge_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        now = time.time()
        choices = []
        for row in await self.bot.core.store.open_challenges(interaction.guild_id):
            if current.lower() in row.title.lower():
                hours = max(0.0, (row.ends_at - now) / 3600)
                name = Text("{title} (ends in {hours} h)", title=row.title, hours=f"{hours:.1f}").render(interaction.locale)
                choices.append(app_commands.Choice(name=name[:100], value=row.id))
        return choices[:25]


async def setup(bot: MotionBot) -> None:
    bot.add_dynamic_items(JoinButton, VoteButton, UnvoteButton)
    bot.add_listener(on_join_form, "on_interaction")
    await bot.add_cog(ChallengeCog(bot, DiscordChallengePoster(bot)))


async def teardown(bot: MotionBot) -> None:
    bot.remove_listener(on_join_form, "on_interaction")
