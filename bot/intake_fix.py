"""When a /motion input is almost right: offer the fix (bot/fixes.py) instead of a plain refusal,
then, when the member accepts, make the fixed file and go on with it.

`take_or_offer` is the intake every motion request goes through (the command, remixes, the
terminal): a refusal for a clip too long for its orientation or an image whose aspect is out of
range becomes `FixOffered`, which carries the offer (kept as a small JSON file under
DATA_DIR/fixes/<offer id>/ with the downloaded inputs) and the sentence saying what the fix does
and costs. `accept_fix` (the button, or the terminal's --fix) applies it and queues the job with
the fixed file: that file is what the provider receives and what Details shows. Nothing is
reserved before the member accepts; an offer lives 15 minutes.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from bot.errors import Refusal
from bot.fixes import (
    ImageFacts,
    PadFix,
    TrimFix,
    VideoFacts,
    apply_fix,
    fixed_filename,
    measure_image,
    measure_video,
    plan_fix,
)
from bot.i18n import Text
from bot.intake import IncomingFile, fetch, take_motion_request, template_length
from bot.jobs import JobEngine, new_job_id
from bot.media import MediaRejected
from bot.models import Lineage, MotionOptions, Requester
from bot.pricing import Price, price_for
from bot.store import JobRow

if TYPE_CHECKING:
    from bot.downloads import Downloader

OFFER_NAME = "offer.json"
OFFER_TTL_SECONDS = 15 * 60


class OfferedFile(BaseModel):
    path: Path
    filename: str
    content_type: str | None = None

    def incoming(self) -> IncomingFile:
        return IncomingFile(filename=self.filename, size=self.path.stat().st_size, content_type=self.content_type, path=self.path)


class FixOffer(BaseModel):
    """What the member is offered; everything needed to go on once they accept."""

    offer_id: str
    requester: Requester
    provider: str
    options: MotionOptions
    image: OfferedFile
    video: OfferedFile | None
    trim: TrimFix | None = None
    pad: PadFix | None = None
    credits: int
    lineage: Lineage | None = None
    created_at: float

    def fixes(self) -> list[TrimFix | PadFix]:
        return [fix for fix in (self.trim, self.pad) if fix is not None]

    def label(self) -> list[Text]:
        """The button's words, one part per fix."""
        return [fix.label() for fix in self.fixes()]

    def explain(self) -> list[Text]:
        """What each fix does and what the job then costs."""
        return [fix.explain(self.credits) for fix in self.fixes()]


class FixOffered(Refusal):
    """The input was refused, and a fix is offered: show `refusal`, `offer.explain()` and one button."""

    def __init__(self, offer: FixOffer, refusal: MediaRejected) -> None:
        super().__init__(refusal.message)
        self.offer = offer
        self.refusal = refusal


class OfferGone(Refusal):
    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def offers_dir(engine: JobEngine) -> Path:
    return engine.config.data_dir / "fixes"


async def take_or_offer(
    engine: JobEngine,
    downloader: Downloader,
    requester: Requester,
    provider: str,
    image: IncomingFile,
    video: IncomingFile | None,
    options: MotionOptions,
    lineage: Lineage | None = None,
) -> tuple[JobRow, Price]:
    """`take_motion_request`, with a fix offered (FixOffered) where one would make the inputs pass."""
    try:
        return await take_motion_request(engine, downloader, requester, provider, image, video, options, lineage=lineage)
    except MediaRejected as refusal:
        if refusal.field not in ("image", "video"):
            raise
        offer = await _offer(engine, downloader, requester, provider, image, video, options, lineage)
        if offer is None:
            raise
        raise FixOffered(offer, refusal) from refusal


