"""The job engine: queue, submit, follow, deliver; survive restarts.

State machine (bot/models.py): queued -> submitting -> submitted -> processing
-> succeeded -> delivered, with failed / cancelled / expired as ends.
Every transition is written (with its ledger row) before its side effect, and
only moves forward, so duplicated or late provider reports are no-ops and a
restart knows exactly what is left: `start()` resumes polling what is in
flight, reconciles what was being submitted, re-delivers what succeeded and
submits what is queued.

Delivery is at-least-once from here and exactly-once at Discord: every post
carries a nonce made from the job id, which Discord deduplicates.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import (
    CallbackRejected,
    DeliveryImpossible,
    DeliveryTooLarge,
    JobNotFound,
    ProviderError,
    provider_error,
)
from bot.kinds import JobRequest, adapt_to, kind_of, request_for, takes
from bot.models import ENDS, IN_FLIGHT, ErrorKind, JobState, Requester
from bot.pricing import Price
from bot.providers.base import Provider, ProviderTask, SubmitRequest, TaskStatus
from bot.quotas import QuotaPolicy
from bot.signing import Links
from bot.store import JobRow, Store

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Where a job's news goes (Discord, or the terminal). Implementations must be idempotent per job."""

    async def progress(self, job: JobRow, text: str) -> None:
        """Best effort: edit the status message; may silently do nothing (expired token, restart)."""

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        """Post the result (a file, or a link when it is too large); return the message id.
        Raise DeliveryTooLarge if the platform refuses the file's size, DeliveryImpossible if
        there is nowhere left to post it."""

    async def notify_failure(self, job: JobRow, text: str) -> None:
        """Tell the user the job ended without a video, and why."""





@dataclass(frozen=True)
class EngineConfig:
    data_dir: Path
    public_url: str = ""  # empty: no callbacks, poll only
    poll_interval: float = 10.0
    poll_max_interval: float = 60.0
    callback_fallback_poll: float = 90.0
    job_timeout: float = 3600.0
    provider_max_concurrency: int = 4
    retry_base: float = 2.0  # delivery and submit retries back off from here
    failover: bool = False



