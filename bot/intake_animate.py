"""/animate intake: check and plan a job, show its preview, and queue it only when the member says so.

Two steps, because the member sees a picture of the plan and its price before paying:

1. `prepare_animate`: metadata precheck, fetch the files into a new job folder (the Downloader,
   as for /motion), the ordinary image checks on the image and end image, `plan_animate` in a
   worker thread (options, camera, brush, paths; writes the brush in each provider's form), the
   price, the preview picture, and a small pending record (`pending.json`) in the folder. Nothing
   is reserved. A refusal leaves nothing behind.
2. `confirm_animate` (Make it): reserve + queue in one transaction (engine.create_motion_job, which
   takes any kind) from the pending record, so it works after a restart; `discard_animate`
   (Cancel) removes the folder. Both refuse a plan past its `expires_at`.
3. `expire_animate`: at `expires_at` the plan is forgotten and the caller says so on the preview.

From Discord, a plan expires `EXPIRY_MARGIN_SECONDS` before the interaction token's 15 minutes
(counted from the command), so the preview can still be edited to say it expired; from the
terminal (no token) it lives `PENDING_TTL_SECONDS` from when it was made.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from bot.animate.capabilities import for_provider, not_offered
from bot.animate.models import AnimateOptions, AnimateRequest
from bot.animate.plan import (
    AnimateInputs,
    AnimatePlan,
    check_text_options,
    plan_animate,
)
from bot.animate.preview import render_preview
from bot.animate.refusals import BrushRefused, OptionRefused
from bot.downloads import Downloader
from bot.errors import Refusal
from bot.i18n import Text
from bot.intake import IncomingFile, fetch
from bot.jobs import JobEngine, new_job_id
from bot.media import precheck_image
from bot.media_image import check_image
from bot.models import Lineage, MediaFile, Requester
from bot.pricing import Price, animate_price_for
from bot.store import JobRow

PENDING_TTL_SECONDS = 15 * 60  # Discord's interaction token lives 15 minutes
EXPIRY_MARGIN_SECONDS = 60  # the preview is edited to say "expired" while its token still works
PENDING_NAME = "pending.json"
PREVIEW_NAME = "preview.png"
BRUSH_MAX_BYTES = 10 * 1024 * 1024


class AnimatePending(BaseModel):
    """What Make it needs, kept in the job folder so a restart between preview and click loses nothing."""

    job_id: str
    requester: Requester
    provider: str
    request: AnimateRequest
    price: Price
    created_at: float
    expires_at: float | None = None  # None (plans written before this field): created_at + PENDING_TTL_SECONDS

    @property
    def deadline(self) -> float:
        return self.created_at + PENDING_TTL_SECONDS if self.expires_at is None else self.expires_at


def token_deadline(interaction_created_at: float) -> float:
    """When a plan made from a Discord interaction expires: before its token does."""
    return interaction_created_at + PENDING_TTL_SECONDS - EXPIRY_MARGIN_SECONDS


@dataclass(frozen=True)
class AnimatePrepared:
    pending: AnimatePending
    preview: Path
    notes: list[Text]


class PlanExpired(Refusal):
    """The preview's buttons were pressed after the plan expired (or it was already used)."""


def precheck_animate(
    image: IncomingFile, end_image: IncomingFile | None, brush: IncomingFile | None, options: AnimateOptions, provider: str
) -> None:
    """What can be refused from metadata alone, before deferring or downloading."""
    caps = for_provider(provider)
    if not caps.offered:
        raise OptionRefused(not_offered(caps))
    check_text_options(options)
    precheck_image(image.meta)
    if end_image is not None:
        precheck_image(end_image.meta)
    if brush is not None:
        if not brush.filename.lower().endswith(".png") and brush.content_type not in (None, "image/png"):
            raise BrushRefused(Text("The brush must be a PNG file; got {name}.", name=brush.filename[:60]))
        if brush.size > BRUSH_MAX_BYTES:
            raise BrushRefused(
                Text("The brush is {size} MB; the limit is {limit} MB.", size=f"{brush.size / 1_000_000:.1f}", limit=f"{BRUSH_MAX_BYTES / 1_000_000:g}")
            )


async def _take_image(downloader: Downloader, incoming: IncomingFile, folder: Path, what: str) -> MediaFile:
    suffix = Path(incoming.filename).suffix.lower() or ".img"
    path = folder / f"{what}{suffix}"
    await fetch(downloader, incoming, path, 10 * 1024 * 1024, what)
    info = await asyncio.to_thread(functools.partial(check_image, path, incoming.filename))
    content_type = "image/png" if info.format == "PNG" else "image/jpeg"
    return MediaFile(path=path, filename=incoming.filename, content_type=content_type, size=info.size, url=incoming.url)


