"""/jobs (my recent videos, paged with buttons) and /cancel (one of my waiting videos).

Thin: the core (bot/member_jobs.py) reads and cancels; this renders. Both answers are private.
The page buttons carry the member and the page in their custom id, so they work after a restart.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_tree import ReportedItem
from bot.errors import Refusal
from bot.i18n import Stored, Text
from bot.member_jobs import (
    STATE_ICONS,
    STATE_TEXTS,
    active_jobs,
    cancel_own,
    credits_text,
    jobs_page,
)
from bot.models import JobState
from bot.store import JobRow
from cogs.challenge_views import answer_privately, jump_url, say

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


def job_line(job: JobRow, locale: object) -> str:
    """"✅ `abc123` motion · done · <t:…:R> · 3 credits · <link>" (or the reason it failed)."""
    parts = [
        f"{STATE_ICONS[job.state]} `{job.id}` {job.kind}",
        STATE_TEXTS[job.state].render(locale),
        f"<t:{int(job.created_at)}:R>",
        credits_text(job).render(locale),
    ]
    if job.state is JobState.DELIVERED and job.message_id:
        parts.append(jump_url(job.guild_id, job.channel_id, job.message_id))
    elif job.state in (JobState.FAILED, JobState.EXPIRED) and job.error_message:
        parts.append(say(Text("Reason: {reason}", reason=Stored(job.error_message[:200])), locale))
    return " · ".join(parts)


async def page_message(bot: MotionBot, user_id: int, page: int, locale: object) -> tuple[str, discord.ui.View | None]:
    shown = await jobs_page(bot.core.store, user_id, page)
    if not shown.jobs:
        return say(Text("You have not made any videos yet. Start with /motion."), locale), None
    header = Text("Your videos, newest first (page {page} of {pages}, {total} in all):", page=shown.page + 1, pages=shown.pages, total=shown.total)
    content = "\n".join([say(header, locale), *(job_line(job, locale) for job in shown.jobs)])
    if shown.pages == 1:
        return content, None
    view = discord.ui.View(timeout=None)
    view.add_item(JobsPageButton(user_id, shown.page - 1, Text("Newer", msgctxt="button").render(locale), disabled=shown.page == 0))
    view.add_item(
        JobsPageButton(user_id, shown.page + 1, Text("Older", msgctxt="button").render(locale), disabled=shown.page + 1 >= shown.pages)
    )
    return content, view


class JobsPageButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=r"jobs:page:(?P<user_id>[0-9]+):(?P<page>-?[0-9]+)"):
    def __init__(self, user_id: int, page: int, label: str = "…", disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(label=label, style=discord.ButtonStyle.secondary, custom_id=f"jobs:page:{user_id}:{page}", disabled=disabled)
        )
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> JobsPageButton:
        return cls(int(match["user_id"]), int(match["page"]), label=item.label or "…")

    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.user_id:  # private anyway; a forwarded id must not show another's list
            raise Refusal(Text("These are not your videos; use /jobs."))
        content, view = await page_message(interaction.client, self.user_id, self.page, interaction.locale)  # type: ignore[arg-type]
        await interaction.response.edit_message(content=content, view=view)


class JobsCog(commands.Cog):
    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @app_commands.command(name="jobs", description="Your recent videos: state, credits, result or reason")
    async def jobs(self, interaction: discord.Interaction) -> None:
        content, view = await page_message(self.bot, interaction.user.id, 0, interaction.locale)
        await interaction.response.send_message(content, view=view or discord.utils.MISSING, ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your videos that has not started yet")
    @app_commands.describe(job="One of your videos in progress")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        said = await cancel_own(self.bot.core.engine, job.strip(), interaction.user.id, interaction.locale)
        await answer_privately(interaction, said)

    @cancel.autocomplete("job")
    async def job_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        core = self.bot.core
        mine = await active_jobs(core.store, interaction.user.id, core.origin, core.engine.config.provider_max_concurrency, time.time())
        choices = []
        for active in reversed(mine):  # newest first
            job = active.job
            where = f" #{active.place.place}" if active.place else ""
            name = f"{job.id} · {job.kind} · {STATE_TEXTS[job.state].render(interaction.locale)}{where}"
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=job.id))
        return choices[:25]


async def setup(bot: MotionBot) -> None:
    bot.add_dynamic_items(JobsPageButton)
    await bot.add_cog(JobsCog(bot))
