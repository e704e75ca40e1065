"""/animate: one picture -> a short video (Kling image-to-video), shown as a preview before any credit is spent.

Thin: parse the options, ask the core for a plan (bot/intake_animate.py), show its picture privately
with **Make it** and **Cancel**. The buttons carry the job id in their custom id and the plan waits
in the job folder, so they work after a restart. The plan expires a minute before the interaction
token does (bot/intake_animate.py); then the preview is edited once to say so, buttons removed
(a timer per preview; after a restart the core still refuses a late click with a message).
Refusals from the command propagate to the tree's error handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.animate.camera import MOVES
from bot.animate.capabilities import for_provider
from bot.animate.choose import model_choices, wanted_features
from bot.animate.models import AnimateOptions
from bot.discord_text import job_marker
from bot.discord_tree import GenerationItem, ReportedItem, defer_privately, role_ids_of
from bot.i18n import Text
from bot.intake import IncomingFile
from bot.intake_animate import (
    confirm_animate,
    discard_animate,
    expire_animate,
    precheck_animate,
    token_deadline,
)
from bot.models import Requester
from cogs.motion import cancel_view, incoming

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

JOB_ID = r"(?P<job_id>[0-9a-f]{12})"
EXPIRY_GRACE_SECONDS = 2.0  # lets a Make it click that began just before the deadline finish first


class MakeItButton(
    GenerationItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"anim:make:{JOB_ID}:(?P<credits>[0-9]+)"
):
    """Make it (N credits): reserve and queue the planned job (after the generation gate)."""

    gate_action = "animate"

    def __init__(self, job_id: str, credits: int, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(Text("Make it ({credits} credits)", msgctxt="button", credits=credits)),
                style=discord.ButtonStyle.success,
                custom_id=f"anim:make:{job_id}:{credits}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> MakeItButton:
        return cls(match["job_id"], int(match["credits"]), label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MotionBot = interaction.client  # type: ignore[assignment]
        # A refusal (plan expired, quota) is answered privately by report_error (bot/discord_tree.py).
        job, price = await confirm_animate(bot.core.engine, self.job_id, interaction.user.id)
        text = Text(
            "Queued. This video costs {credits} credits ({price}). The result will be posted in this channel.",
            credits=price.credits, price=price.explain(),
        )
        await interaction.response.edit_message(
            content=f"{text.render(interaction.locale)}\n{job_marker(job.id, interaction.locale)}",
            view=cancel_view(job.id, interaction.locale),
            attachments=[],
        )
        bot.notifier.track(job.id, interaction)


class DropPlanButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"anim:drop:{JOB_ID}"):
    """Cancel on the preview: nothing was reserved, the plan is forgotten."""

    def __init__(self, job_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(Text("Cancel", msgctxt="button")), style=discord.ButtonStyle.secondary,
                custom_id=f"anim:drop:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> DropPlanButton:
        return cls(match["job_id"], label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MotionBot = interaction.client  # type: ignore[assignment]
        dropped = await discard_animate(bot.core.engine, self.job_id, interaction.user.id)
        text = Text("Cancelled; nothing was spent.") if dropped else Text("This preview is no longer available; run /animate again.")
        await interaction.response.edit_message(content=text.render(interaction.locale), view=None, attachments=[])


def preview_view(job_id: str, credits: int, locale: object) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    make = Text("Make it ({credits} credits)", msgctxt="button", credits=credits).render(locale)
    view.add_item(MakeItButton(job_id, credits, label=make))
    view.add_item(DropPlanButton(job_id, label=Text("Cancel", msgctxt="button").render(locale)))
    return view


def _file(data: dict[str, Any] | None) -> IncomingFile | None:
    return IncomingFile(**data) if data else None


async def show_plan(bot: MotionBot, interaction: discord.Interaction, payload: dict[str, Any]) -> tuple[str, float]:
    """After the deferral: fetch and check the pictures, plan and price, show the preview with Make it.
    Runs for the live interaction and, after a crash, for its TokenAnswer (bot/discord_intake.py).
    Returns the planned job's id and the moment its plan expires (shortly before the token dies)."""
    requester = Requester(
        user_id=interaction.user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
        upload_limit=payload["upload_limit"], role_ids=tuple(payload.get("role_ids", ())),
    )
    image, end_image, brush = _file(payload["image"]), _file(payload["end_image"]), _file(payload["brush"])
    assert image is not None
    options = AnimateOptions.model_validate(payload["options"])
    provider = await bot.core.provider_for(interaction.guild_id)
    precheck_animate(image, end_image, brush, options, provider)  # private refusal before any download
    deadline = token_deadline(interaction.created_at.timestamp())
    prepared = await bot.core.prepare_animate(
        requester, image, options, provider, end_image=end_image, brush=brush, expires_at=deadline
    )
    price = prepared.pending.price
    lines = [
        Text(
            "Here is the plan. Making it costs {credits} credits ({price}); nothing is spent until you press Make it.",
            credits=price.credits, price=price.explain(),
        ).render(interaction.locale),
        *(f"-# {note.render(interaction.locale)}" for note in prepared.notes),
    ]
    await interaction.edit_original_response(
        content="\n".join(lines),
        attachments=[discord.File(prepared.preview, filename="preview.png")],
        view=preview_view(prepared.pending.job_id, price.credits, interaction.locale),
    )
    return prepared.pending.job_id, deadline


