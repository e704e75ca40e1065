"""A new job made from a stored one: "this motion with my photo", "my photo with another motion",
"the same again" (Try again). No discord here: the buttons (cogs/results.py), challenges and the
terminal call `remix`.

The general shape: new job = the source job's stored inputs (reference video or template, image,
options), with the new image or the new reference video the member gives in their place, for
this requester, its result posted as a reply to this message. The new job is checked, priced and
charged like any other (`bot.intake`), after the generation gate; its lineage (parent job, the
message it answers) is written with it in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.animate.models import AnimateRequest
from bot.errors import Refusal
from bot.gate import Asker
from bot.i18n import Text
from bot.intake import IncomingFile
from bot.intake_animate import confirm_animate, prepare_animate
from bot.intake_fix import take_or_offer
from bot.kinds import request_for, takes
from bot.models import (
    ErrorKind,
    JobState,
    Lineage,
    MediaFile,
    MotionOptions,
    MotionRequest,
    Requester,
)
from bot.pricing import Price
from bot.store import JobRow

if TYPE_CHECKING:
    from bot.app import CoreApp

# Failures that were the provider's doing, not the member's input: Try again goes elsewhere.
PROVIDER_FAULTS = frozenset(
    {ErrorKind.AUTH, ErrorKind.BALANCE, ErrorKind.RATE_LIMIT, ErrorKind.OUTAGE, ErrorKind.UNKNOWN, "timeout"}
)
RETRYABLE_STATES = (JobState.FAILED, JobState.EXPIRED)


class RemixRefused(Refusal):
    """A remix (or retry) that cannot be made; `text` is rendered in the reader's language."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


class FilesGone(RemixRefused):
    """The retention sweep deleted the source job's files (or they never were kept)."""

    def __init__(self, days: float) -> None:
        super().__init__(
            Text(
                "The files of this video are gone: the bot keeps them for {days} days, so it cannot be "
                "reused. Start a new one with /motion.",
                days=f"{days:g}",
            )
        )


async def stored_inputs(core: CoreApp, job: JobRow) -> MotionRequest | AnimateRequest:
    """The source job's request (its inputs as kept in DATA_DIR), or FilesGone when the sweep
    (or anything else) removed them."""
    request = request_for(job.kind, job.request)
    days = core.settings.result_retention_days
    if await core.store.swept_at(job.id) is not None:
        raise FilesGone(days)
    if not all(Path(media.path).is_file() for media in request.media_files()):
        raise FilesGone(days)
    return request


def _as_incoming(media: MediaFile) -> IncomingFile:
    path = Path(media.path)
    return IncomingFile(filename=media.filename, size=path.stat().st_size, content_type=media.content_type, path=path)


@dataclass(frozen=True)
class StoredMotion:
    """A motion kept on disk, not necessarily a job's: a reference video (or a provider's template,
    in `options.motion_template`) and the options to make it with. A challenge's clip is one."""

    options: MotionOptions
    video: MediaFile | None  # None: options.motion_template names the motion

    @classmethod
    def of(cls, request: MotionRequest) -> StoredMotion:
        return cls(options=request.options, video=request.video)


async def make_with_motion(
    core: CoreApp,
    motion: StoredMotion,
    requester: Requester,
    asker: Asker,
    *,
    image: IncomingFile,
    lineage: Lineage | None = None,
    provider: str | None = None,
) -> tuple[JobRow, Price]:
    """New job = this stored motion + this new image, for this requester (who is charged), its
    result posted as a reply to `lineage.reply_to_message_id` in `lineage.reply_channel_id` when
    given. Gated, checked and priced like /motion (a fixable image gets FixOffered).

    The one call behind "Use this motion" and a challenge's "Join with my photo" (relation
    "challenge", parent_job_id None, reply_channel_id the challenge's thread)."""
    await core.gate.check(asker)  # before anything is read, downloaded or spent
    return await _make_with_motion(core, motion, requester, image, lineage, provider)


async def _make_with_motion(
    core: CoreApp, motion: StoredMotion, requester: Requester, image: IncomingFile, lineage: Lineage | None,
    provider: str | None,
) -> tuple[JobRow, Price]:
    if motion.video is not None and not Path(motion.video.path).is_file():
        raise FilesGone(core.settings.result_retention_days)
    provider = core.provider(provider or await core.provider_for(requester.guild_id))
    video = _as_incoming(motion.video) if motion.video is not None else None
    return await take_or_offer(core.engine, core.downloader, requester, provider, image, video, motion.options, lineage=lineage)


async def source_job(core: CoreApp, job_id: str) -> JobRow:
    job = await core.store.get_job(job_id)
    if job is None:
        raise RemixRefused(Text("This video is not known to the bot any more."))
    return job


