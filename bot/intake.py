"""From a user's attachments and options to a queued job, checking everything before money is spent.

Order: cheap checks on metadata, the provider's capabilities, then the files
are fetched (size-capped, streamed) and their real bytes checked in a worker
thread, then the price, then quota + job in one transaction. Any refusal
leaves nothing behind: no job, no charge, no files.
"""

from __future__ import annotations

import asyncio
import functools
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from bot.downloads import Downloader
from bot.errors import ProviderError, TooLarge
from bot.fixes import ImageFacts, plan_fix
from bot.i18n import Text
from bot.jobs import JobEngine, new_job_id
from bot.media import (
    FIELD_NAMES,
    AttachmentMeta,
    ImageInfo,
    MediaRejected,
    VideoInfo,
    check_prompt,
    precheck_image,
    precheck_video,
)
from bot.media_image import check_image
from bot.media_video import check_video
from bot.models import Lineage, MediaFile, MotionOptions, MotionRequest, Requester
from bot.options import check_options
from bot.pricing import Price, price_for
from bot.providers.base import Capabilities, Provider
from bot.store import JobRow

InfoT = TypeVar("InfoT", ImageInfo, VideoInfo)


@dataclass(frozen=True)
class IncomingFile:
    """An attachment (url) or a local file (path), with what its sender says it is."""

    filename: str
    size: int
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None
    path: Path | None = None

    @property
    def meta(self) -> AttachmentMeta:
        return AttachmentMeta(self.filename, self.size, self.content_type, self.width, self.height)


def precheck(image: IncomingFile, video: IncomingFile | None, options: MotionOptions, caps: Capabilities, provider: str) -> None:
    """Everything that can be refused from metadata alone (before a Discord deferral, or a download).

    An aspect ratio that padding would fix is left to the full check, which offers the fix
    (bot/intake_fix.py) instead of refusing."""
    check_options(options, caps, provider, video is not None)
    check_prompt(options.prompt, caps.limits)
    limits = caps.limits
    meta = image.meta
    if meta.width and meta.height and plan_fix(ImageFacts(meta.width, meta.height), limits) is not None:
        limits = limits.model_copy(update={"image_min_aspect": 0.0, "image_max_aspect": math.inf})
    precheck_image(meta, limits)
    if video is not None:
        precheck_video(video.meta, caps.limits)


async def fetch(downloader: Downloader, incoming: IncomingFile, dest: Path, max_bytes: int, what: str) -> int:
    """Bring a file into the job folder: download (streamed, capped, address-checked) or copy."""
    if incoming.path is not None:
        await asyncio.to_thread(shutil.copyfile, incoming.path, dest)
        return dest.stat().st_size
    assert incoming.url is not None
    try:
        return await downloader.download(incoming.url, dest, max_bytes=max_bytes)
    except TooLarge as exc:
        raise MediaRejected(
            what, Text("{field} is larger than the {limit} MB limit", field=FIELD_NAMES[what], limit=f"{max_bytes / 1_000_000:g}")
        ) from exc
    except ProviderError as exc:
        raise MediaRejected(
            what, Text("could not download the {field} from Discord ({reason}); try again", field=FIELD_NAMES[what], reason=exc.message)
        ) from exc


def content_type_of(info: ImageInfo | VideoInfo) -> str:
    """The MIME type of what the bytes are, whatever the file is called."""
    if isinstance(info, ImageInfo):
        return "image/png" if info.format == "PNG" else "image/jpeg"
    return "video/quicktime" if info.container == "mov" else "video/mp4"


async def take_file(
    downloader: Downloader,
    incoming: IncomingFile,
    folder: Path,
    what: Literal["image", "video"],
    max_bytes: int,
    check: Callable[[Path], InfoT],
) -> tuple[MediaFile, InfoT]:
    """One input into the job folder, its real bytes checked in a worker thread."""
    suffix = Path(incoming.filename).suffix.lower() or (".mp4" if what == "video" else ".img")
    path = folder / f"{what}{suffix}"
    await fetch(downloader, incoming, path, max_bytes, what)
    info = await asyncio.to_thread(check, path)
    media = MediaFile(path=path, filename=incoming.filename, content_type=content_type_of(info), size=info.size, url=incoming.url)
    return media, info


async def template_length(provider: Provider, template_id: str) -> float | None:
    """A motion template's length (it sets the output length and so the price); refuse unknown ones."""
    for template in await provider.list_motion_templates():
        if template.id == template_id or template.name == template_id:
            return template.seconds
    raise MediaRejected(
        "options",
        Text(
            "{provider} has no motion template called {template}; pick one from the list.",
            provider=provider.name, template=repr(template_id),
        ),
    )


async def take_motion_request(
    engine: JobEngine,
    downloader: Downloader,
    requester: Requester,
    provider: str,
    image: IncomingFile,
    video: IncomingFile | None,
    options: MotionOptions,
    lineage: Lineage | None = None,
) -> tuple[JobRow, Price]:
    """Check, price and queue one Motion Control job. Raises a Refusal (nothing kept) or ProviderError.

    `downloader`: the app's Downloader.
    """
    caps = engine.providers[provider].capabilities
    limits = caps.limits
    precheck(image, video, options, caps, provider)
    template_seconds: float | None = None
    if options.motion_template:
        template_seconds = await template_length(engine.providers[provider], options.motion_template)
    job_id = new_job_id()
    folder = engine.job_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        check_this_image = functools.partial(check_image, filename=image.filename, limits=limits)
        image_file, _ = await take_file(downloader, image, folder, "image", limits.image_max_bytes, check_this_image)
        video_file: MediaFile | None = None
        seconds = template_seconds or 5.0
        if video is not None:
            check_this_video = functools.partial(
                check_video, filename=video.filename, orientation=options.orientation, limits=limits
            )
            video_file, video_info = await take_file(
                downloader, video, folder, "video", limits.video_max_bytes, check_this_video
            )
            seconds = video_info.seconds
        output_seconds = min(seconds, limits.video_max_for(options.orientation))
        request = MotionRequest(image=image_file, video=video_file, options=options, video_seconds=output_seconds)
        price = price_for(provider, options.mode, output_seconds)
        job = await engine.create_motion_job(requester, request, provider, price, job_id=job_id, lineage=lineage)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job, price
