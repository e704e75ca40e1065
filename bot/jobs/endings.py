"""Endings: post a made video, tell the user about a job that ended without one, stop a job that
ran out of time, and let a user cancel.

The writes that end a job (with the refund or the commit in the same transaction) are
`JobContext.end` / `record_report`, since every phase records the endings it learns of; this
module does what comes after them. Hands on by writing: DELIVERED, or `notified_at` on an
ended job; both settle the job.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.errors import (
    DeliveryImpossible,
    DeliveryTooLarge,
    DownloadRefused,
    ProviderError,
)
from bot.i18n import Stored, Text
from bot.jobs.context import JobContext
from bot.models import ENDS, JobState
from bot.store import JobRow

RETRY_CAP = 300.0  # longest wait between two attempts to post


async def deliver(ctx: JobContext, job: JobRow) -> None:
    """Bring the result home and post it. At-least-once from here, exactly-once at the platform:
    every post carries a nonce made from the job id."""
    assert job.result_url is not None
    provider = ctx.providers.get(job.provider)
    path = ctx.job_dir(job.id) / "result.mp4"
    video: Path | None = None
    link: str | None = None
    if not path.exists() and provider is not None:
        try:
            await provider.download(job.result_url, path, ctx.downloader)
        except DownloadRefused as error:
            # Not a video, or at an address we do not fetch from: neither the file nor its link
            # may reach the channel, so the job fails and the member gets the credits back.
            ctx.provider_failed(job.provider, error, job.id, "result download (refused)")
            await _undeliverable(ctx, job, error)
            return
        except ProviderError as error:
            ctx.provider_failed(job.provider, error, job.id, "result download (posting the provider's link)")
    if path.exists():
        video = path if path.stat().st_size <= job.upload_limit else None
    ttl = ctx.config.result_link_ttl
    if video is None:
        link = (ctx.links.media_url(job.id, "result.mp4", ttl=ttl) if path.exists() else None) or job.result_url
    await ctx.progress(job, Text("Done! Posting your video…"))

    async def post() -> int | None:
        try:
            return await ctx.notifier.deliver(job, video, link)
        except DeliveryTooLarge:
            fallback = ctx.links.media_url(job.id, "result.mp4", ttl=ttl) or job.result_url
            return await ctx.notifier.deliver(job, None, fallback)

    undeliverable = None
    try:
        message_id = await _retry_forever(ctx, job.id, "delivery", post)
    except DeliveryImpossible as exc:
        # Channel gone and the user unreachable: retrying forever would help nobody.
        message_id, undeliverable = None, f"could not be posted: {exc}"
        ctx.log.warning("job %s: result %s", job.id, undeliverable)
    await ctx.move(
        job.id,
        JobState.DELIVERED,
        allowed_from=[JobState.SUCCEEDED],
        note=undeliverable or "",
        delivered_at=ctx.clock(),
        message_id=message_id,
    )
    ctx.log.info("job %s: delivered", job.id)
    # A link to our own server needs the file; an attachment does not.
    cleanup_inputs(ctx, job.id, keep_result=video is None and bool(ctx.config.public_url))


REFUSED_RESULT = Text(
    "The video was made, but the file the video service returned was refused (it is not a video, "
    "or not at an address the bot fetches from), so it was not posted."
)


async def _undeliverable(ctx: JobContext, job: JobRow, error: DownloadRefused) -> None:
    """A made video the bot must not post: failed, with the commit reversed in the same transaction."""
    moved = await ctx.move(
        job.id,
        JobState.FAILED,
        allowed_from=[JobState.SUCCEEDED],
        ledger=("refund_committed", "failed: result refused"),
        error_kind=error.kind.value,
        error_message=str(REFUSED_RESULT),  # stored in English; see notify()
        error_detail=str(error),
    )
    if moved is not None:
        ctx.ending_texts[job.id] = REFUSED_RESULT
        ctx.log.warning("job %s: failed, result refused: %s", job.id, error)


async def notify(ctx: JobContext, job: JobRow) -> None:
    """Tell the user a job ended without a video (once: `notified_at` marks it done)."""
    # The Text the ending said; after a restart, the stored English (translated when it is one message).
    said: Text | Stored = (
        ctx.ending_texts.pop(job.id, None)
        or (Stored(job.error_message) if job.error_message else None)
        or Text("The video could not be made.")
    )
    text = said if job.state is JobState.CANCELLED else Text("{reason} Your credits were returned.", reason=said)
    try:
        await _retry_forever(ctx, job.id, "failure notice", lambda: ctx.notifier.notify_failure(job, text))
    except DeliveryImpossible as exc:
        ctx.log.warning("job %s: failure notice could not be posted: %s", job.id, exc)
    await ctx.store.update_job(job.id, notified_at=ctx.clock())
    cleanup_inputs(ctx, job.id, keep_result=False)


async def expire(ctx: JobContext, job: JobRow) -> None:
    """The provider did not finish in time: stop it there if it can be stopped, and refund."""
    provider = ctx.providers.get(job.provider)
    if provider and provider.capabilities.can_cancel and job.provider_task_id:
        try:
            await provider.cancel(job.provider_task_id)
        except ProviderError as error:
            ctx.provider_failed(job.provider, error, job.id, "cancel after the timeout")
    minutes = round(ctx.config.job_timeout / 60)
    await ctx.end(
        job.id,
        JobState.EXPIRED,
        "timeout",
        Text("The video service did not finish within {minutes} minutes, so the job was stopped.", minutes=minutes),
        f"no result after {minutes} min",
    )


async def cancel(ctx: JobContext, job_id: str, user_id: int) -> Text:
    """A user cancels their own job. Returns what to tell them (rendered in their language by the caller)."""
    job = await ctx.get(job_id)
    if job.user_id != user_id:
        return Text("Only the person who started this video can cancel it.")
    if job.state in ENDS or job.state is JobState.SUCCEEDED:
        return Text("This video is already finished.")
    if job.state is not JobState.QUEUED:
        provider = ctx.providers.get(job.provider)
        if not (provider and provider.capabilities.can_cancel and job.provider_task_id):
            return Text("This video is already being made and this provider cannot stop it.")
        try:
            await provider.cancel(job.provider_task_id)
        except ProviderError as error:
            ctx.provider_failed(job.provider, error, job.id, "cancel")
            return Text("Could not cancel: {reason}", reason=error.user_message)
    done = Text("Cancelled. Your credits were returned.")
    ended = await ctx.end(job_id, JobState.CANCELLED, "cancelled", done, "cancelled by user")
    return done if ended else Text("This video is already finished.")


async def _retry_forever(
    ctx: JobContext, job_id: str, what: str, action: Callable[[], Awaitable[int | None]]
) -> int | None:
    """Keep trying a post until it goes through: a result is never dropped (a restart resumes too)."""
    attempt = 0
    while True:
        try:
            return await action()
        except (asyncio.CancelledError, DeliveryImpossible):
            raise
        except Exception as error:
            delay = min(RETRY_CAP, ctx.config.retry_base * 2**attempt)
            ctx.log.warning("job %s: %s failed (%s); retrying in %.0f s", job_id, what, error, delay)
            attempt += 1
            await ctx.sleep(delay)


def cleanup_inputs(ctx: JobContext, job_id: str, keep_result: bool) -> None:
    folder = ctx.job_dir(job_id)
    if ctx.config.keep_files or not folder.exists():
        return  # kept for remixes and links until the retention sweep (bot/retention.py)
    for item in folder.iterdir():
        if keep_result and item.name == "result.mp4":
            continue
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
