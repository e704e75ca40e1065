"""/quota: how many credits are left today, and when they reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


class QuotaCog(commands.Cog):
    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="Show your video credits left today")
    async def quota(self, interaction: discord.Interaction) -> None:
        core = self.bot.core
        status = await core.quotas.status(core.store, interaction.user.id, interaction.guild_id)
        reset = discord.utils.format_dt(status.resets_at, "R")
        lines = [
            f"You have **{status.left}** of {status.allowance + status.granted} credits left today (resets {reset}).",
            f"Videos in progress: {status.active_jobs} (limit {core.quotas.max_active_per_user}).",
        ]
        if status.guild_left is not None:
            lines.append(f"This server's budget has {status.guild_left} credits left today.")
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(QuotaCog(bot))
