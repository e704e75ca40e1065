"""Owner commands: force a slash-command sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


async def is_owner(interaction: discord.Interaction) -> bool:
    return await interaction.client.is_owner(interaction.user)  # type: ignore[attr-defined]


class AdminCog(commands.Cog):
    admin = app_commands.Group(name="admin", description="Bot owner commands", default_permissions=discord.Permissions(administrator=True))

    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @admin.command(name="sync", description="Push the slash commands to Discord now (owner only)")
    @app_commands.check(is_owner)
    async def sync(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.sync_commands(force=True)
        await interaction.edit_original_response(content="Slash commands synced.")


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(AdminCog(bot))