async def remix(
    core: CoreApp,
    source_job_id: str,
    requester: Requester,
    asker: Asker,
    *,
    image: IncomingFile | None = None,
    video: IncomingFile | None = None,
    reply_to_message_id: int | None = None,
    reply_channel_id: int | None = None,
    relation: str = "remix",
    provider: str | None = None,
) -> tuple[JobRow, Price]:
    """Queue a new job from `source_job_id`'s stored motion (reference video or template, options)
    and image, with `image` and/or `video` put in their place, for `requester` (who is charged).

    - `image` only: "Use this motion" (anyone) and challenge entries ("Join with my photo").
    - `video` only: "Another motion": the same photo with a new reference video (the source's
      owner only; it is their photo).
    - neither: the same again (Try again on a failed job; the owner only).
    The result is posted as a reply to `reply_to_message_id` (default: the source's result post).
    `provider`: None for the requester's server's provider.
    Raises a Refusal (nothing spent, nothing kept) or ProviderError, like any intake.
    """
    await core.gate.check(asker)  # before anything is read, downloaded or spent
    source = await source_job(core, source_job_id)
    if (image is None or video is not None) and requester.user_id != source.user_id:
        raise RemixRefused(Text("Only the member who made this video can reuse their own photo."))
    request = await stored_inputs(core, source)
    lineage = Lineage(
        parent_job_id=source.id,
        relation=relation,
        reply_channel_id=reply_channel_id if reply_to_message_id else source.channel_id,
        reply_to_message_id=reply_to_message_id or source.message_id,
    )
    provider = core.provider(provider or await core.provider_for(requester.guild_id))
    if isinstance(request, AnimateRequest):
        return await _remix_animate(core, request, requester, provider, image, video, lineage)
    if image is not None and video is None:
        return await _make_with_motion(core, StoredMotion.of(request), requester, image, lineage, provider)
    options: MotionOptions = request.options
    if video is not None:
        options = options.model_copy(update={"motion_template": None})
        new_video: IncomingFile | None = video
    else:
        new_video = _as_incoming(request.video) if request.video is not None else None
    new_image = image if image is not None else _as_incoming(request.image)
    # A new photo or clip that is almost right gets the same fix offer as /motion (FixOffered).
    return await take_or_offer(core.engine, core.downloader, requester, provider, new_image, new_video, options, lineage=lineage)


async def _remix_animate(
    core: CoreApp,
    request: AnimateRequest,
    requester: Requester,
    provider: str,
    image: IncomingFile | None,
    video: IncomingFile | None,
    lineage: Lineage,
) -> tuple[JobRow, Price]:
    """An /animate result's camera move, prompt and length with another photo (brushes, paths and
    end frames were drawn for the first photo, so those are not carried over)."""
    if video is not None:
        raise RemixRefused(Text("An /animate video has no reference video to replace; use /motion instead."))
    if image is not None and (request.brush is not None or request.options.paths or request.end_image is not None):
        raise RemixRefused(
            Text("This video used a brush, paths or an end frame drawn for its own photo, so it cannot take another photo.")
        )
    new_image = image if image is not None else _as_incoming(request.image)
    end_image = _as_incoming(request.end_image) if image is None and request.end_image is not None else None
    brush = _as_incoming(request.brush) if image is None and request.brush is not None else None
    prepared = await prepare_animate(
        core.engine, core.downloader, requester, provider, new_image, request.options, end_image=end_image, brush=brush
    )
    return await confirm_animate(core.engine, prepared.pending.job_id, requester.user_id, lineage=lineage)


def retry_provider(core: CoreApp, job: JobRow) -> str | None:
    """Where Try again sends a failed job: the same provider, or, when the failure was the
    provider's, the next configured one (in the configured order, wrapping round) that takes
    every option the member chose. None: no provider can take it now."""
    # The simulator makes stand-in videos: never where a paid provider's job goes on by itself.
    names = [name for name in core.providers if name != "simulator" or job.provider == "simulator"]
    public_url = bool(core.settings.public_url)

    def can_take(name: str) -> bool:
        provider = core.providers[name]
        return takes(job.kind, job.request, name, provider.capabilities, public_url=public_url)

    if job.error_kind not in PROVIDER_FAULTS or job.provider not in names or len(names) == 1:
        return job.provider if job.provider in names and can_take(job.provider) else None
    start = names.index(job.provider)
    for name in names[start + 1 :] + names[: start + 1]:
        if can_take(name):
            return name
    return None


async def retry(
    core: CoreApp, job_id: str, requester: Requester, asker: Asker, *, reply_channel_id: int | None = None
) -> tuple[JobRow, Price]:
    """Try again: the failed job's inputs and options as a new job, checked and charged again
    (the failed one was refunded)."""
    job = await source_job(core, job_id)
    if job.user_id != requester.user_id:
        raise RemixRefused(Text("Only the member who asked for this video can try it again."))
    if job.state not in RETRYABLE_STATES:
        raise RemixRefused(Text("Only a video that failed can be tried again."))
    provider = retry_provider(core, job)
    if provider is None:
        raise RemixRefused(Text("No configured video service can take this video's options now."))
    return await remix(
        core, job_id, requester, asker, relation="retry", provider=provider, reply_channel_id=reply_channel_id
    )
