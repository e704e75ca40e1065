"""/admin: one cog holding every admin command; the areas live in cogs/admin_*.py.

Their commands hang from the one /admin group (cogs/admin_common.py), attached once when those
modules are first imported; this module (which discord.py runs again on each extension load)
only puts them together. Default permission Manage Server; bot-wide changes are for OWNER_IDS,
checked on every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.admin_common import ADMIN
from cogs.admin_credits import AdminCreditsCommands
from cogs.admin_reports import AdminReportCommands
from cogs.admin_rules import AdminRulesCommands
from cogs.admin_server import AdminServerCommands, is_owner

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

__all__ = ["AdminCog", "is_owner"]


class AdminCog(AdminServerCommands, AdminCreditsCommands, AdminRulesCommands, AdminReportCommands, commands.Cog):
    admin = ADMIN

    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot


async def setup(bot: MotionBot) -> None:
    await bot.add_cog(AdminCog(bot))
