"""Submission: send a claimed job to its provider (or the next one, with failover), and find out
what happened to a submit whose outcome is unknown (a crash or timeout mid-request).

Hands on by writing: SUBMITTED (the follow phase takes it from there), QUEUED again with a time
before which it must not be sent (the dispatcher takes it then), or FAILED (endings tell the user).
"""

from __future__ import annotations

from bot.errors import ProviderError, provider_error
from bot.i18n import Text
from bot.jobs.context import ETA_MARGIN, JobContext
from bot.kinds import adapt_to, request_for, takes
from bot.models import ErrorKind, JobState
from bot.providers.base import ProviderTask, SubmitRequest, TaskStatus
from bot.store import JobRow

FIND_ATTEMPTS = 5  # lookups of a task after an interrupted submit, before giving up on it
RESENDS = 2  # fresh submits after a lookup proved the earlier one never arrived


def failover_order(ctx: JobContext, job: JobRow) -> list[str]:
    """The job's provider, then (with failover) every other that can take all it asked for."""
    if not ctx.config.failover:
        return [job.provider]
    public_url = bool(ctx.config.public_url)
    others = [
        name
        for name, provider in ctx.providers.items()
        if name not in (job.provider, "simulator")
        and takes(job.kind, job.request, name, provider.capabilities, public_url=public_url)
    ]
    return [job.provider, *others]


def submit_request(ctx: JobContext, job: JobRow, provider: str) -> SubmitRequest:
    request = request_for(job.kind, job.request)
    # Our own signed URLs outlive Discord's CDN links; use them when we are reachable.
    for media in request.media_files():
        own = ctx.links.media_url(job.id, media.path.name)
        if own:
            media.url = own
    caps = ctx.provider(provider).capabilities
    request = adapt_to(request, provider, caps, public_url=bool(ctx.config.public_url)) or request
    return SubmitRequest(job_id=job.id, request=request, callback_url=ctx.links.callback_url(provider, job.id))


async def send(ctx: JobContext, job: JobRow, *, resends: int = RESENDS) -> None:
    """A job this process just moved to SUBMITTING: nothing has been sent for it yet."""
    errors: list[ProviderError] = []
    for name in failover_order(ctx, job):
        try:
            task = await ctx.provider(name).submit(submit_request(ctx, job, name))
        except ProviderError as error:
            ctx.provider_failed(name, error, job.id, "submit")
            errors.append(error)
            if not error.retryable or error.maybe_accepted:
                break  # a rejection is the same anywhere; an unknown outcome must not be doubled
            continue
        await _submitted(ctx, job, name, task)
        return
    last = errors[-1]
    if last.maybe_accepted:
        await reconcile(ctx, job, resends=resends)
    elif not last.retryable or ctx.timed_out(job):
        await ctx.fail(job.id, last)
    else:
        await _wait_in_line(ctx, job, errors)


async def reconcile(ctx: JobContext, job: JobRow, *, resends: int = RESENDS) -> None:
    """A submit whose outcome is unknown: look the task up, never resubmit blindly."""
    provider = ctx.providers.get(job.provider)
    if provider is not None and provider.capabilities.can_find_by_job_id:
        for attempt in range(FIND_ATTEMPTS):
            try:
                task = await provider.find_task(job.id)
            except ProviderError as error:
                ctx.provider_failed(job.provider, error, job.id, "lookup after an interrupted submit")
                await ctx.sleep(ctx.config.retry_base * 2**attempt)
                continue
            if task is not None:
                await _submitted(ctx, job, job.provider, task)
            elif resends > 0:
                await send(ctx, job, resends=resends - 1)  # surely never created: sending again cannot double it
            else:
                break
            return
    await ctx.fail(
        job.id,
        provider_error(
            ErrorKind.OUTAGE,
            "submit interrupted; the provider cannot be asked whether it arrived",
            user_detail=Text("The bot could not confirm your request reached it, so it was stopped and you were not charged."),
        ),
    )


async def _submitted(ctx: JobContext, job: JobRow, name: str, task: ProviderTask) -> None:
    now = ctx.clock()
    moved = await ctx.move(
        job.id,
        JobState.SUBMITTED,
        allowed_from=[JobState.SUBMITTING],
        provider=name,
        provider_task_id=task.task_id,
        provider_status=task.raw_status or task.status.value,
        submitted_at=now,
        # The provider's own estimate is when to look first; it also clears a "not before" left
        # by an earlier "not now".
        not_before=now + task.eta_seconds + ETA_MARGIN if task.eta_seconds is not None else None,
    )
    if moved is None:
        return
    ctx.log.info("job %s: submitted to %s as task %s", job.id, name, task.task_id)
    if name != job.provider:
        await ctx.progress(moved, Text("{old} was unavailable, so your video went to {new}.", old=job.provider, new=name))
    await ctx.progress(moved, Text("Sent to the video service. Waiting for it to start…"))
    if task.status is not TaskStatus.SUBMITTED:
        await ctx.record_report(job.id, task)  # e.g. a repeated submit that finds the task already done


async def _wait_in_line(ctx: JobContext, job: JobRow, errors: list[ProviderError]) -> None:
    """Every provider said "not now": back in line, not before the time it asked for (kept in the
    job, so a restart keeps it), nor sooner than backoff allows. No coroutine sleeps on it."""
    asked = [error.retry_after for error in errors if error.retry_after]
    waited = ctx.clock() - job.created_at
    # Without a time from the provider, wait about as long as the job has waited so far: doubling.
    backoff = min(ctx.config.poll_max_interval, max(ctx.config.retry_base, waited))
    delay = max(min(asked), backoff) if asked else backoff
    if await ctx.requeue(job.id, ctx.clock() + delay, note=f"{errors[-1].kind.value}: retry in {delay:.0f} s"):
        await ctx.progress(job.id, Text("The video service is busy; trying again in {seconds} s.", seconds=max(1, round(delay))))
