"""/admin prices ..., /admin usage, /admin audit: what admins read (and the owners' price changes)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.admin_reports import (
    MAX_AUDIT_ROWS,
    MAX_USAGE_DAYS,
    audit_lines,
    price_table,
    usage_report,
)
from bot.i18n import Text
from cogs.admin_common import ADMIN, guild_of, reply, was

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

PRICES = app_commands.Group(name="prices", description="Credits per second of video", parent=ADMIN)


class AdminReportCommands:
    bot: MotionBot

    @PRICES.command(name="show", description="The price table: credits per second by provider, kind, model and mode")
    async def prices_show(self, interaction: discord.Interaction) -> None:
        await reply(interaction, *price_table())

    @PRICES.command(name="set", description="Change one price for the whole bot (bot owners only)")
    @app_commands.describe(
        provider="Provider", kind="motion or animate", mode="std or pro", credits="Credits per second of video",
        model="/animate only: the model",
    )
    @app_commands.choices(
        kind=[app_commands.Choice(name="motion", value="motion"), app_commands.Choice(name="animate", value="animate")],
        mode=[app_commands.Choice(name="std", value="std"), app_commands.Choice(name="pro", value="pro")],
    )
    async def prices_set(
        self, interaction: discord.Interaction, provider: str, kind: str, mode: str,
        credits: app_commands.Range[int, 1, 1000], model: str = "",
    ) -> None:
        key = (provider, kind, model if kind == "animate" else "", mode)
        old, new = await self.bot.core.admin.set_price(guild_of(interaction), interaction.user.id, key, credits)
        await reply(
            interaction,
            Text("Price of {row}: {old} → **{new}** credits per second. Jobs already queued keep their price.",
                 row=" ".join(part for part in key if part), old=was(old), new=new),
        )

    @ADMIN.command(name="usage", description="Credits spent per day: a chart and a CSV file")
    @app_commands.describe(days="How many days back (today included)", by="Split by member, provider or kind", scope="all: every server (bot owners only)")
    @app_commands.choices(
        by=[
            app_commands.Choice(name="member", value="member"),
            app_commands.Choice(name="provider", value="provider"),
            app_commands.Choice(name="kind", value="kind"),
        ],
        scope=[app_commands.Choice(name="this server", value="server"), app_commands.Choice(name="all", value="all")],
    )
    async def usage(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, MAX_USAGE_DAYS] = 14,
        by: str = "member", scope: str = "server",
    ) -> None:
        core = self.bot.core
        if scope == "all":
            core.admin.require_owner(interaction.user.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild

        def name_of(user_id: str) -> str:
            member = guild.get_member(int(user_id)) if guild is not None and user_id.isdigit() else None
            return member.display_name if member is not None else user_id

        report = await usage_report(
            core.store, core.quotas, None if scope == "all" else guild_of(interaction), days=days,
            by=by, locale=interaction.locale, name_of=name_of,  # type: ignore[arg-type]
        )
        await reply(
            interaction,
            Text("{total} credits spent in the last {days} days.", total=report.total, days=report.days),
            files=[discord.File(io.BytesIO(report.png), "usage.png"), discord.File(io.BytesIO(report.csv), "usage.csv")],
        )

    @ADMIN.command(name="audit", description="The latest admin changes: who, what, old → new, when")
    @app_commands.describe(member="Only changes made by or to this member", count="How many (newest first)")
    async def audit(
        self, interaction: discord.Interaction, member: discord.Member | None = None,
        count: app_commands.Range[int, 1, MAX_AUDIT_ROWS] = 10,
    ) -> None:
        rows = await self.bot.core.store.audit(guild_of(interaction), member_id=member.id if member else None, limit=count)
        await reply(interaction, *audit_lines(rows))
