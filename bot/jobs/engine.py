"""The engine: a job's life from intake to its end, and the dispatcher's loop (rules: dispatch.py).

State machine (bot/models.py): queued -> submitting -> submitted -> processing
-> succeeded -> delivered, with failed / cancelled / expired as ends; one move back,
submitting -> queued, when a provider said "not now" (it surely did not take the job).

Each job has at most one owner task in this process. The owner reads the job's state, runs the
one step that state needs (a phase function), and repeats until nothing is left to do: the
phases never call one another, they write the next state and the owner picks it up. A state
written elsewhere (a callback, a cancel) reaches the owner through `advance`. The dispatcher
moves queued jobs to submitting when their provider has a free slot and their "not before" has
passed, and every `sweep_interval` gives an owner to any job that needs work and has none: a
restart, or a task that died on a database error. So a job is never left without an owner.

Several processes on one PostgreSQL database (`store.shared`): an owner task works on a job only
while its process holds the job's lease (`job:<id>`, bot/store/leases.py), taken before the
dispatcher moves a queued job and by the owner when it starts, renewed while it runs, released
when the job is settled. A process that dies stops renewing; after `lease_seconds` another
process's sweep takes its jobs over. A move written by another process (a provider's callback
can land on any of them) reaches the owner through the database's notification (`job_moved`).
On SQLite (one process) none of this runs: no lease is written.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path

from pydantic import BaseModel

from bot.downloads import Downloader
from bot.errors import StoreBusy
from bot.i18n import Text
from bot.jobs import dispatch, endings, follow, submit
from bot.jobs.context import EngineConfig, JobContext, Notifier
from bot.kinds import JobRequest, kind_of
from bot.line import LineWatch
from bot.metrics import counted_refusals
from bot.models import ENDS, IN_FLIGHT, JobState, Lineage, Requester
from bot.pricing import Price
from bot.providers.base import Provider, ProviderTask
from bot.quotas import QuotaPolicy
from bot.signing import Links
from bot.store import JobRow, Store, job_lease

log = logging.getLogger("bot.jobs")

Step = Callable[[JobContext, JobRow], Awaitable[None]]


def new_job_id() -> str:
    # 12 hex chars: short enough for a Discord nonce (25 max) and a custom_id, unguessable enough
    return secrets.token_hex(6)


def is_settled(job: JobRow) -> bool:
    """Nothing left to do: delivered, or ended and the user told."""
    return job.state is JobState.DELIVERED or (job.state in ENDS and job.notified_at is not None)


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
        downloader: Downloader,
        origin: str = "discord",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.providers = providers
        self.quotas = quotas
        self.notifier = notifier
        self.links = links
        self.origin = origin
        self.ctx = JobContext(
            store=store,
            providers=providers,
            notifier=notifier,
            links=links,
            config=config,
            downloader=downloader,
            advance=self.advance,
            nap=self._nap,
            sleep=sleep,
            clock=clock,
        )
        # Per-server slot limits set by admins (/admin budget jobs); kept current by bot/guild_admin.py.
        self.guild_job_limits: dict[int, int] = {}
        self.last_dispatch_at = 0.0  # time.time() of the dispatcher's last pass, for /healthz
        self.line = LineWatch()  # waiting members hear their new place when the line moves
        self._wake = asyncio.Event()
        self._owners: dict[str, asyncio.Task[None]] = {}
        self._nudges: dict[str, asyncio.Event] = {}  # set: "the job moved, look again"
        self._claimed: set[str] = set()  # moved to submitting by this dispatcher, nothing sent yet
        self._ended: dict[str, asyncio.Event] = {}  # only jobs someone waits for
        self._unlisten: list[Callable[[], None]] = []
        self._dispatcher: asyncio.Task[None] | None = None
        self._last_sweep = float("-inf")
        self._stopping = False
        self._shared = store.shared  # other processes work on this database too: lease every job
        self._lease_keeper: asyncio.Task[None] | None = None

    @property
    def config(self) -> EngineConfig:
        return self.ctx.config

    @config.setter
    def config(self, config: EngineConfig) -> None:
        self.ctx.config = config

    # --- life -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen to providers that report by themselves, then dispatch. The dispatcher's first
        pass picks up whatever a previous run left unfinished."""
        for name, provider in self.providers.items():
            if (reports := follow.reporter(provider)) is not None:
                self._unlisten.append(reports.add_task_listener(partial(self._take_report, name)))
        if self._shared:
            self._unlisten.append(await self.store.listen("job_moved", self._moved_elsewhere))
            self._lease_keeper = asyncio.create_task(self._keep_leases(), name="job-leases")
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        for unlisten in self._unlisten:
            unlisten()
        tasks = list(self._owners.values()) + list(self.ctx.background)
        if self._dispatcher:
            tasks.append(self._dispatcher)
        if self._lease_keeper:
            tasks.append(self._lease_keeper)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._shared:  # a clean stop hands our jobs to the other processes now, not after the lease
            try:
                await self.store.release_leases()
            except Exception:
                log.warning("could not release this process's leases; they expire by themselves", exc_info=True)

    def advance(self, job_id: str, state: JobState) -> None:
        """A job's state was just written: run what it needs (the hook every move calls)."""
        if state is JobState.QUEUED or state is JobState.SUCCEEDED or state in ENDS:
            self._wake.set()  # a provider slot may be free, or a job waits for one
        if self._stopping or state is JobState.QUEUED:
            return  # queued jobs are the dispatcher's
        if job_id in self._owners:
            if state not in IN_FLIGHT:  # in flight -> in flight changes nothing for the owner
                self._nudges[job_id].set()
            return
        if self._shared and state in IN_FLIGHT:
            # Recorded here (a provider's callback), worked on by the process that submitted it:
            # in flight -> in flight needs nothing new; a dead owner's jobs are the sweep's.
            return
        self._start_owner(job_id)

    def _start_owner(self, job_id: str) -> None:
        self._nudges[job_id] = asyncio.Event()
        task = asyncio.create_task(self._own(job_id), name=f"job-{job_id}")
        self._owners[job_id] = task
        task.add_done_callback(_retrieve)

    def _step_for(self, job: JobRow, sent_here: bool) -> Step | None:
        """The one step a job's state needs (`sent_here`: this owner just submitted it)."""
        if job.state is JobState.SUBMITTING:
            return submit.send if job.id in self._claimed else submit.reconcile
        if job.state in IN_FLIGHT:
            if self.ctx.timed_out(job):
                return endings.expire
            return follow.follow if sent_here else follow.resume
        if job.state is JobState.SUCCEEDED:
            return endings.deliver
        if job.state in ENDS and job.state is not JobState.DELIVERED and job.notified_at is None:
            return endings.notify
        return None

    async def _own(self, job_id: str) -> None:
        nudge = self._nudges[job_id]
        done: tuple[object, ...] | None = None
        sent_here = False
        try:
            if self._shared and not await self.store.take_lease(job_lease(job_id), self.config.lease_seconds):
                return  # another process works on it (it hears of the move through the database)
            while True:
                nudge.clear()
                job = await self.ctx.get(job_id)
                step = self._step_for(job, sent_here)
                mark = (step, job.state, job.notified_at)
                if step is None or mark == done:
                    if nudge.is_set():
                        done = None  # it moved while we looked: look again
                        continue
                    break  # nothing to do, or a step that made no progress (the sweep retries it)
                done = mark
                if step is submit.send:
                    self._claimed.discard(job_id)  # from here its outcome is unknown until written
                sent_here = step in (submit.send, submit.reconcile)
                await step(self.ctx, job)
            if is_settled(job):
                self._settled(job_id)
                if self._shared:
                    await self.store.release_lease(job_lease(job_id))
        except StoreBusy:
            log.warning("job %s: the database is busy; the next sweep picks the job up again", job_id)
        except Exception:
            log.exception("job %s: a step failed; the next sweep picks the job up again", job_id)
        finally:
            self._owners.pop(job_id, None)
            self._nudges.pop(job_id, None)

    async def _nap(self, job_id: str, seconds: float) -> None:
        nudge = self._nudges.get(job_id)
        if nudge is None:
            await self.ctx.sleep(seconds)
            return
        if not nudge.is_set():
            sleeper = asyncio.ensure_future(self.ctx.sleep(seconds))
            waiter = asyncio.ensure_future(nudge.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
        nudge.clear()

    def _settled(self, job_id: str) -> None:
        event = self._ended.get(job_id)
        if event is not None:
            event.set()
        self._wake.set()

    async def _take_report(self, provider_name: str, job_id: str, task: ProviderTask) -> None:
        await follow.take_report(self.ctx, provider_name, job_id, task)

    # --- dispatch ---------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            next_due: float | None = None
            try:
                next_due = await self._dispatch_once()
                await dispatch.show_places(self.ctx, self.origin, self.line)
            except StoreBusy:
                log.warning("dispatcher: the database is busy; trying again")
            except Exception:
                log.exception("dispatcher pass failed")
            timeout = self.config.sweep_interval
            if next_due is not None:
                timeout = min(timeout, max(0.0, next_due - self.ctx.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass

    async def _dispatch_once(self) -> float | None:
        """Start what may start; return when the next job held back by "not before" is due."""
        self.last_dispatch_at = time.time()
        now = self.ctx.clock()
        if now - self._last_sweep >= self.config.sweep_interval:
            self._last_sweep = now
            await self._sweep()
        return await dispatch.start_what_may_start(
            self.ctx, self.origin, now, claimed=self._claimed, guild_job_limits=self.guild_job_limits, shared=self._shared
        )

    def wake(self) -> None:
        """Look at the queue again now (a limit was raised)."""
        self._wake.set()

    async def _sweep(self) -> None:
        """Every job that needs work gets an owner; an owner of a job out of time is woken."""
        for job in await self.store.unsettled(self.origin, free_or_mine=self._shared):
            if job.id not in self._owners:
                self._start_owner(job.id)
            elif job.state in IN_FLIGHT and self.ctx.timed_out(job):
                self._nudges[job.id].set()

    # --- several processes -------------------------------------------------------------------
    def _moved_elsewhere(self, payload: str) -> None:
        """A job moved in some process (this one too): the owner, if here, looks again."""
        job_id, _, state_name = payload.partition(" ")
        try:
            state = JobState(state_name)
        except ValueError:
            return
        if state is JobState.QUEUED or state is JobState.SUCCEEDED or state in ENDS:
            self._wake.set()
        if job_id in self._owners:
            self.advance(job_id, state)

    async def _keep_leases(self) -> None:
        """Renew this process's job leases, well before they run out. A lease outlives its owner
        task until the job is settled (a task that stopped on an error): our own sweep picks
        such a job up again, and nobody else needs to while we are alive."""
        while True:
            await asyncio.sleep(self.config.lease_seconds / 3)
            try:
                await self.store.renew_leases(self.config.lease_seconds)
            except Exception:
                log.warning("could not renew job leases; trying again", exc_info=True)

    # --- intake -----------------------------------------------------------------------------
    async def create_job(
        self, requester: Requester, kind: str, request: BaseModel, provider_name: str, price: Price,
        job_id: str | None = None, lineage: Lineage | None = None,
    ) -> JobRow:
        """Reserve the credits and write the queued job (and its lineage, if any) in one transaction.

        Raises QuotaRefused (nothing written) when a limit does not allow it."""
        job_id = job_id or new_job_id()
        with counted_refusals():
            async with self.store.transaction() as db:
                await self.quotas.reserve(
                    self.store,
                    user_id=requester.payer_id,  # the member, or the server for a challenge it pays for
                    guild_id=requester.guild_id,
                    job_id=job_id,
                    amount=price.credits,
                    price_text=price.explain(),
                    role_ids=requester.role_ids,
                    db=db,
                )
                await self.store.insert_job(
                    job_id=job_id,
                    kind=kind,
                    origin=requester.origin,
                    user_id=requester.user_id,
                    guild_id=requester.guild_id,
                    channel_id=requester.channel_id,
                    provider=provider_name,
                    request=request.model_dump(mode="json"),
                    price=price.credits,
                    upload_limit=requester.upload_limit,
                    db=db,
                )
                if requester.intake_id is not None:  # a restart must not make this request a second job
                    await self.store.settle_intake(requester.intake_id, "queued", job_id=job_id, db=db)
                if lineage is not None:
                    await self.store.insert_link(
                        job_id=job_id,
                        parent_job_id=lineage.parent_job_id,
                        relation=lineage.relation,
                        reply_channel_id=lineage.reply_channel_id,
                        reply_to_message_id=lineage.reply_to_message_id,
                        db=db,
                    )
        log.info("job %s: %s queued for %s, %d credits", job_id, kind, provider_name, price.credits)
        self._wake.set()
        return await self.ctx.get(job_id)

    async def create_motion_job(
        self, requester: Requester, request: JobRequest, provider_name: str, price: Price, job_id: str | None = None,
        lineage: Lineage | None = None,
    ) -> JobRow:
        """A job of the request's own kind (motion, animate): everything after this is kind-agnostic."""
        return await self.create_job(requester, kind_of(request), request, provider_name, price, job_id, lineage)

    async def wait_for_end(self, job_id: str, timeout: float | None = None) -> JobRow:
        """Until the job is delivered, failed, cancelled or expired (and the user told)."""
        event = self._ended.setdefault(job_id, asyncio.Event())
        try:
            if not is_settled(await self.ctx.get(job_id)):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._ended.pop(job_id, None)
        return await self.ctx.get(job_id)

    async def unfinished(self) -> list[JobRow]:
        """This origin's jobs that are not settled yet, queued ones included."""
        jobs = await self.store.jobs_in([JobState.QUEUED], self.origin) + await self.store.unsettled(self.origin)
        return sorted(jobs, key=lambda job: (job.created_at, job.id))

    def job_dir(self, job_id: str) -> Path:
        return self.ctx.job_dir(job_id)

    # --- what users and providers do to a job -------------------------------------------------
    async def cancel(self, job_id: str, user_id: int) -> Text:
        return await endings.cancel(self.ctx, job_id, user_id)

    async def handle_callback(
        self, provider_name: str, job_id: str, token: str | None, headers: Mapping[str, str], body: bytes
    ) -> None:
        await follow.handle_callback(self.ctx, provider_name, job_id, token, headers, body)

    async def apply_task(self, job_id: str, task: ProviderTask) -> None:
        """Feed one provider report into the state machine (forward-only: late ones are no-ops)."""
        await self.ctx.record_report(job_id, task)


def _retrieve(task: asyncio.Task[None]) -> None:
    # Owners log their own failures; this only keeps asyncio from warning about what got through
    # (a BaseException such as a test's simulated crash).
    if not task.cancelled():
        task.exception()
