"""A member's own jobs: the pages of /jobs, the active ones (/cancel, /quota), cancelling one.

Core: no discord. The cogs render what these return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.errors import Refusal
from bot.i18n import Text
from bot.jobs import JobEngine
from bot.line import Place, places_of_user
from bot.models import JobState
from bot.store import JobRow, Store

PAGE_SIZE = 5
ACTIVE = (JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.PROCESSING)

# How a job's state reads to its owner.
STATE_TEXTS: dict[JobState, Text] = {
    JobState.QUEUED: Text("waiting in line", msgctxt="job state"),
    JobState.SUBMITTING: Text("starting", msgctxt="job state"),
    JobState.SUBMITTED: Text("being made", msgctxt="job state"),
    JobState.PROCESSING: Text("being made", msgctxt="job state"),
    JobState.SUCCEEDED: Text("being posted", msgctxt="job state"),
    JobState.DELIVERED: Text("done", msgctxt="job state"),
    JobState.FAILED: Text("failed", msgctxt="job state"),
    JobState.CANCELLED: Text("cancelled", msgctxt="job state"),
    JobState.EXPIRED: Text("timed out", msgctxt="job state"),
}
STATE_ICONS: dict[JobState, str] = {
    JobState.QUEUED: "⏳", JobState.SUBMITTING: "🚀", JobState.SUBMITTED: "🎬", JobState.PROCESSING: "🎬",
    JobState.SUCCEEDED: "📤", JobState.DELIVERED: "✅", JobState.FAILED: "❌", JobState.CANCELLED: "🚫",
    JobState.EXPIRED: "⌛",
}


@dataclass(frozen=True)
class JobsPage:
    jobs: list[JobRow]
    page: int  # 0-based, within range
    pages: int  # at least 1
    total: int


async def jobs_page(store: Store, user_id: int, page: int, page_size: int = PAGE_SIZE) -> JobsPage:
    """One page of the member's jobs, newest first; a page past the end shows the last one."""
    total = await store.count_jobs_of_user(user_id)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(0, page), pages - 1)
    jobs = await store.jobs_of_user(user_id, limit=page_size, offset=page * page_size)
    return JobsPage(jobs=jobs, page=page, pages=pages, total=total)


def credits_text(job: JobRow) -> Text:
    if job.state in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        return Text("{credits} credits, refunded", credits=job.price)
    return Text("{credits} credits", credits=job.price)


@dataclass(frozen=True)
class ActiveJob:
    job: JobRow
    place: Place | None  # None once it has left the line


async def active_jobs(store: Store, user_id: int, origin: str, slots: int, now: float) -> list[ActiveJob]:
    """The member's unfinished jobs, oldest first, with their place in line while waiting."""
    places = {place.job.id: place for place in await places_of_user(store, user_id, origin, slots, now)}
    return [ActiveJob(job, places.get(job.id)) for job in await store.active_jobs_of_user(user_id, origin=origin)]


async def cancel_own(engine: JobEngine, job_id: str, user_id: int, locale: object) -> str:
    """Cancel one of the member's own jobs; someone else's (or an unknown id) is refused alike."""
    job = await engine.store.get_job(job_id)
    if job is None or job.user_id != user_id:
        raise Refusal(Text("You can only cancel your own videos, and {job} is not one of them.", job=job_id[:24]))  # type: ignore[arg-type]
    said = await engine.cancel(job_id, user_id)
    return said.render(locale)
