"""/quota: credits left today, granted credits, when the daily ones reset, and my videos in progress."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_tree import role_ids_of
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
        status = await core.quotas.status(core.store, interaction.user.id, interaction.guild_id, role_ids_of(interaction.user))
        reset = discord.utils.format_dt(status.resets_at, "R")
        if status.blocked_by is not None:
            lines = [Text("Your role {role} may not make videos in this server.", role=f"<@&{status.blocked_by}>")]
        else:
            lines = [
                Text("You have **{left}** credits left today: {daily} of {allowance} daily credits (they reset {reset}) and {granted} granted credits.",
                     left=status.left, daily=max(0, status.allowance - status.used), allowance=status.allowance, reset=reset,
                     granted=max(0, status.granted)),
                Text("Granted credits do not expire at the daily reset."),
            ]
        history = await core.store.member_ledger(interaction.user.id, interaction.guild_id)
        if history:
            lines.append(Text("Latest changes by admins:"))
            labels = {"grant": "+", "take": "−", "admin_refund": "↩ +"}
            for row in history:
                reason = f" ({row['reason']})" if row["reason"] else ""
                lines.append(f"<t:{int(row['at'])}:d> {labels[row['kind']]}{row['amount']}{reason}")
        lines.append(Text("Videos in progress: {active} (limit {limit}).", active=status.active_jobs, limit=core.quotas.max_active_per_user))
        if status.guild_left is not None:
            lines.append(Text("This server's budget has {left} credits left today.", left=status.guild_left))
        lines += await active_lines(core, interaction.user.id, interaction.locale)
        await interaction.response.send_message(
            "\n".join(line.render(interaction.locale) if isinstance(line, Text) else line for line in lines),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(QuotaCog(bot))
