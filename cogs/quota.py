"""/quota: how many credits are left today, when they reset, and my videos in progress with their place in line."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text
from bot.member_jobs import STATE_TEXTS, active_jobs

if TYPE_CHECKING:
    from bot.app import CoreApp
    from bot.discord_bot import MotionBot


async def active_lines(core: CoreApp, user_id: int, locale: object) -> list[str]:
    """The member's videos in progress, each with its place in line and estimate while it waits."""
    active = await active_jobs(core.store, user_id, core.origin, core.engine.config.provider_max_concurrency, time.time())
    lines = [Text("Your videos in progress:").render(locale)] if active else []
    for item in active:
        state = item.place.text(time.time()) if item.place else STATE_TEXTS[item.job.state]
        lines.append(f"• `{item.job.id}` {item.job.kind}: {state.render(locale)}")
    return lines


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
        lines += await active_lines(core, interaction.user.id, getattr(interaction, "locale", None))
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(QuotaCog(bot))
