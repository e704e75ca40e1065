"""/motion: a character image + a reference motion video -> a video of the character doing the motion."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_tree import ReportedItem, defer_privately, role_ids_of
from bot.errors import ProviderError
from bot.i18n import Text
from bot.intake import IncomingFile, precheck
from bot.line import Place, place_of
from bot.models import MotionOptions, Requester
from bot.pricing import Price

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


def incoming(attachment: discord.Attachment) -> IncomingFile:
    return IncomingFile(
        filename=attachment.filename,
        size=attachment.size,
        content_type=(attachment.content_type or "").split(";")[0] or None,
        width=attachment.width,
        height=attachment.height,
        url=attachment.url,
    )


class CancelJobButton(
    ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=r"job:cancel:(?P<job_id>[0-9a-f]{12})"
):
    """Cancel on the status message; the job id lives in the custom_id, so it works after a restart."""

    def __init__(self, job_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(Text("Cancel", msgctxt="button")), style=discord.ButtonStyle.secondary, custom_id=f"job:cancel:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> CancelJobButton:
        return cls(match["job_id"], label=getattr(item, "label", None))  # the base Button (label in its language)

    async def callback(self, interaction: discord.Interaction) -> None:
        text = await interaction.client.core.engine.cancel(self.job_id, interaction.user.id)  # type: ignore[attr-defined]
        await interaction.response.send_message(text.render(interaction.locale), ephemeral=True)


def cancel_view(job_id: str, locale: object | None = None) -> discord.ui.View:
    label = Text("Cancel", msgctxt="button").render(locale)
    return discord.ui.View(timeout=None).add_item(CancelJobButton(job_id, label=label))


def queued_text(job_id: str, line: Place | None, price: Price, left: int, locale: object | None, now: float) -> str:
    """The first status: place in line (with its estimate) or starting now, the price, what is left."""
    place = Text("Queued (#{position} in line)", position=line.place) if line else Text("Starting now")
    lines = (
        Text(
            "{place}. This video costs {credits} credits ({price}); you have {left} left today.",
            place=place, credits=price.credits, price=price.explain(), left=left,
        ).render(locale),
        *([line.text(now).render(locale)] if line else []),
        Text("The result will be posted in this channel.").render(locale),
        "-# " + Text("job `{job_id}`", job_id=job_id).render(locale),
    )
    return "\n".join(lines)


def motion_payload(
    options: MotionOptions, image: IncomingFile, video: IncomingFile | None, upload_limit: int,
    role_ids: tuple[int, ...] = (),
) -> dict[str, Any]:
    """What a restart needs to finish /motion (bot/discord_intake.py): plain JSON. The member's
    roles are kept as they were when asked: their allowance depends on them."""
    files = {"image": vars(image).copy(), "video": vars(video).copy() if video else None}  # flat: cheaper than asdict
    return {
        "options": options.model_dump(mode="json"), "upload_limit": upload_limit, "role_ids": list(role_ids), **files,
    }


async def take_motion(bot: MotionBot, interaction: discord.Interaction, payload: dict[str, Any]) -> None:
    """After the deferral: check the metadata, fetch and check the inputs, queue the job, show its
    price and Cancel. Runs for the live interaction and, after a crash, for its TokenAnswer."""
    core = bot.core
    options = MotionOptions.model_validate(payload["options"])
    image = IncomingFile(**payload["image"])
    video = IncomingFile(**payload["video"]) if payload["video"] else None
    provider = await core.provider_for(interaction.guild_id)
    # What the metadata already rules out is refused before any download.
    precheck(image, video, options, core.providers[provider].capabilities, provider)
    requester = Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        upload_limit=payload["upload_limit"],
        intake_id=str(interaction.id),  # the job's transaction settles the acknowledged request
        role_ids=tuple(payload.get("role_ids", ())),
    )
    # Almost right raises FixOffered: report_error shows its one button (cogs/fixes.py), also
    # through a TokenAnswer after a restart.
    job, price = await core.submit_motion(requester, image, video, options, provider)
    now = time.time()
    line = await place_of(core.store, job.id, core.origin, core.engine.config.provider_max_concurrency, now)
    status = await core.quotas.status(core.store, interaction.user.id, interaction.guild_id, requester.role_ids)
    await interaction.edit_original_response(
        content=queued_text(job.id, line, price, status.left, interaction.locale, now),
        view=cancel_view(job.id, interaction.locale),
    )
    # Only now: the engine's later status edits must land after this first one.
    bot.notifier.track(job.id, interaction)


class MotionCog(commands.Cog):
    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="motion",
        description="Animate the character in an image with the motion from a video",
        extras={"generation": True},  # passes core.gate first (bot/discord_tree.py)
    )
    @app_commands.describe(
        image="The character: a clear photo or drawing showing the head and body (JPG or PNG)",
        video="The motion to copy: one continuous shot, 3–30 s (MP4 or MOV)",
        template="Or a ready-made motion from the provider, instead of a video",
        prompt="Optional hints about the scene, style or camera",
        orientation="Which way the character faces",
        mode="Standard (720p) or Pro (1080p, costs more)",
        keep_sound="Keep the sound of the reference video",
    )
    @app_commands.choices(
        orientation=[
            app_commands.Choice(name="Follow the video (up to 30 s)", value="video"),
            app_commands.Choice(name="Face like the image (up to 10 s)", value="image"),
        ],
        mode=[
            app_commands.Choice(name="Standard (720p)", value="std"),
            app_commands.Choice(name="Pro (1080p)", value="pro"),
        ],
    )
    @app_commands.guild_only()
    async def motion(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        video: discord.Attachment | None = None,
        template: str | None = None,
        prompt: str | None = None,
        orientation: str = "video",
        mode: str = "std",
        keep_sound: bool = False,
    ) -> None:
        # The first answer first (the tree has already deferred, before the gate): nothing that waits
        # on the database or grows with load runs before it.
        await defer_privately(interaction)
        options = MotionOptions(
            orientation=orientation,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            prompt=prompt or "",
            keep_sound=keep_sound,
            motion_template=template,
        )
        payload = motion_payload(
            options, incoming(image), incoming(video) if video else None, interaction.filesize_limit,
            role_ids_of(interaction.user),
        )
        # A crash from here on is finished by the next start (bot/discord_intake.py). Refusals and
        # provider errors go to the tree's error handler (bot/discord_tree.py), privately.
        async with self.bot.intake.acknowledged(interaction, "motion", payload):
            await take_motion(self.bot, interaction, payload)

    @motion.autocomplete("template")
    async def template_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        core = self.bot.core
        provider = core.providers[await core.provider_for(interaction.guild_id)]
        if not provider.capabilities.motion_templates:
            return []
        try:
            templates = await provider.list_motion_templates()
        except ProviderError:
            return []
        current = current.lower()
        return [
            app_commands.Choice(name=t.name[:100], value=t.id[:100])
            for t in templates
            if current in t.name.lower()
        ][:25]


async def setup(bot: MotionBot) -> None:
    bot.intake.register("motion", take_motion)
    bot.add_dynamic_items(CancelJobButton)
    await bot.add_cog(MotionCog(bot))