class JobEngine:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        quotas: QuotaPolicy,
        notifier: Notifier,
        links: Links,
        config: EngineConfig,
        *,
        origin: str = "discord",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.providers = providers
        self.quotas = quotas
        self.notifier = notifier
        self.links = links
        self.config = config
        self.origin = origin
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[tuple[str, str]] = set()  # (what, job_id) running in this process
        self._ended: dict[str, asyncio.Event] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False

    # --- life -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Pick up whatever a previous run left unfinished, then start dispatching."""
        for job in await self.store.jobs_in([JobState.SUBMITTING], self.origin):
            self._spawn("reconcile", job.id, self._reconcile_submitting(job.id))
        for job in await self.store.jobs_in(IN_FLIGHT, self.origin):
            self._spawn("track", job.id, self._track(job.id))
        for job in await self.store.jobs_in([JobState.SUCCEEDED], self.origin):
            self._spawn("deliver", job.id, self._deliver(job.id))
        for job in await self.store.failed_unnotified(self.origin):
            self._spawn("notify", job.id, self._notify_end(job.id))
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks)
        if self._dispatcher:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, what: str, job_id: str, coro: Awaitable[None]) -> None:
        key = (what, job_id)
        if key in self._busy or self._stopping:
            coro.close()  # type: ignore[attr-defined]
            return
        self._busy.add(key)

        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s: %s crashed", job_id, what)
            finally:
                self._busy.discard(key)

        task = asyncio.create_task(run(), name=f"{what}-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- intake -----------------------------------------------------------------------------
    async def create_motion_job(
        self, requester: Requester, request: JobRequest, provider_name: str, price: Price, job_id: str | None = None
    ) -> JobRow:
        """Reserve the credits and write the queued job in one transaction.

        Raises QuotaRefused (nothing written) when a limit does not allow it."""
        job_id = job_id or new_job_id()
        async with self.store.transaction() as db:
            await self.quotas.reserve(
                db,
                self.store,
                user_id=requester.user_id,
                guild_id=requester.guild_id,
                job_id=job_id,
                amount=price.credits,
                price_text=price.explain(),
            )
            await Store.insert_job(
                db,
                job_id=job_id,
                kind=kind_of(request),
                origin=requester.origin,
                user_id=requester.user_id,
                guild_id=requester.guild_id,
                channel_id=requester.channel_id,
                provider=provider_name,
                request=request.model_dump(mode="json"),
                price=price.credits,
                upload_limit=requester.upload_limit,
            )
        log.info("job %s: queued for %s, %d credits", job_id, provider_name, price.credits)
        self._wake.set()
        job = await self.store.get_job(job_id)
        assert job is not None
        return job

    def job_dir(self, job_id: str) -> Path:
        return self.config.data_dir / "jobs" / job_id

    async def wait_for_end(self, job_id: str, timeout: float | None = None) -> JobRow:
        """Until the job is delivered, failed, cancelled or expired (and the user told)."""
        event = self._ended.setdefault(job_id, asyncio.Event())
        try:
            job = await self._get(job_id)
            if not self._is_settled(job):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._ended.pop(job_id, None)
        return await self._get(job_id)

    @staticmethod
    def _is_settled(job: JobRow) -> bool:
        return job.state is JobState.DELIVERED or (job.state in ENDS and job.notified_at is not None)

    def _mark_settled(self, job_id: str) -> None:
        event = self._ended.get(job_id)  # only jobs someone waits for have one: no growth over months
        if event is not None:
            event.set()
        self._wake.set()  # a slot is free

    async def _get(self, job_id: str) -> JobRow:
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    # --- dispatch ---------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._dispatch_once()
            except Exception:
                log.exception("dispatcher pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=5.0)
            except TimeoutError:
                pass

    async def _dispatch_once(self) -> None:
        active = await self.store.active_by_provider()  # one count per pass, kept up to date below
        for job in await self.store.jobs_in([JobState.QUEUED], self.origin):
            if ("submit", job.id) in self._busy:
                continue
            if active.get(job.provider, 0) >= self.config.provider_max_concurrency:
                continue  # this provider is full; a later job for another provider may still go
            async with self.store.transaction() as db:
                moved = await Store.transition_in(db, job.id, JobState.SUBMITTING, allowed_from=[JobState.QUEUED])
            if moved is None:
                continue
            active[job.provider] = active.get(job.provider, 0) + 1
            self._spawn("submit", job.id, self._submit(job.id))

    def _provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise provider_error(
                ErrorKind.AUTH, f"provider {name!r} is not configured", retryable=False
            ) from None

    def _submit_request(self, job: JobRow, provider: str) -> SubmitRequest:
        request = request_for(job.kind, job.request)
        # Our own signed URLs outlive Discord's CDN links; use them when we are reachable.
        for media in request.media_files():
            own = self.links.media_url(job.id, media.path.name)
            if own:
                media.url = own
        caps = self._provider(provider).capabilities
        request = adapt_to(request, provider, caps, public_url=bool(self.config.public_url)) or request
        return SubmitRequest(job_id=job.id, request=request, callback_url=self.links.callback_url(provider, job.id))

    def _failover_order(self, job: JobRow) -> list[str]:
        if not self.config.failover:
            return [job.provider]
        others = [
            name
            for name, provider in self.providers.items()
            if name not in (job.provider, "simulator")
            and takes(job.kind, job.request, name, provider.capabilities, public_url=bool(self.config.public_url))
        ]
        return [job.provider, *others]

    async def _submit(self, job_id: str) -> None:
        job = await self._get(job_id)
        attempt = 0
        while True:
            last_error: ProviderError | None = None
            for name in self._failover_order(job):
                try:
                    provider = self._provider(name)
                    task = await provider.submit(self._submit_request(job, name))
                except ProviderError as error:
                    last_error = error
                    log.warning("job %s: submit to %s failed: %s", job_id, name, error)
                    if not error.retryable or error.maybe_accepted:
                        break  # a rejection is the same anywhere; an unknown outcome must not be doubled
                    continue
                if name != job.provider:
                    await self.store.update_job(job_id, provider=name)
                    await self._progress(job_id, f"{job.provider} was unavailable, so your video went to {name}.")
                await self._on_submitted(job_id, task)
                return
            assert last_error is not None
            if last_error.maybe_accepted:
                await self._reconcile_submitting(job_id)
                return
            if not last_error.retryable or self._timed_out(job):
                await self._fail(job_id, last_error)
                return
            # Every provider said "not now" (rate limit, busy): the job keeps its place and waits.
            attempt += 1
            delay = min(self.config.poll_max_interval, self.config.retry_base * 2**attempt)
            await self._progress(job_id, f"The video service is busy; trying again in {int(delay)} s.")
            await self._sleep(delay)

    async def _on_submitted(self, job_id: str, task: ProviderTask) -> None:
        async with self.store.transaction() as db:
            await Store.transition_in(
                db,
                job_id,
                JobState.SUBMITTED,
                allowed_from=[JobState.SUBMITTING],
                provider_task_id=task.task_id,
                provider_status=task.raw_status or task.status.value,
                submitted_at=time.time(),
            )
        log.info("job %s: submitted as task %s", job_id, task.task_id)
        await self._progress(job_id, "Sent to the video service. Waiting for it to start…")
        await self.apply_task(job_id, task)
        self._spawn("track", job_id, self._track(job_id, first_wait=task.eta_seconds))

    async def _reconcile_submitting(self, job_id: str) -> None:
        """A submit whose outcome is unknown (crash or timeout): look the task up, never resubmit blindly."""
        job = await self._get(job_id)
        provider = self.providers.get(job.provider)
        if provider is not None and provider.capabilities.can_find_by_job_id:
            for attempt in range(5):
                try:
                    task = await provider.find_task(job_id)
                except ProviderError as error:
                    log.warning("job %s: lookup after interrupted submit failed: %s", job_id, error)
                    await self._sleep(self.config.retry_base * 2**attempt)
                    continue
                if task is None:
                    # Surely never created: submitting again cannot double it.
                    self._spawn("submit", job_id, self._submit(job_id))
                else:
                    await self._on_submitted(job_id, task)
                return
        await self._fail(
            job_id,
            provider_error(
                ErrorKind.OUTAGE,
                "submit interrupted; the provider cannot be asked whether it arrived",
                user_detail="The bot could not confirm your request reached it, so it was stopped and you were not charged.",
            ),
        )

    # --- follow -----------------------------------------------------------------------------
    def _timed_out(self, job: JobRow) -> bool:
        started = job.submitted_at or job.created_at
        return time.time() - started > self.config.job_timeout

    async def _track(self, job_id: str, first_wait: float | None = None) -> None:
        """Poll with backoff until the job leaves the provider. With callbacks configured this is
        only the safety net, so it starts slower. A provider's own estimate brings the first look
        forward: a 5-second job should not wait for a 10-second poll."""
        interval = self.config.callback_fallback_poll if self.config.public_url else self.config.poll_interval
        # Only the first look, and only without callbacks: after it, plain backoff (an estimate that
        # stays at zero must not turn into a hammering loop).
        wait = interval if first_wait is None or self.config.public_url else min(interval, first_wait + 0.5)
        while True:
            await self._sleep(wait)
            wait = interval
            job = await self._get(job_id)
            if job.state not in IN_FLIGHT:
                return
            if self._timed_out(job):
                await self._expire(job)
                return
            assert job.provider_task_id is not None
            try:
                provider = self._provider(job.provider)
                task = await provider.get_task(job.provider_task_id)
            except ProviderError as error:
                if job.provider not in self.providers:
                    await self._fail(job_id, error)  # its credentials were removed: nobody can follow it now
                    return
                log.warning("job %s: poll failed: %s", job_id, error)
                interval = min(self.config.poll_max_interval, interval * 2)
                wait = interval
                continue
            await self.store.update_job(job_id, poll_attempts=job.poll_attempts + 1)
            await self.apply_task(job_id, task)
            if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
                return
            interval = min(self.config.poll_max_interval, interval * 1.5)
            wait = interval

    async def handle_callback(self, provider_name: str, job_id: str, token: str | None, headers: Mapping[str, str], body: bytes) -> None:
        """A provider's callback; raises CallbackRejected with the status to answer. Changes nothing
        unless the token, the job and the body all check out."""
        if not self.links.verify_callback(token, provider_name, job_id):
            raise CallbackRejected(401, "bad callback token")
        job = await self.store.get_job(job_id)
        if job is None or job.provider != provider_name:
            raise CallbackRejected(404, "unknown job")
        provider = self.providers.get(provider_name)
        if provider is None:
            raise CallbackRejected(404, "unknown provider")
        try:
            task = provider.parse_callback(headers, body)
        except ProviderError as error:
            raise CallbackRejected(400, f"malformed callback: {error.message}") from None
        if job.provider_task_id and task.task_id != job.provider_task_id:
            raise CallbackRejected(400, "callback is for another task")
        if job.state in ENDS or job.state is JobState.SUCCEEDED:
            return  # late or repeated: nothing to do, and nothing to complain about
        if job.state is JobState.SUBMITTING and not job.provider_task_id:
            return  # the submit answer is still on its way; polling picks it up
        if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            # Callbacks are hints (some are unsigned upstream): confirm an ending with a read.
            try:
                task = await provider.get_task(task.task_id)
            except ProviderError as error:
                log.warning("job %s: could not confirm callback, using it as sent: %s", job_id, error)
        await self.apply_task(job_id, task)

    async def apply_task(self, job_id: str, task: ProviderTask) -> None:
        """Feed one provider report (from a submit answer, a poll or a callback) into the state machine."""
        if task.status is TaskStatus.PROCESSING:
            async with self.store.transaction() as db:
                moved = await Store.transition_in(
                    db, job_id, JobState.PROCESSING, allowed_from=IN_FLIGHT, provider_status=task.raw_status or "processing"
                )
            if moved:
                await self._progress(job_id, "Making your video…")
        elif task.status is TaskStatus.SUCCEEDED:
            if not task.result_url:
                log.warning("job %s: provider reported success without a result URL; polling on", job_id)
                return
            async with self.store.transaction() as db:
                moved = await Store.transition_in(
                    db,
                    job_id,
                    JobState.SUCCEEDED,
                    allowed_from=IN_FLIGHT,
                    provider_status=task.raw_status or "succeeded",
                    result_url=task.result_url,
                    provider_cost=task.cost,
                    finished_at=time.time(),
                )
                if moved:
                    await QuotaPolicy.settle(db, job_id, "commit", "video made")
            if moved:
                log.info("job %s: succeeded (provider cost %s)", job_id, task.cost)
                self._spawn("deliver", job_id, self._deliver(job_id))
        elif task.status is TaskStatus.FAILED:
            kind = task.error_kind or ErrorKind.UNKNOWN
            await self._fail(
                job_id,
                provider_error(
                    kind, task.error_message or "task failed", code=task.error_code, user_detail=task.user_detail
                ),
                provider_cost=task.cost,
            )

    # --- endings ---------------------------------------------------------------------------
    async def _fail(self, job_id: str, error: ProviderError, provider_cost: str | None = None) -> None:
        await self._end(job_id, JobState.FAILED, error.kind.value, error.user_message, str(error), provider_cost)

    async def _expire(self, job: JobRow) -> None:
        provider = self.providers.get(job.provider)
        if provider and provider.capabilities.can_cancel and job.provider_task_id:
            try:
                await provider.cancel(job.provider_task_id)
            except ProviderError as error:
                log.warning("job %s: cancel at provider failed: %s", job.id, error)
        minutes = round(self.config.job_timeout / 60)
        await self._end(
            job.id,
            JobState.EXPIRED,
            "timeout",
            f"The video service did not finish within {minutes} minutes, so the job was stopped.",
            f"no result after {minutes} min",
        )

    async def cancel(self, job_id: str, user_id: int) -> str:
        """A user cancels their own job. Returns what to tell them."""
        job = await self._get(job_id)
        if job.user_id != user_id:
            return "Only the person who started this video can cancel it."
        if job.state in ENDS or job.state is JobState.SUCCEEDED:
            return "This video is already finished."
        if job.state is not JobState.QUEUED:
            provider = self.providers.get(job.provider)
            if not (provider and provider.capabilities.can_cancel and job.provider_task_id):
                return "This video is already being made and this provider cannot stop it."
            try:
                await provider.cancel(job.provider_task_id)
            except ProviderError as error:
                return f"Could not cancel: {error.user_message}"
        ended = await self._end(job_id, JobState.CANCELLED, "cancelled", "Cancelled. Your credits were returned.", "cancelled by user")
        return "Cancelled. Your credits were returned." if ended else "This video is already finished."

    async def _end(
        self, job_id: str, state: JobState, kind: str, user_text: str, detail: str, provider_cost: str | None = None
    ) -> bool:
        async with self.store.transaction() as db:
            moved = await Store.transition_in(
                db,
                job_id,
                state,
                allowed_from=[JobState.QUEUED, JobState.SUBMITTING, *IN_FLIGHT],
                error_kind=kind,
                error_message=user_text,
                error_detail=detail,
                provider_cost=provider_cost,
                finished_at=time.time(),
            )
            if moved:
                await QuotaPolicy.settle(db, job_id, "refund", f"{state.value}: {kind}")
        if moved:
            log.info("job %s: %s (%s)", job_id, state.value, detail)
            self._spawn("notify", job_id, self._notify_end(job_id))
        return moved is not None

    async def _notify_end(self, job_id: str) -> None:
        job = await self._get(job_id)
        if job.notified_at is not None:
            return
        text = job.error_message or "The video could not be made."
        if job.state is not JobState.CANCELLED:
            text += " Your credits were returned."
        try:
            await self._retry_forever(job_id, "failure notice", lambda: self.notifier.notify_failure(job, text))
        except DeliveryImpossible as exc:
            log.warning("job %s: failure notice could not be posted: %s", job_id, exc)
        await self.store.update_job(job_id, notified_at=time.time())
        self._cleanup_inputs(job_id, keep_result=False)
        self._mark_settled(job_id)

    async def _deliver(self, job_id: str) -> None:
        job = await self._get(job_id)
        if job.state is not JobState.SUCCEEDED:
            return
        assert job.result_url is not None
        provider = self.providers.get(job.provider)
        path = self.job_dir(job_id) / "result.mp4"
        video: Path | None = None
        link: str | None = None
        if not path.exists() and provider is not None:
            try:
                await provider.download(job.result_url, path)
            except ProviderError as error:
                log.warning("job %s: result download failed, posting the provider's link: %s", job_id, error)
        if path.exists():
            video = path if path.stat().st_size <= job.upload_limit else None
        if video is None:
            link = self.links.media_url(job_id, "result.mp4") if path.exists() else None
            link = link or job.result_url
        await self._progress(job_id, "Done! Posting your video…")

        async def post() -> int | None:
            try:
                return await self.notifier.deliver(job, video, link)
            except DeliveryTooLarge:
                fallback = self.links.media_url(job_id, "result.mp4") or job.result_url
                return await self.notifier.deliver(job, None, fallback)

        undeliverable = None
        try:
            message_id = await self._retry_forever(job_id, "delivery", post)
        except DeliveryImpossible as exc:
            # Channel gone and the user unreachable: retrying forever would help nobody.
            message_id, undeliverable = None, f"could not be posted: {exc}"
            log.warning("job %s: result %s", job_id, undeliverable)
        async with self.store.transaction() as db:
            await Store.transition_in(
                db,
                job_id,
                JobState.DELIVERED,
                allowed_from=[JobState.SUCCEEDED],
                note=undeliverable or "",
                delivered_at=time.time(),
                message_id=message_id,
            )
        log.info("job %s: delivered", job_id)
        # A link to our own server needs the file; an attachment does not.
        self._cleanup_inputs(job_id, keep_result=video is None and bool(self.config.public_url))
        self._mark_settled(job_id)

    async def _retry_forever(self, job_id: str, what: str, action: Callable[[], Awaitable[int | None]]) -> int | None:
        """Keep trying a post until it goes through: a result is never dropped (restart resumes too)."""
        attempt = 0
        while True:
            try:
                return await action()
            except (asyncio.CancelledError, DeliveryImpossible):
                raise
            except Exception as error:
                delay = min(300.0, self.config.retry_base * 2**attempt)
                log.warning("job %s: %s failed (%s); retrying in %.0f s", job_id, what, error, delay)
                attempt += 1
                await self._sleep(delay)

    def _cleanup_inputs(self, job_id: str, keep_result: bool) -> None:
        folder = self.job_dir(job_id)
        if not folder.exists():
            return
        for item in folder.iterdir():
            if keep_result and item.name == "result.mp4":
                continue
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)

    async def _progress(self, job_id: str, text: str) -> None:
        job = await self.store.get_job(job_id)
        if job is None:
            return
        try:
            await self.notifier.progress(job, text)
        except Exception as error:  # status edits are best effort by design
            log.debug("job %s: progress update failed: %s", job_id, error)


def new_job_id() -> str:
    # 12 hex chars: short enough for a Discord nonce (25 max) and a custom_id, unguessable enough
    return secrets.token_hex(6)
