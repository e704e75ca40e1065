"""The buttons on a posted result (Use this motion, Another motion, Details, Delete) and Try again
on a failed job's status.

Thin: each button carries the job id in its custom id (a DynamicItem, so it works after a
restart), asks the core (bot/remix.py, bot/results.py) and renders the answer; refusals and
provider errors are raised to the one error handler (bot/discord_tree.py `report_error`).
"Use this motion" and "Another motion" open a modal with a file upload (discord.py 2.7); a new
job's result is posted as a reply to the result it came from (`result_post_parts`, used by the
notifier).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import discord

from bot.discord_text import job_marker
from bot.discord_tree import (
    GenerationItem,
    ReportedItem,
    ReportedModal,
    asker_for,
    requester_for,
)
from bot.errors import Refusal
from bot.i18n import Text
from bot.remix import (
    RETRYABLE_STATES,
    RemixRefused,
    remix,
    retry,
    source_job,
    stored_inputs,
)
from bot.results import details, may_delete
from bot.store import JobRow
from cogs.motion import cancel_view, incoming

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

JOB_ID = r"(?P<job_id>[0-9a-f]{12})"
Want = Literal["image", "video"]


def _bot(interaction: discord.Interaction) -> MotionBot:
    return interaction.client  # type: ignore[return-value]


def message_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


async def _queued(interaction: discord.Interaction, job: JobRow, credits: int, reply: bool) -> None:
    """The private status of a new job (its later edits come from the engine, as for /motion)."""
    if reply:
        text = Text(
            "Queued: this video costs {credits} credits, charged to you. Its result will be posted as a reply "
            "to the original.",
            credits=credits,
        )
    else:
        text = Text("Queued: this video costs {credits} credits, charged to you.", credits=credits)
    await interaction.edit_original_response(
        content=f"{text.render(interaction.locale)}\n{job_marker(job.id, interaction.locale)}",
        view=cancel_view(job.id, interaction.locale),
    )
    _bot(interaction).notifier.track(job.id, interaction)


class RemixModal(ReportedModal):
    """One file: the member's photo ("Use this motion") or a new reference video ("Another motion")."""

    def __init__(self, job_id: str, want: Want, locale: object, reply_to: int | None) -> None:
        title = (
            Text("Use this motion", msgctxt="button") if want == "image" else Text("Another motion", msgctxt="button")
        ).render(locale)
        # Everything the submit needs is in the custom id, so a restart between opening the form and
        # sending it loses nothing (see `on_modal_submit`).
        super().__init__(title=title[:45], custom_id=f"remix:{want}:{job_id}:{reply_to or 0}", timeout=None)
        self.job_id, self.want, self.reply_to = job_id, want, reply_to
        self.upload: discord.ui.FileUpload = discord.ui.FileUpload(custom_id="file", required=False, max_values=1)
        if want == "image":
            label = Text("Your photo (JPG or PNG)")
            hint = Text("A clear photo or drawing showing the head and body.")
        else:
            label = Text("The motion to copy: a video (MP4 or MOV)")
            hint = Text("One continuous shot, 3–30 s.")
        self.add_item(discord.ui.Label(text=label.render(locale)[:45], description=hint.render(locale)[:100], component=self.upload))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        files = self.upload.values
        if not files:
            # Older apps show the form without its upload field: say how to do it with the command.
            await interaction.response.send_message(await _command_hint(bot, self.job_id, self.want, interaction.locale), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        given = incoming(files[0])
        job, price = await remix(
            bot.core,
            self.job_id,
            requester_for(interaction),
            asker_for(interaction, "remix"),
            image=given if self.want == "image" else None,
            video=given if self.want == "video" else None,
            reply_to_message_id=self.reply_to,
            reply_channel_id=interaction.channel_id,
        )
        await _queued(interaction, job, price.credits, reply=True)


async def _command_hint(bot: MotionBot, job_id: str, want: Want, locale: object) -> str:
    job = await bot.core.store.get_job(job_id)
    template = ((job.request.get("options") or {}).get("motion_template") if job else None) or None
    if want == "image" and template:
        text = Text(
            "Your Discord app cannot show the upload form. Update it, or run /motion with image: your photo "
            "and template: {template}.",
            template=template,
        )
    elif want == "image":
        text = Text(
            "Your Discord app cannot show the upload form. Update it, or run /motion with image: your photo "
            "and video: the same reference clip."
        )
    else:
        text = Text(
            "Your Discord app cannot show the upload form. Update it, or run /motion with image: your photo "
            "and video: the new clip."
        )
    return text.render(locale)


class _ResultButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"result:_base:{JOB_ID}"):
    # (the base is never registered; each button below has its own template)
    """A button on a result post; subclasses set `action` (in the custom id) and `callback`."""

    action = ""

    def __init__(self, job_id: str, label: str = "", style: discord.ButtonStyle = discord.ButtonStyle.secondary) -> None:
        super().__init__(discord.ui.Button(label=label or self.action, style=style, custom_id=f"result:{self.action}:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> _ResultButton:
        return cls(match["job_id"], label=item.label or "", style=item.style)


class _OpensModal(GenerationItem, _ResultButton, template=rf"result:_modal:{JOB_ID}"):
    gate_action = "remix"
    want: Want = "image"

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        job = await source_job(bot.core, self.job_id)
        if self.want == "video" and job.user_id != interaction.user.id:
            raise RemixRefused(Text("Only the member who made this video can reuse their own photo."))
        await stored_inputs(bot.core, job)  # the files may be gone: say so before the form
        reply_to = interaction.message.id if interaction.message else None
        modal = RemixModal(self.job_id, self.want, interaction.locale, reply_to)
        modal.stop()  # never kept in memory: `on_modal_submit` answers every submit from its custom id
        await interaction.response.send_modal(modal)


class UseMotionButton(_OpensModal, template=rf"result:use:{JOB_ID}"):
    action = "use"
    want = "image"


class AnotherMotionButton(_OpensModal, template=rf"result:another:{JOB_ID}"):
    action = "another"
    want = "video"


class DetailsButton(_ResultButton, template=rf"result:details:{JOB_ID}"):
    action = "details"

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        job = await bot.core.store.get_job(self.job_id)
        if job is None:
            text = Text("This video is not known to the bot any more.").render(interaction.locale)
        else:
            lines = await details(bot.core, job, message_link)
            text = "\n".join(line.render(interaction.locale) for line in lines)
        await interaction.response.send_message(text[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


class DeleteButton(_ResultButton, template=rf"result:delete:{JOB_ID}"):
    action = "delete"

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        job = await bot.core.store.get_job(self.job_id)
        manages = bool(interaction.permissions.manage_messages)
        if job is None or not may_delete(job, interaction.user.id, manages_messages=manages):
            raise Refusal(Text("Only the member who asked for this video, or a moderator, can delete it."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.message is not None:
            try:
                await interaction.message.delete()
            except discord.NotFound:
                pass  # already gone
        text = Text("Deleted. The job stays in the records.")
        await interaction.edit_original_response(content=text.render(interaction.locale))


class TryAgainButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"job:retry:{JOB_ID}"):
    """On a failed job's status: the same inputs and options again, checked and charged again."""

    def __init__(self, job_id: str, label: str = "Try again") -> None:
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=f"job:retry:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> TryAgainButton:
        return cls(match["job_id"], label=item.label or "Try again")

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        job, price = await retry(
            bot.core, self.job_id, requester_for(interaction), asker_for(interaction, "retry"),
            reply_channel_id=interaction.channel_id,
        )
        await _queued(interaction, job, price.credits, reply=False)


# --- what the notifier adds to its posts -----------------------------------------------------------


def _guild_locale(bot: MotionBot, guild_id: int | None) -> object:
    guild = bot.get_guild(guild_id) if guild_id else None
    return guild.preferred_locale if guild is not None else None


def result_view(job: JobRow, locale: object) -> discord.ui.View:
    """The buttons under a posted result; labels in the server's language."""
    view = discord.ui.View(timeout=None)
    view.add_item(UseMotionButton(job.id, Text("Use this motion", msgctxt="button").render(locale), discord.ButtonStyle.primary))
    if job.kind == "motion":  # an /animate result has no reference video to swap
        view.add_item(AnotherMotionButton(job.id, Text("Another motion", msgctxt="button").render(locale)))
    view.add_item(DetailsButton(job.id, Text("Details", msgctxt="button").render(locale)))
    view.add_item(DeleteButton(job.id, Text("Delete", msgctxt="button").render(locale), discord.ButtonStyle.danger))
    return view


async def result_post_parts(bot: MotionBot, job: JobRow) -> tuple[discord.ui.View, discord.MessageReference | None]:
    """The buttons of a result post, and the message it answers (a remix replies to its original)."""
    view = result_view(job, _guild_locale(bot, job.guild_id))
    link = await bot.core.store.job_link(job.id)
    reference = None
    if link is not None and link.reply_to_message_id and link.reply_channel_id in (None, job.channel_id):
        reference = discord.MessageReference(
            message_id=link.reply_to_message_id,
            channel_id=job.channel_id,
            guild_id=job.guild_id,
            fail_if_not_exists=False,  # the original may have been deleted meanwhile: post anyway
        )
    return view, reference


def failure_view(bot: MotionBot, job: JobRow, locale: object | None = None) -> discord.ui.View | None:
    """Try again on a failed job's status (not on a cancelled one: the member stopped it)."""
    if job.state not in RETRYABLE_STATES:
        return None
    label = Text("Try again", msgctxt="button").render(locale if locale is not None else _guild_locale(bot, job.guild_id))
    return discord.ui.View(timeout=None).add_item(TryAgainButton(job.id, label))


ITEMS = (UseMotionButton, AnotherMotionButton, DetailsButton, DeleteButton, TryAgainButton)
MODAL_ID = re.compile(rf"remix:(?P<want>image|video):{JOB_ID}:(?P<reply_to>[0-9]+)")


async def on_modal_submit(interaction: discord.Interaction) -> None:
    """A remix form sent back: rebuilt from its custom id, as a DynamicItem is for a button
    (discord.py has no such thing for modals, and by default drops a submit it does not hold, e.g.
    after a restart, or when two members opened the same form)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = MODAL_ID.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return
    want: Want = "image" if match["want"] == "image" else "video"
    modal = RemixModal(match["job_id"], want, interaction.locale, int(match["reply_to"]) or None)
    modal.stop()
    # The library's own path for a held modal: fills the inputs (uploads included), then on_submit.
    await modal._dispatch_submit(interaction, data.get("components", []), data.get("resolved", {}))


async def setup(bot: MotionBot) -> None:
    bot.add_dynamic_items(*ITEMS)
    bot.add_listener(on_modal_submit, "on_interaction")


async def teardown(bot: MotionBot) -> None:
    bot.remove_listener(on_modal_submit, "on_interaction")
