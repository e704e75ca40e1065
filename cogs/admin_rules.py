"""/admin ban, /admin unban, /admin channels ..., /admin words ...: who, where and what may be generated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.admin_reports import channel_table
from bot.i18n import Text
from cogs.admin_common import ADMIN, guild_of, reply

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

CHANNELS = app_commands.Group(name="channels", description="Where the bot's video commands work", parent=ADMIN)
WORDS = app_commands.Group(name="words", description="Words and phrases prompts may not contain", parent=ADMIN)

ChannelChoice = discord.TextChannel | discord.Thread | discord.VoiceChannel


class AdminRulesCommands:
    bot: MotionBot

    @ADMIN.command(name="ban", description="Stop a member from making videos in this server")
    @app_commands.describe(member="Who", reason="Why (the member is told)", days="For how many days; leave empty for no end")
    async def ban(
        self, interaction: discord.Interaction, member: discord.Member, reason: str = "",
        days: app_commands.Range[int, 1, 3650] | None = None,
    ) -> None:
        until = await self.bot.core.admin.ban(guild_of(interaction), interaction.user.id, member.id, reason, days)
        if until is None:
            await reply(interaction, Text("{member} may not make videos in this server any more.", member=member.mention))
        else:
            await reply(interaction, Text("{member} may not make videos in this server until <t:{until}:f>.", member=member.mention, until=int(until)))

    @ADMIN.command(name="unban", description="Let a banned member make videos again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await self.bot.core.admin.unban(guild_of(interaction), interaction.user.id, member.id)
        await reply(interaction, Text("{member} may make videos again.", member=member.mention))

    async def _channel_rule(self, interaction: discord.Interaction, channel: ChannelChoice | None, rule: str | None) -> None:
        target = channel.id if channel is not None else interaction.channel_id
        assert target is not None
        await self.bot.core.admin.set_channel(guild_of(interaction), interaction.user.id, target, rule)  # type: ignore[arg-type]
        await reply(interaction, *await channel_table(self.bot.core.store, guild_of(interaction)))

    @CHANNELS.command(name="allow", description="Allow videos in a channel (then only in allowed channels)")
    @app_commands.describe(channel="The channel; leave empty for this one")
    async def channels_allow(self, interaction: discord.Interaction, channel: ChannelChoice | None = None) -> None:
        await self._channel_rule(interaction, channel, "allow")

    @CHANNELS.command(name="deny", description="No videos in a channel")
    @app_commands.describe(channel="The channel; leave empty for this one")
    async def channels_deny(self, interaction: discord.Interaction, channel: ChannelChoice | None = None) -> None:
        await self._channel_rule(interaction, channel, "deny")

    @CHANNELS.command(name="clear", description="Forget the rule of a channel")
    @app_commands.describe(channel="The channel; leave empty for this one")
    async def channels_clear(self, interaction: discord.Interaction, channel: ChannelChoice | None = None) -> None:
        await self._channel_rule(interaction, channel, None)

    @CHANNELS.command(name="list", description="Where videos can be made")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        await reply(interaction, *await channel_table(self.bot.core.store, guild_of(interaction)))

    @CHANNELS.command(name="nsfw-only", description="Videos only in age-restricted channels")
    @app_commands.describe(state="on or off")
    @app_commands.choices(state=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")])
    async def channels_nsfw_only(self, interaction: discord.Interaction, state: str) -> None:
        await self.bot.core.admin.set_nsfw_only(guild_of(interaction), interaction.user.id, state == "on")
        await reply(interaction, *await channel_table(self.bot.core.store, guild_of(interaction)))

    @WORDS.command(name="add", description="Refuse prompts containing a word or phrase")
    @app_commands.describe(word="A word or phrase (case and look-alike letters do not matter)")
    async def words_add(self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]) -> None:
        await self.bot.core.admin.add_word(guild_of(interaction), interaction.user.id, word)
        await reply(interaction, Text("Prompts containing “{word}” are refused now.", word=word.strip()))

    @WORDS.command(name="remove", description="Take a word or phrase off the list")
    @app_commands.describe(word="The word or phrase, as listed")
    async def words_remove(self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]) -> None:
        await self.bot.core.admin.remove_word(guild_of(interaction), interaction.user.id, word)
        await reply(interaction, Text("“{word}” is no longer on the list.", word=word.strip()))

    @WORDS.command(name="list", description="The words and phrases prompts may not contain")
    async def words_list(self, interaction: discord.Interaction) -> None:
        words = await self.bot.core.store.words(guild_of(interaction))
        if not words:
            await reply(interaction, Text("No words are listed."))
            return
        await reply(
            interaction,
            Text("Prompts containing these are refused ({number}):", number=len(words)),
            ", ".join(f"||{word}||" for word in words),
            Text("Spaced-out letters, repeated letters and misspellings are not caught; list those forms too."),
        )
