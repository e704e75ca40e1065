"""What a posted result's buttons answer that is not a new job: Details, and who may Delete.

No discord here: the cog (cogs/results.py) renders these `Text`s in the reader's language and
gives the link to a message (Discord's own URL shape) through `message_link`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.animate.models import AnimateRequest
from bot.i18n import Text
from bot.kinds import request_for
from bot.models import MotionRequest
from bot.store import JobRow

if TYPE_CHECKING:
    from bot.app import CoreApp

# (guild id, channel id, message id) -> a link members can open
MessageLink = Callable[[int | None, int, int], str]


def may_delete(job: JobRow, user_id: int, *, manages_messages: bool) -> bool:
    """A result post may be removed by the member who asked for it and by moderators."""
    return manages_messages or job.user_id == user_id


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def details(core: CoreApp, job: JobRow, message_link: MessageLink) -> list[Text]:
    """Private lines about how a result was made; the fixed files are the ones named."""
    request = request_for(job.kind, job.request)
    lines = [Text("Made by {provider} for <@{user}>.", provider=job.provider, user=job.user_id)]
    if isinstance(request, MotionRequest):
        options = request.options
        motion = options.motion_template or (request.video.filename if request.video else "-")
        lines += [
            Text("Model: Motion Control · mode: {mode} · orientation: {orientation}", mode=options.mode,
                 orientation=options.orientation),
            Text("Image: {image} · motion: {motion}", image=request.image.filename, motion=motion),
            Text("Length: {seconds} s", seconds=f"{request.video_seconds:.1f}"),
        ]
        prompt = options.prompt
    else:
        assert isinstance(request, AnimateRequest)
        lines += [
            Text("Model: {model} · mode: {mode}", model=request.model, mode=request.mode),
            Text("Image: {image}", image=request.image.filename),
            Text("Length: {seconds} s", seconds=str(request.seconds)),
        ]
        prompt = request.options.prompt
    if prompt:
        lines.append(Text("Prompt: {prompt}", prompt=prompt[:300]))
    lines.append(Text("Credits: {credits} · made: {when}", credits=job.price, when=_when(job.finished_at or job.created_at)))
    link = await core.store.job_link(job.id)
    if link is not None and link.parent_job_id:
        parent = await core.store.get_job(link.parent_job_id)
        if parent is not None and parent.message_id and parent.channel_id:
            url = message_link(parent.guild_id, parent.channel_id, parent.message_id)
            if link.relation == "retry":
                lines.append(Text("Tried again from: {link}", link=url))
            else:
                lines.append(Text("Remix of: {link}", link=url))
    if await core.store.swept_at(job.id) is not None:
        lines.append(Text("Its files are gone: they were kept for {days} days.", days=f"{core.settings.result_retention_days:g}"))
    lines.append(Text("Job {job}", job=job.id))
    return lines
