"""The dispatcher's rules: which queued jobs may start now, in what order, and the line notices.

Called by the engine (bot/jobs/engine.py), which keeps the dispatcher's loop, its sweep and its
state (`claimed`, `guild_job_limits`, the `LineWatch`); this module imports no phase and not the
engine. A queued job starts when its "not before" has passed, its provider has a free slot
(`provider_max_concurrency`) and its server has one (/admin budget jobs N, else
GUILD_MAX_ACTIVE_JOBS); the order is fair between servers and members (bot/fairness.py through
bot/line.py), and a waiting member hears when their place in line changes.
"""

from __future__ import annotations

from bot.jobs.context import JobContext
from bot.line import LineWatch, start_order_now
from bot.models import JobState
from bot.store import job_lease


async def start_what_may_start(
    ctx: JobContext, origin: str, now: float, *, claimed: set[str], guild_job_limits: dict[int, int], shared: bool
) -> float | None:
    """Move to submitting the queued jobs that may start; return when the next job held back by
    "not before" is due. `claimed` gets the ids of the jobs moved (nothing sent yet)."""
    store, config = ctx.store, ctx.config
    active = await store.active_by_provider()  # one count per pass, kept up to date below
    by_guild = await store.active_by_guild()
    next_due: float | None = None
    # Fairness: round-robin between servers and between members (bot/fairness.py); the slot
    # limits below still decide whether each job may start now.
    for job in await start_order_now(store, origin, now):
        if job.not_before is not None and job.not_before > now:
            next_due = job.not_before if next_due is None else min(next_due, job.not_before)
            continue
        if active.get(job.provider, 0) >= config.provider_max_concurrency:
            continue  # this provider is full; a later job for another provider may still go
        if guild_full(job.guild_id, by_guild, guild_job_limits, config.guild_max_concurrency):
            continue  # this server has as many videos in progress as its admins allow
        lease = job_lease(job.id)
        if shared and not await store.take_lease(lease, config.lease_seconds):
            continue  # another process's dispatcher has it
        claimed.add(job.id)
        if await ctx.move(job.id, JobState.SUBMITTING, allowed_from=[JobState.QUEUED]) is None:
            claimed.discard(job.id)
            if shared:
                await store.release_lease(lease)
            continue
        active[job.provider] = active.get(job.provider, 0) + 1
        if job.guild_id is not None:
            by_guild[job.guild_id] = by_guild.get(job.guild_id, 0) + 1
    return next_due


def guild_full(guild_id: int | None, by_guild: dict[int, int], guild_job_limits: dict[int, int], default: int) -> bool:
    """The per-server slot limit (/admin budget jobs N, else GUILD_MAX_ACTIVE_JOBS; 0 = none)."""
    if guild_id is None:
        return False
    limit = guild_job_limits.get(guild_id, default)
    return bool(limit) and by_guild.get(guild_id, 0) >= limit


async def show_places(ctx: JobContext, origin: str, line: LineWatch) -> None:
    """Tell the waiting jobs whose place in line changed (bounded: only changes are sent)."""
    now = ctx.clock()
    ordered = await start_order_now(ctx.store, origin, now)
    await line.refresh(ctx.store, ordered, ctx.config.provider_max_concurrency, now, ctx.progress_soon)
