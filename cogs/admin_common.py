"""What every /admin command shares: the group, private answers in the admin's language.
(Refusals are raised and answered by the tree's one error handler, bot/discord_tree.py.)

The /admin group lives here so the command modules (cogs/admin_*.py) can add their commands to
it; cogs/admin.py puts them together in one cog.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord import app_commands

from bot.i18n import Text

# Server admins see these by default (Manage Server); a server's owner can hand them to other
# roles in Discord's integration settings. Bot-wide changes are checked against OWNER_IDS on every call.
ADMIN = app_commands.Group(
    name="admin",
    description="Bot settings for this server",
    default_permissions=discord.Permissions(manage_guild=True),
    guild_only=True,
)
NO_PINGS = discord.AllowedMentions.none()


def render(lines: Sequence[Text | str], locale: object | None) -> str:
    text = "\n".join(line.render(locale) if isinstance(line, Text) else line for line in lines)
    return text if len(text) <= 2000 else text[:1999] + "…"


async def reply(interaction: discord.Interaction, *lines: Text | str, files: Sequence[discord.File] = ()) -> None:
    """A private answer in the admin's own Discord language."""
    content = render(lines, interaction.locale)
    if interaction.response.is_done():
        await interaction.edit_original_response(content=content, attachments=list(files), allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(content, files=list(files), ephemeral=True, allowed_mentions=NO_PINGS)


def guild_of(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # the group is guild-only
    return interaction.guild_id


def was(value: object) -> object:
    """An old setting as shown in "old → new" (— when there was none)."""
    return "—" if value is None else value
