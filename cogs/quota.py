"""/quota: how many credits are left today, granted credits, and when the daily ones reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


def role_ids_of(user: discord.abc.User) -> tuple[int, ...]:
    """A member's roles (their allowance depends on them); none outside a server."""
    return tuple(role.id for role in getattr(user, "roles", ()))


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
        await interaction.response.send_message(
            "\n".join(line.render(interaction.locale) if isinstance(line, Text) else line for line in lines),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(QuotaCog(bot))
