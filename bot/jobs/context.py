"""What the engine hands down to every phase: the context, and the one way to move a job.

The engine (engine.py) owns each job's life and calls down into the phases
(submit.py, follow.py, endings.py). A phase does one kind of work and hands the
job on by writing its next state through `JobContext.move`; it never calls
another phase. Every successful move tells the engine (`advance`), which runs
whatever the new state needs. Nothing here imports a phase or the engine.

Every move writes the state, its history row and its ledger row (commit or
refund) in one transaction, before any side effect, and only forward: a late or
repeated provider report is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from bot.downloads import Downloader
from bot.errors import JobNotFound, ProviderError, provider_error
from bot.i18n import Renderable, Text
from bot.metrics import (
    DELIVERY_TIME,
    JOBS_ENDED,
    PROVIDER_ERRORS,
    PROVIDER_TIME,
    QUEUE_WAIT,
)
from bot.models import ENDS, IN_FLIGHT, STATE_RANK, ErrorKind, JobState
from bot.providers.base import Provider, ProviderTask, TaskStatus
from bot.quotas import QuotaPolicy
from bot.signing import Links
from bot.store import JobRow, Store

log = logging.getLogger("bot.jobs")

ETA_MARGIN = 0.5  # look this long after a provider's estimate of when a task is done
# Where a job may end from (anything not yet made or ended).
ENDABLE = (JobState.QUEUED, JobState.SUBMITTING, *IN_FLIGHT)
# The state a provider's report asks for; SUBMITTED tells nothing new.
REPORTED: dict[TaskStatus, JobState] = {
    TaskStatus.PROCESSING: JobState.PROCESSING,
    TaskStatus.SUCCEEDED: JobState.SUCCEEDED,
    TaskStatus.FAILED: JobState.FAILED,
}


class Notifier(Protocol):
    """Where a job's news goes (Discord, or the terminal). Implementations must be idempotent per job."""

    async def progress(self, job: JobRow, text: Text | str) -> None:
        """Best effort: edit the status message; may silently do nothing (expired token, restart)."""

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        """Post the result (a file, or a link when it is too large); return the message id.
        Raise DeliveryTooLarge if the platform refuses the file's size, DeliveryImpossible if
        there is nowhere left to post it."""

    async def notify_failure(self, job: JobRow, text: Renderable | str) -> None:
        """Tell the user the job ended without a video, and why (a Text renders in their language)."""


@dataclass(frozen=True)
class EngineConfig:
    data_dir: Path
    public_url: str = ""  # empty: no callbacks, poll only
    poll_interval: float = 10.0
    poll_max_interval: float = 60.0
    callback_fallback_poll: float = 90.0  # first backup read when the provider reports by itself
    job_timeout: float = 3600.0
    provider_max_concurrency: int = 4
    guild_max_concurrency: int = 0  # videos one server may have in progress at once; 0 = no limit
    retry_base: float = 2.0  # delivery and submit retries back off from here
    failover: bool = False
    # How often the dispatcher also looks for jobs that need work but have no running task
    # (a task that died on a database error, a job that ran out of time).
    sweep_interval: float = 5.0
    # Keep a finished job's inputs and result in its folder (RESULT_RETENTION_DAYS > 0): remixes,
    # Try again and result links need them; bot/retention.py deletes them when they are old.
    keep_files: bool = False
    result_link_ttl: float | None = None  # seconds a posted result link works; None: MEDIA_LINK_TTL_SECONDS
    # Several processes on one database (PostgreSQL): a process works on a job while it holds the
    # job's lease, renewed every third of this; when it dies, another takes the job over after this.
    lease_seconds: float = 30.0


def can_move(job: JobRow, task: ProviderTask) -> bool:
    """Whether a provider's report could change the job: checked before any write, so a repeated
    or late report costs one read and nothing else."""
    target = REPORTED.get(task.status)
    if target is None or job.state not in IN_FLIGHT:
        return False
    if target is JobState.SUCCEEDED and not task.result_url:
        return False  # nothing to deliver yet; a later report or read brings the URL
    return STATE_RANK[job.state] < STATE_RANK[target]