class AnimateCog(commands.Cog):
    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot
        self._expiry_timers: set[asyncio.Task[None]] = set()

    async def cog_unload(self) -> None:
        for timer in self._expiry_timers:
            timer.cancel()

    def _expire_later(self, interaction: discord.Interaction, job_id: str, deadline: float) -> None:
        timer = asyncio.create_task(self._expire(interaction, job_id, deadline))
        self._expiry_timers.add(timer)
        timer.add_done_callback(self._expiry_timers.discard)

    async def _expire(self, interaction: discord.Interaction, job_id: str, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.time()) + EXPIRY_GRACE_SECONDS)
        if await expire_animate(self.bot.core.engine, job_id):
            text = Text("This preview expired and nothing was spent; run /animate again for a new one.")
            with contextlib.suppress(discord.HTTPException):  # the member may have dismissed it
                await interaction.edit_original_response(content=text.render(interaction.locale), view=None, attachments=[])

    @app_commands.command(
        name="animate",
        description="Bring one picture to life: a short video, previewed before you pay",
        extras={"generation": True},  # passes core.gate first (bot/discord_tree.py)
    )
    @app_commands.describe(
        image="The picture to animate (JPG or PNG)",
        prompt="Optional: what should happen",
        negative_prompt="Optional: what should not appear",
        duration="Length in seconds (5 or 10; some models allow more)",
        mode="Standard or Pro (costs more)",
        model="The model (the list shows only models that take your other choices)",
        creativity="0 to 1: how freely the model may depart from the picture (older models only)",
        end_image="A picture the video ends on",
        camera="A camera move",
        camera_strength="1 to 10: how far a simple camera move goes",
        brush="Motion brush PNG: black = still; green, purple, blue, pink, yellow, red = moving areas",
        paths="One path per moving colour, in picture pixels from the top-left, e.g. green: 120,400 260,300",
        sound="Add sound (newer models, Pro)",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="Standard", value="std"),
            app_commands.Choice(name="Pro", value="pro"),
        ],
        camera=[app_commands.Choice(name=move.name, value=move.name) for move in MOVES],
    )
    @app_commands.guild_only()
    async def animate(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        duration: app_commands.Range[int, 1, 15] = 5,
        mode: str = "std",
        model: str | None = None,
        creativity: app_commands.Range[float, 0.0, 1.0] | None = None,
        end_image: discord.Attachment | None = None,
        camera: str | None = None,
        camera_strength: app_commands.Range[int, 1, 10] | None = None,
        brush: discord.Attachment | None = None,
        paths: str | None = None,
        sound: bool = False,
    ) -> None:
        # The first answer first (the tree has already deferred, before the gate): nothing that waits
        # on the database or grows with load runs before it.
        await defer_privately(interaction)
        options = AnimateOptions(
            prompt=prompt or "", negative_prompt=negative_prompt or "", duration=duration, mode=mode,  # type: ignore[arg-type]
            model=model, creativity=creativity, camera=camera, camera_strength=camera_strength, paths=paths, sound=sound,
        )
        files = {"image": image, "end_image": end_image, "brush": brush}
        payload = {
            "options": options.model_dump(mode="json"),
            "upload_limit": interaction.filesize_limit,
            "role_ids": list(role_ids_of(interaction.user)),  # as they were when asked: allowances depend on them
            **{name: vars(incoming(file)).copy() if file else None for name, file in files.items()},
        }
        # A crash from here on is finished by the next start (bot/discord_intake.py).
        async with self.bot.intake.acknowledged(interaction, "animate", payload):
            job_id, deadline = await show_plan(self.bot, interaction, payload)
        self._expire_later(interaction, job_id, deadline)

    @animate.autocomplete("model")
    async def model_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Only models that take the other options chosen so far."""
        chosen = interaction.namespace
        provider = await self.bot.core.provider_for(interaction.guild_id)
        caps = for_provider(provider)
        if not caps.offered:
            return []
        camera = next((move for move in MOVES if move.name == getattr(chosen, "camera", None)), None)
        features = wanted_features(
            end_frame=getattr(chosen, "end_image", None) is not None,
            brush=getattr(chosen, "brush", None) is not None,
            camera_simple=None if camera is None else camera.simple,
            creativity=getattr(chosen, "creativity", None) is not None,
            sound=bool(getattr(chosen, "sound", False)),
        )
        offers = model_choices(caps, features, getattr(chosen, "mode", None), getattr(chosen, "duration", None))
        return [
            app_commands.Choice(name=offer.name, value=offer.name) for offer in offers if current.lower() in offer.name
        ][:25]


async def setup(bot: MotionBot) -> None:
    bot.intake.register("animate", show_plan)
    bot.add_dynamic_items(MakeItButton, DropPlanButton)
    await bot.add_cog(AnimateCog(bot))
