"""/admin credits ...: daily allowances by role, grants and takes; /admin refund; /admin budget ..."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.admin_reports import credits_table
from bot.i18n import Text
from cogs.admin_common import ADMIN, guild_of, reply, was

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

CREDITS = app_commands.Group(name="credits", description="Daily credits by role, and credits for one member", parent=ADMIN)
BUDGET = app_commands.Group(name="budget", description="What this server may spend and run at once", parent=ADMIN)

NO_EXPIRY = Text("Granted credits do not expire at the daily reset.")


class AdminCreditsCommands:
    bot: MotionBot

    @CREDITS.command(name="default", description="Daily credits for every member without a role tier")
    @app_commands.describe(credits="Credits per member per day (0: none, only granted credits)")
    async def credits_default(self, interaction: discord.Interaction, credits: app_commands.Range[int, 0, 1_000_000]) -> None:
        old, new = await self.bot.core.admin.set_default(guild_of(interaction), interaction.user.id, credits)
        await reply(interaction, Text("Daily credits for every member: {old} → **{new}**.", old=was(old), new=new))

    @CREDITS.command(name="role", description="Daily credits for members with a role (0: may not make videos)")
    @app_commands.describe(role="The role", credits="Credits per day; leave empty to remove the role's tier")
    async def credits_role(
        self, interaction: discord.Interaction, role: discord.Role, credits: app_commands.Range[int, 0, 1_000_000] | None = None
    ) -> None:
        old, new = await self.bot.core.admin.set_role(guild_of(interaction), interaction.user.id, role.id, credits)
        if new is None:
            await reply(interaction, Text("{role} no longer has its own daily credits.", role=role.mention))
        elif new == 0:
            await reply(interaction, Text("{role} may not make videos now.", role=role.mention))
        else:
            await reply(interaction, Text("Daily credits for {role}: {old} → **{new}**.", role=role.mention, old=was(old), new=new))

    @CREDITS.command(name="show", description="The daily credits of every role and the server's budget")
    async def credits_show(self, interaction: discord.Interaction) -> None:
        core = self.bot.core
        await reply(interaction, *await credits_table(core.store, core.quotas, guild_of(interaction)))

    @CREDITS.command(name="grant", description="Give a member extra credits (they do not expire at the daily reset)")
    @app_commands.describe(member="Who gets them", amount="How many credits", reason="Why (shown in the audit log)")
    async def credits_grant(
        self, interaction: discord.Interaction, member: discord.Member, amount: app_commands.Range[int, 1, 1_000_000],
        reason: str = "",
    ) -> None:
        wallet = await self.bot.core.admin.grant(guild_of(interaction), interaction.user.id, member.id, amount, reason)
        await reply(
            interaction,
            Text("Granted {amount} credits to {member}; they now have {wallet} granted credits.", amount=amount, member=member.mention, wallet=wallet),
            NO_EXPIRY,
        )

    @CREDITS.command(name="take", description="Take back granted credits from a member")
    @app_commands.describe(member="From whom", amount="How many credits", reason="Why (shown in the audit log)")
    async def credits_take(
        self, interaction: discord.Interaction, member: discord.Member, amount: app_commands.Range[int, 1, 1_000_000],
        reason: str = "",
    ) -> None:
        wallet = await self.bot.core.admin.take(guild_of(interaction), interaction.user.id, member.id, amount, reason)
        await reply(
            interaction,
            Text("Took {amount} credits from {member}; they have {wallet} granted credits left.", amount=amount, member=member.mention, wallet=wallet),
        )

    @ADMIN.command(name="refund", description="Give back the credits a finished job cost (once per job)")
    @app_commands.describe(job="The id shown under the job's status message", reason="Why (shown in the audit log)")
    async def refund(self, interaction: discord.Interaction, job: str, reason: str = "") -> None:
        member, credits = await self.bot.core.admin.refund(guild_of(interaction), interaction.user.id, job, reason)
        await reply(interaction, Text("Refunded {credits} credits of job {job} to <@{member}>.", credits=credits, job=job.strip(), member=member))

    @BUDGET.command(name="daily", description="Credits the whole server may spend per day (0: no budget)")
    @app_commands.describe(credits="Credits per day for the whole server")
    async def budget_daily(self, interaction: discord.Interaction, credits: app_commands.Range[int, 0, 100_000_000]) -> None:
        old, new = await self.bot.core.admin.set_budget(guild_of(interaction), interaction.user.id, "daily", credits)
        await reply(interaction, Text("Server's daily budget: {old} → **{new}** credits (0: no budget).", old=was(old), new=new))

    @BUDGET.command(name="jobs", description="Videos this server may have in progress at once (0: no limit)")
    @app_commands.describe(videos="How many at once")
    async def budget_jobs(self, interaction: discord.Interaction, videos: app_commands.Range[int, 0, 100]) -> None:
        old, new = await self.bot.core.admin.set_budget(guild_of(interaction), interaction.user.id, "jobs", videos)
        await reply(interaction, Text("Videos in progress at once: {old} → **{new}** (0: no limit). More wait in the queue.", old=was(old), new=new))