@dataclass
class JobContext:
    store: Store
    providers: Mapping[str, Provider]
    notifier: Notifier
    links: Links
    config: EngineConfig
    # The app's one Downloader (size cap, address rules, video check): results come home through it.
    downloader: Downloader
    # "This job's state changed to ...": the engine runs what the new state needs.
    advance: Callable[[str, JobState], None]
    # Sleep up to N seconds, or less when the engine is told the job moved.
    nap: Callable[[str, float], Awaitable[None]]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.time
    log: logging.Logger = field(default=log)
    # Status edits sent without waiting for them (see `progress_soon`); the engine cancels them on stop.
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # What a job's ending said, as a catalogue Text, until its failure notice shows it in the
    # member's language (the job row keeps the English; after a restart that is what is shown).
    ending_texts: dict[str, Text] = field(default_factory=dict)

    # --- reading ------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRow:
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise provider_error(ErrorKind.AUTH, f"provider {name!r} is not configured", retryable=False) from None

    def provider_failed(self, name: str, error: ProviderError, job_id: str, doing: str) -> None:
        PROVIDER_ERRORS.labels(name, error.kind.value).inc()
        self.log.warning("job %s: %s at %s failed: %s", job_id, doing, name, error)

    def job_dir(self, job_id: str) -> Path:
        return self.config.data_dir / "jobs" / job_id

    def timed_out(self, job: JobRow) -> bool:
        started = job.submitted_at or job.created_at
        return self.clock() - started > self.config.job_timeout

    async def progress(self, job: JobRow | str, text: Text | str) -> None:
        """Best effort, by design: a status edit that fails changes nothing."""
        try:
            row = job if isinstance(job, JobRow) else await self.store.get_job(job)
            if row is not None:
                await self.notifier.progress(row, text)
        except Exception as error:
            self.log.debug("job %s: progress update failed: %s", getattr(job, "id", job), error)

    def progress_soon(self, job: JobRow, text: Text | str) -> None:
        """A status edit that the caller does not wait for: a provider's callback is answered
        once its report is recorded, not once Discord has shown it."""
        task = asyncio.create_task(self.progress(job, text), name=f"progress-{job.id}")
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # --- moving -------------------------------------------------------------------------
    async def move(
        self,
        job_id: str,
        to: JobState,
        *,
        allowed_from: Sequence[JobState],
        note: str = "",
        ledger: tuple[str, str] | None = None,
        **fields: Any,
    ) -> JobRow | None:
        """Move a job from one of `allowed_from` to `to` with its history row and, given
        `ledger=(kind, reason)`, its commit or refund, all in one transaction. Returns the job as
        written, or None when the move was not allowed (a no-op). Then the engine is told."""

        async def write(db: aiosqlite.Connection) -> JobRow | None:
            moved = await self.store.transition(job_id, to, allowed_from=allowed_from, note=note, db=db, **fields)
            if moved is not None and ledger is not None:
                await QuotaPolicy.settle(self.store, job_id, ledger[0], ledger[1], db=db)
            return moved

        # Grouped with other moves arriving at the same moment (a burst of callbacks): one commit.
        moved = await self.store.grouped(write)
        if moved is None:
            return None
        _observe(moved)
        self.advance(job_id, to)
        return moved

    async def requeue(self, job_id: str, not_before: float, note: str) -> bool:
        """Back in line until `not_before` (the provider said "not now", so it surely has not got it)."""
        if not await self.store.requeue(job_id, not_before=not_before, note=note):
            return False
        self.advance(job_id, JobState.QUEUED)
        return True

    async def end(
        self, job_id: str, state: JobState, kind: str, user_text: Text | str, detail: str, provider_cost: str | None = None
    ) -> bool:
        """End a job without a video (failed, expired, cancelled) and refund it, exactly once."""
        moved = await self.move(
            job_id,
            state,
            allowed_from=ENDABLE,
            ledger=("refund", f"{state.value}: {kind}"),
            error_kind=kind,
            error_message=str(user_text),  # stored in English (a catalogue msgid when it is one sentence)
            error_detail=detail,
            provider_cost=provider_cost,
            finished_at=self.clock(),
        )
        if moved is not None:
            self.log.info("job %s: %s (%s)", job_id, state.value, detail)
            if isinstance(user_text, Text):
                self.ending_texts[job_id] = user_text
        return moved is not None

    async def fail(self, job_id: str, error: ProviderError, provider_cost: str | None = None) -> bool:
        return await self.end(job_id, JobState.FAILED, error.kind.value, error.user_message, str(error), provider_cost)

    async def record_report(self, job_id: str, task: ProviderTask) -> None:
        """Write one provider report (a submit answer, a read, a callback, an in-process report)."""
        if task.status is TaskStatus.PROCESSING:
            moved = await self.move(
                job_id, JobState.PROCESSING, allowed_from=IN_FLIGHT, provider_status=task.raw_status or "processing"
            )
            if moved is not None:
                self.progress_soon(moved, Text("Making your video…"))
        elif task.status is TaskStatus.SUCCEEDED:
            if not task.result_url:
                self.log.warning("job %s: provider reported success without a result URL; waiting for the next read", job_id)
                return
            moved = await self.move(
                job_id,
                JobState.SUCCEEDED,
                allowed_from=IN_FLIGHT,
                ledger=("commit", "video made"),
                provider_status=task.raw_status or "succeeded",
                result_url=task.result_url,
                provider_cost=task.cost,
                finished_at=self.clock(),
            )
            if moved is not None:
                self.log.info("job %s: succeeded (provider cost %s)", job_id, task.cost)
        elif task.status is TaskStatus.FAILED:
            error = provider_error(
                task.error_kind or ErrorKind.UNKNOWN,
                task.error_message or "task failed",
                code=task.error_code,
                user_detail=task.user_detail,
            )
            await self.fail(job_id, error, provider_cost=task.cost)


def _observe(job: JobRow) -> None:
    """Metrics for a move just written (the row carries every time they need)."""
    if job.state is JobState.SUBMITTED and job.submitted_at is not None:
        QUEUE_WAIT.observe(max(0.0, job.submitted_at - job.created_at))
    if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED) and job.submitted_at and job.finished_at:
        PROVIDER_TIME.labels(job.provider).observe(max(0.0, job.finished_at - job.submitted_at))
    if job.state is JobState.DELIVERED and job.delivered_at and job.finished_at:
        DELIVERY_TIME.observe(max(0.0, job.delivered_at - job.finished_at))
    if job.state in ENDS:
        JOBS_ENDED.labels(job.provider, job.kind, job.state.value).inc()
