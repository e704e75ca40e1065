"""Admin commands: which provider a server uses; the owner's forced command sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.pricing import PRICE_TABLE

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


async def is_owner(interaction: discord.Interaction) -> bool:
    return await interaction.client.is_owner(interaction.user)  # type: ignore[attr-defined]


class AdminCog(commands.Cog):
    # Server admins see these by default; owners of the server can hand them to other roles.
    admin = app_commands.Group(
        name="admin",
        description="Bot settings for this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @admin.command(name="provider", description="Show or choose the video service this server uses")
    @app_commands.describe(name="A configured provider; leave empty to see the current one and the choices")
    async def provider(self, interaction: discord.Interaction, name: str | None = None) -> None:
        core = self.bot.core
        assert interaction.guild_id is not None
        if name:
            if name not in core.providers:
                await interaction.response.send_message(
                    f"❌ {name} is not configured. Configured: {', '.join(sorted(core.providers))}.", ephemeral=True
                )
                return
            await core.set_guild_provider(interaction.guild_id, name, interaction.user.id)
        current = await core.provider_for(interaction.guild_id)
        lines = [f"{'Now using' if name else 'Using'} **{current}** for videos in this server."]
        for provider_name in sorted(core.providers):
            caps = core.providers[provider_name].capabilities
            rates = ", ".join(
                f"{row.mode} {row.credits_per_second}/s" for row in PRICE_TABLE if row.provider == provider_name
            )
            extras = [label for label, on in (("keeps sound", caps.keep_sound), ("motion templates", caps.motion_templates)) if on]
            marker = "→ " if provider_name == current else "• "
            lines.append(f"{marker}`{provider_name}`: credits {rates}" + (f"; {', '.join(extras)}" if extras else ""))
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @provider.autocomplete("name")
    async def provider_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in sorted(self.bot.core.providers) if current.lower() in n][:25]

    @admin.command(name="sync", description="Push the slash commands to Discord now (bot owner only)")
    @app_commands.check(is_owner)
    async def sync(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.sync_commands(force=True)
        await interaction.edit_original_response(content="Slash commands synced.")


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(AdminCog(bot))
