"""The fix button on a refusal that a trim or a pad would solve (bot/intake_fix.py).

Thin: `show_fix_offer` renders the refusal, what the fix does and costs, and ONE button. It is
registered with the one error handler (`@answers(FixOffered)`, bot/discord_tree.py), so wherever
FixOffered is raised (/motion, a remix form, a challenge entry) the member gets the button. The
button (a DynamicItem with the offer id in its custom id, so it works after a restart) asks the
core to apply the fix and queue the job, then shows the usual private status.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord

from bot.discord_text import job_marker
from bot.discord_tree import (
    ReportedItem,
    answer_privately,
    answers,
    asker_for,
    refusal_text,
    say,
)
from bot.i18n import Text
from bot.intake_fix import FixOffered
from cogs.motion import cancel_view

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


class FixButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=r"fix:apply:(?P<offer_id>[0-9a-f]{12})"):
    """"Trim to the first 10 s" / "Pad to 5:2": apply the offered fix and go on."""

    def __init__(self, offer_id: str, label: str | None = None) -> None:
        label = label or str(Text("Fix it", msgctxt="button"))  # a restart rebuilds it from the sent label
        super().__init__(
            discord.ui.Button(label=label[:80], style=discord.ButtonStyle.success, custom_id=f"fix:apply:{offer_id}")
        )
        self.offer_id = offer_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> FixButton:
        return cls(match["offer_id"], label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MotionBot = interaction.client  # type: ignore[assignment]
        await interaction.response.defer(ephemeral=True, thinking=True)
        job, price = await bot.core.accept_fix(self.offer_id, asker_for(interaction, "fix"))
        text = Text("Fixed and queued: this video costs {credits} credits.", credits=price.credits)
        await interaction.edit_original_response(
            content=f"{text.render(interaction.locale)}\n{job_marker(job.id, interaction.locale)}",
            view=cancel_view(job.id, interaction.locale),
        )
        bot.notifier.track(job.id, interaction)


@answers(FixOffered)  # wherever it is raised (/motion, a remix, a challenge entry), report_error shows this
async def show_fix_offer(interaction: discord.Interaction, offered: FixOffered) -> None:
    """The refusal, what the fix would do and cost, and the one button (private, like any refusal)."""
    locale = interaction.locale
    offer = offered.offer
    lines = [f"❌ {say(refusal_text(offered.refusal), locale)}", *(text.render(locale) for text in offer.explain())]
    label = " + ".join(text.render(locale) for text in offer.label())
    view = discord.ui.View(timeout=None).add_item(FixButton(offer.offer_id, label))
    await answer_privately(interaction, "\n".join(lines)[:2000], view=view)


async def setup(bot: MotionBot) -> None:
    bot.add_dynamic_items(FixButton)
