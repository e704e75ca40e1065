"""Following: learn how a submitted job is doing at its provider and write what it says.

Three ways in, one way out (`JobContext.record_report`, forward-only):
- callbacks to the job's own signed URL (`handle_callback`),
- in-process reports from providers that can tell us directly (`take_report`; the simulator),
- reads (`follow`): the whole story for providers that cannot tell us, otherwise only a backup
  for a lost report, spaced further apart each time.

Hands on by writing: SUCCEEDED (endings deliver it) or FAILED; a job that ran out of time is
left to the engine, which ends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Protocol

from bot.errors import CallbackRejected, ProviderError, StoreBusy
from bot.jobs.context import ETA_MARGIN, EngineConfig, JobContext, can_move
from bot.models import IN_FLIGHT
from bot.providers.base import Provider, ProviderTask
from bot.store import JobRow

# Polling without reports: each wait 1.5x the last, up to POLL_MAX_INTERVAL. A 5-minute task
# costs 8 reads at the defaults (10 s, then 15, 22.5, ... 60).
POLL_GROWTH = 1.5
# Backup reads when the provider reports by itself: each wait 3x the last, with no cap but the
# job's timeout. A lost report is rare and each read is a provider call (and rate-limit budget):
# at the defaults a 5-minute job gets one read (at 90 s; the next would be at 360 s), and a lost
# ending is still noticed within about twice the job's age.
BACKUP_GROWTH = 3.0

TaskListener = Callable[[str, ProviderTask], Awaitable[None]]


class ReportsTasks(Protocol):
    """A provider that can tell the engine itself when a task changes (in the same process)."""

    def add_task_listener(self, listener: TaskListener) -> Callable[[], None]:
        """Call `listener(job_id, task)` on each change; returns what removes it again."""
        ...


def reporter(provider: Provider | None) -> ReportsTasks | None:
    """The provider as a ReportsTasks, if it is one. Asked of the object each time, not by
    isinstance on a runtime protocol: ABC caches class checks, so a provider could not opt out
    (by setting the method to None) once its class had been seen with it."""
    return provider if callable(getattr(provider, "add_task_listener", None)) else None  # type: ignore[return-value]


def pushed(ctx: JobContext, provider: Provider | None) -> bool:
    """Does this job's provider tell us about changes (so reads are only the safety net)?"""
    return bool(ctx.config.public_url) or reporter(provider) is not None


def read_waits(config: EngineConfig, is_pushed: bool) -> Iterator[float]:
    """The waits between reads, after the first."""
    if is_pushed:
        wait = config.callback_fallback_poll
        while True:
            wait *= BACKUP_GROWTH
            yield wait
    wait = config.poll_interval
    while True:
        wait = min(config.poll_max_interval, wait * POLL_GROWTH)
        yield wait


def first_read_at(config: EngineConfig, job: JobRow, is_pushed: bool) -> float:
    """When to read a just-submitted task first."""
    submitted = job.submitted_at or job.created_at
    if is_pushed:
        return submitted + config.callback_fallback_poll
    first = submitted + config.poll_interval
    # The provider's own estimate (kept in not_before, with its margin) may bring the first look
    # forward: a 5-second job should not wait for a 10-second poll.
    return min(first, job.not_before) if job.not_before else first


async def follow(ctx: JobContext, job: JobRow, *, first_read: float | None = None) -> None:
    """Read the task at the provider on schedule until the job leaves the provider or overruns."""
    is_pushed = pushed(ctx, ctx.providers.get(job.provider))
    waits = read_waits(ctx.config, is_pushed)
    due = first_read_at(ctx.config, job, is_pushed) if first_read is None else first_read
    while True:
        job = await ctx.get(job.id)
        if job.state not in IN_FLIGHT or ctx.timed_out(job):
            return  # moved on, or out of time: the engine takes the next step
        if (left := due - ctx.clock()) > 0:
            # Ends early when the job moves (a callback wrote its ending): then look again.
            await ctx.nap(job.id, left)
            continue
        wait = next(waits)
        assert job.provider_task_id is not None
        try:
            task = await ctx.provider(job.provider).get_task(job.provider_task_id)
        except ProviderError as error:
            if job.provider not in ctx.providers:
                await ctx.fail(job.id, error)  # its credentials were removed: nobody can follow it now
                return
            ctx.provider_failed(job.provider, error, job.id, "read")
            wait = max(wait, error.retry_after or 0.0)
        else:
            await ctx.store.update_job(job.id, poll_attempts=job.poll_attempts + 1)
            if can_move(job, task):
                await ctx.record_report(job.id, task)
            if task.eta_seconds is not None and not is_pushed:
                # The provider's estimate keeps the backoff from overshooting the end; never more
                # often than POLL_INTERVAL (an estimate stuck at zero must not become a tight loop).
                wait = min(wait, max(ctx.config.poll_interval, task.eta_seconds + ETA_MARGIN))
        due = ctx.clock() + wait


async def resume(ctx: JobContext, job: JobRow) -> None:
    """Follow a job this process did not just submit (after a restart, or after its task died):
    read at once, since reports may have been lost meanwhile, then on schedule."""
    await follow(ctx, job, first_read=ctx.clock())


async def handle_callback(
    ctx: JobContext, provider_name: str, job_id: str, token: str | None, headers: Mapping[str, str], body: bytes
) -> None:
    """A provider's callback; raises CallbackRejected with the status to answer. Changes nothing
    unless the token, the job and the body all check out, and writes nothing when the report
    cannot move the job (a repeated "processing"): read, compare, return. Whatever it writes is
    committed before it returns, so the 200 the provider gets means "recorded"."""
    if not ctx.links.verify_callback(token, provider_name, job_id):
        raise CallbackRejected(401, "bad callback token")
    job = await ctx.store.get_job(job_id)
    if job is None or job.provider != provider_name:
        raise CallbackRejected(404, "unknown job")
    provider = ctx.providers.get(provider_name)
    if provider is None:
        raise CallbackRejected(404, "unknown provider")
    try:
        task = provider.parse_callback(headers, body)
    except ProviderError as error:
        raise CallbackRejected(400, f"malformed callback: {error.message}") from None
    if job.provider_task_id and task.task_id != job.provider_task_id:
        raise CallbackRejected(400, "callback is for another task")
    # No confirming read, even for an ending. The callback came to a URL carrying an HMAC of
    # (provider, job id) that only this bot can mint, that only this provider was given, that is
    # never logged, and that is checked in constant time: the sender is the provider. What
    # docs/providers.md leaves open (Kling's callbacks are unsigned and unordered, useapi's are
    # undocumented) is covered by that URL and by states only moving forward. The body carries
    # what an ending needs (status, result URL, cost: Kling's task_result and
    # final_unit_deduction, GoAPI's full task data, ModelsLab's output); a success without a URL
    # is not applied and waits for a read. A confirming read would cost a call per job for nothing.
    if not can_move(job, task):
        return  # late, repeated, or the submit answer is still on its way (a read picks it up)
    try:
        await ctx.record_report(job.id, task)
    except StoreBusy:
        raise CallbackRejected(503, "the database is busy") from None  # not recorded: let the provider retry


async def take_report(ctx: JobContext, provider_name: str, job_id: str, task: ProviderTask) -> None:
    """An in-process report from a provider (ReportsTasks): the same checks as a callback, minus
    the token (it never left the process)."""
    job = await ctx.store.get_job(job_id)
    if job is None or job.provider != provider_name:
        return
    if job.provider_task_id and task.task_id != job.provider_task_id:
        return
    if can_move(job, task):
        await ctx.record_report(job_id, task)
