"""/motion: a character image + a reference motion video -> a video of the character doing the motion."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import ProviderError, Refusal
from bot.intake import IncomingFile, precheck
from bot.intake_fix import FixOffered
from bot.line import place_of
from bot.models import MotionOptions, Requester

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


class CancelJobButton(discord.ui.DynamicItem[discord.ui.Button], template=r"job:cancel:(?P<job_id>[0-9a-f]{12})"):
    """Cancel on the status message; the job id lives in the custom_id, so it works after a restart."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id=f"job:cancel:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> CancelJobButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        text = await interaction.client.core.engine.cancel(self.job_id, interaction.user.id)  # type: ignore[attr-defined]
        await interaction.response.send_message(text, ephemeral=True)


def cancel_view(job_id: str) -> discord.ui.View:
    return discord.ui.View(timeout=None).add_item(CancelJobButton(job_id))


class MotionCog(commands.Cog):
    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    @app_commands.command(name="motion", description="Animate the character in an image with the motion from a video")
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
        core = self.bot.core
        options = MotionOptions(
            orientation=orientation,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            prompt=prompt or "",
            keep_sound=keep_sound,
            motion_template=template,
        )
        image_in = incoming(image)
        video_in = incoming(video) if video else None
        provider = await core.provider_for(interaction.guild_id)
        # Refuse at once what the metadata already rules out: private, and before any download.
        try:
            precheck(image_in, video_in, options, core.providers[provider].capabilities, provider)
        except Refusal as refusal:
            await interaction.response.send_message(f"❌ {refusal}", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        requester = Requester(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            upload_limit=interaction.filesize_limit,
        )
        try:
            job, price = await core.submit_motion(requester, image_in, video_in, options, provider)
        except FixOffered as offered:  # almost right: offer the trim or pad
            # cogs/fixes.py builds on this module: imported here, not at the top
            from cogs.fixes import show_fix_offer

            await show_fix_offer(interaction, offered)
            return
        except Refusal as refusal:
            await interaction.edit_original_response(content=f"❌ {refusal}")
            return
        except ProviderError as exc:
            await interaction.edit_original_response(content=f"❌ {exc.user_message}")
            return
        now = time.time()
        line = await place_of(core.store, job.id, core.origin, core.engine.config.provider_max_concurrency, now)
        status = await core.quotas.status(core.store, interaction.user.id, interaction.guild_id)
        place = f"Queued (#{line.place} in line)" if line else "Starting now"
        estimate = f"\n{line.text(now).render(getattr(interaction, 'locale', None))}" if line else ""
        await interaction.edit_original_response(
            content=(
                f"{place}. This video costs {price.credits} credits ({price.explain()}); "
                f"you have {status.left} left today.{estimate}\nThe result will be posted in this channel.\n-# job `{job.id}`"
            ),
            view=cancel_view(job.id),
        )
        # Only now: the engine's later status edits must land after this first one.
        self.bot.notifier.track(job.id, interaction)

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
    bot.add_dynamic_items(CancelJobButton)
    await bot.add_cog(MotionCog(bot))