async def _offer(
    engine: JobEngine,
    downloader: Downloader,
    requester: Requester,
    provider: str,
    image: IncomingFile,
    video: IncomingFile | None,
    options: MotionOptions,
    lineage: Lineage | None,
) -> FixOffer | None:
    """Fetch the inputs again and plan a fix; None unless fixes make every input pass."""
    limits = engine.providers[provider].capabilities.limits
    sweep_offers(engine)
    offer_id = new_job_id()
    folder = offers_dir(engine) / offer_id
    folder.mkdir(parents=True, exist_ok=True)
    try:
        image_path = folder / f"image{Path(image.filename).suffix.lower() or '.img'}"
        await fetch(downloader, image, image_path, limits.image_max_bytes, "image")
        video_path: Path | None = None
        if video is not None:
            video_path = folder / f"video{Path(video.filename).suffix.lower() or '.mp4'}"
            await fetch(downloader, video, video_path, limits.video_max_bytes, "video")
        image_facts = await asyncio.to_thread(measure_image, image_path, image.filename, limits)
        video_facts = None
        if video_path is not None:
            assert video is not None
            video_facts = await asyncio.to_thread(measure_video, video_path, video.filename, options.orientation, limits)
            if video_facts is None:
                raise _NoOffer
        if image_facts is None:
            raise _NoOffer
        pad = plan_fix(ImageFacts(image_facts.width, image_facts.height), limits)
        trim = plan_fix(VideoFacts(video_facts.seconds, video_facts.orientation), limits) if video_facts else None
        if pad is None and trim is None:
            raise _NoOffer
        assert pad is None or isinstance(pad, PadFix)
        assert trim is None or isinstance(trim, TrimFix)
        if trim is not None:
            seconds = trim.output_seconds
        elif video_facts is not None:
            seconds = video_facts.seconds
        else:
            assert options.motion_template is not None
            seconds = await template_length(engine.providers[provider], options.motion_template) or 5.0
        price = price_for(provider, options.mode, min(seconds, limits.video_max_for(options.orientation)))
        offer = FixOffer(
            offer_id=offer_id,
            requester=requester,
            provider=provider,
            options=options,
            image=OfferedFile(path=image_path, filename=image.filename, content_type=image.content_type),
            video=OfferedFile(path=video_path, filename=video.filename, content_type=video.content_type)
            if video is not None and video_path is not None
            else None,
            trim=trim,
            pad=pad,
            credits=price.credits,
            lineage=lineage,
            created_at=time.time(),
        )
        (folder / OFFER_NAME).write_text(offer.model_dump_json(), encoding="utf-8")
        return offer
    except (_NoOffer, Refusal):
        shutil.rmtree(folder, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


class _NoOffer(Exception):
    """Some input has a problem no fix solves: the original refusal stands."""


def load_offer(engine: JobEngine, offer_id: str) -> FixOffer | None:
    try:
        return FixOffer.model_validate_json((offers_dir(engine) / offer_id / OFFER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


async def accept_fix(
    engine: JobEngine, downloader: Downloader, offer_id: str, user_id: int
) -> tuple[JobRow, Price]:
    """Apply the offered fixes and queue the job with the fixed files (checked and charged like any
    job). The caller runs the generation gate first (CoreApp.accept_fix)."""
    offer = load_offer(engine, offer_id)
    if offer is None or offer.requester.user_id != user_id:
        raise OfferGone(Text("This offer is no longer available; run /motion again."))
    folder = offers_dir(engine) / offer_id
    if time.time() - offer.created_at > OFFER_TTL_SECONDS:
        shutil.rmtree(folder, ignore_errors=True)
        raise OfferGone(Text("This offer expired after 15 minutes and nothing was spent; run /motion again."))
    limits = engine.providers[offer.provider].capabilities.limits
    image, video = offer.image.incoming(), offer.video.incoming() if offer.video else None
    try:
        if offer.pad is not None:
            dest = folder / "fixed" / fixed_filename(offer.image.filename, offer.pad)
            await apply_fix(offer.pad, offer.image.path, dest, limits=limits)
            image = IncomingFile(filename=dest.name, size=dest.stat().st_size, content_type=offer.image.content_type, path=dest)
        if offer.trim is not None and offer.video is not None:
            dest = folder / "fixed" / fixed_filename(offer.video.filename, offer.trim)
            await apply_fix(offer.trim, offer.video.path, dest, limits=limits)
            video = IncomingFile(filename=dest.name, size=dest.stat().st_size, content_type=offer.video.content_type, path=dest)
        result = await take_motion_request(
            engine, downloader, offer.requester, offer.provider, image, video, offer.options, lineage=offer.lineage
        )
    except BaseException:
        shutil.rmtree(folder / "fixed", ignore_errors=True)  # the offer stays: the member may try again
        raise
    shutil.rmtree(folder, ignore_errors=True)  # the job folder has its own copies
    return result


def sweep_offers(engine: JobEngine, now: float | None = None) -> int:
    """Remove offers nobody accepted in time (their buttons answer that they expired)."""
    now = time.time() if now is None else now
    root = offers_dir(engine)
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        path = folder / OFFER_NAME
        created = path.stat().st_mtime if path.exists() else folder.stat().st_mtime
        if now - created > OFFER_TTL_SECONDS + 60:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