async def prepare_animate(
    engine: JobEngine,
    downloader: Downloader,
    requester: Requester,
    provider: str,
    image: IncomingFile,
    options: AnimateOptions,
    *,
    end_image: IncomingFile | None = None,
    brush: IncomingFile | None = None,
    expires_at: float | None = None,
) -> AnimatePrepared:
    """Check, plan and price one /animate job and draw its preview. Raises a Refusal (nothing kept).
    `expires_at`: when its buttons stop working (`token_deadline` from Discord; default 15 minutes)."""
    if not engine.providers[provider].capabilities.animate:
        raise OptionRefused(Text("{provider} does not make /animate videos yet; an admin can pick another provider.", provider=provider))
    precheck_animate(image, end_image, brush, options, provider)
    sweep_expired(engine)
    job_id = new_job_id()
    folder = engine.job_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        image_file = await _take_image(downloader, image, folder, "image")
        end_file = await _take_image(downloader, end_image, folder, "end_image") if end_image else None
        brush_file: MediaFile | None = None
        if brush is not None:
            path = folder / "brush-upload.png"
            await fetch(downloader, brush, path, BRUSH_MAX_BYTES, "brush")
        if brush is not None:
            brush_file = MediaFile(path=path, filename=brush.filename, content_type="image/png", size=path.stat().st_size)
        inputs = AnimateInputs(image=image_file, options=options, end_image=end_file, brush=brush_file)
        public_url = bool(engine.config.public_url)
        plan = await asyncio.to_thread(plan_animate, inputs, provider, folder, public_url=public_url)
        request = plan.request
        price = animate_price_for(provider, request.model, request.mode, request.seconds)
        preview = folder / PREVIEW_NAME
        await asyncio.to_thread(draw_preview, plan, price, preview)
        pending = AnimatePending(
            job_id=job_id, requester=requester, provider=provider, request=request, price=price, created_at=time.time(),
            expires_at=expires_at,
        )
        (folder / PENDING_NAME).write_text(pending.model_dump_json(), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return AnimatePrepared(pending=pending, preview=preview, notes=plan.notes)


def draw_preview(plan: AnimatePlan, price: Price, out: Path) -> None:
    request = plan.request
    header = f"{request.model} · {request.mode} · {request.seconds} s · {price.credits} credits"
    preview = render_preview(
        request.image.path,
        brush_index=plan.brush.index if plan.brush is not None else None,
        paths=request.paths,
        camera=plan.camera,
        end_frame=request.end_image.path if request.end_image else None,
        header=header,
        caption=[str(note) for note in plan.notes][:3],  # the picture is drawn once, in English
    )
    preview.image.save(out, format="PNG", optimize=False)


def load_pending(engine: JobEngine, job_id: str) -> AnimatePending | None:
    path = engine.job_dir(job_id) / PENDING_NAME
    try:
        return AnimatePending.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _expired(pending: AnimatePending, now: float) -> bool:
    return now > pending.deadline


async def confirm_animate(
    engine: JobEngine, job_id: str, user_id: int, now: float | None = None, lineage: Lineage | None = None
) -> tuple[JobRow, Price]:
    """Make it: reserve the credits and queue the planned job (once; a second click finds the job).
    `lineage`: where a remix comes from (bot/remix.py)."""
    if await engine.store.get_job(job_id) is not None:
        raise PlanExpired(Text("This video is already queued."))  # type: ignore[arg-type]  # rendered per reader
    pending = load_pending(engine, job_id)
    if pending is None or pending.requester.user_id != user_id:
        raise PlanExpired(Text("This preview is no longer available; run /animate again."))  # type: ignore[arg-type]
    if _expired(pending, time.time() if now is None else now):
        discard_folder(engine, job_id)
        raise PlanExpired(
            Text("This preview expired after 15 minutes and nothing was spent; run /animate again.")  # type: ignore[arg-type]
        )
    job = await engine.create_motion_job(
        pending.requester, pending.request, pending.provider, pending.price, job_id=job_id, lineage=lineage
    )
    (engine.job_dir(job_id) / PENDING_NAME).unlink(missing_ok=True)
    (engine.job_dir(job_id) / PREVIEW_NAME).unlink(missing_ok=True)
    return job, pending.price


async def discard_animate(engine: JobEngine, job_id: str, user_id: int) -> bool:
    """Cancel on the preview: forget the plan (nothing was reserved). False when there was none."""
    pending = load_pending(engine, job_id)
    if pending is None or pending.requester.user_id != user_id or await engine.store.get_job(job_id) is not None:
        return False
    discard_folder(engine, job_id)
    return True


async def expire_animate(engine: JobEngine, job_id: str, now: float | None = None) -> bool:
    """At the plan's deadline: forget it if nobody pressed a button. True when it was still waiting
    (the caller then edits the preview to say so: one Discord write per preview, never more)."""
    pending = load_pending(engine, job_id)
    if pending is None or await engine.store.get_job(job_id) is not None:
        return False  # made or cancelled: that click already rewrote the preview
    if not _expired(pending, time.time() if now is None else now):
        return False
    discard_folder(engine, job_id)
    return True


def discard_folder(engine: JobEngine, job_id: str) -> None:
    shutil.rmtree(engine.job_dir(job_id), ignore_errors=True)


def sweep_expired(engine: JobEngine, now: float | None = None) -> int:
    """Remove plans nobody confirmed within their 15 minutes (their buttons are dead anyway)."""
    now = time.time() if now is None else now
    removed = 0
    root = engine.config.data_dir / "jobs"
    for pending_file in root.glob(f"*/{PENDING_NAME}") if root.is_dir() else ():
        pending = load_pending(engine, pending_file.parent.name)
        # An unreadable record may be one being written right now: only an old one is removed.
        deadline = pending.deadline if pending is not None else pending_file.stat().st_mtime + PENDING_TTL_SECONDS
        if now > deadline + 60:
            shutil.rmtree(pending_file.parent, ignore_errors=True)
            removed += 1
    return removed
