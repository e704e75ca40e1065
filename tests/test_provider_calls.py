"""Provider calls per job, on a virtual clock: what following a 5-minute task costs.

The engine's clock and sleep are replaced by a virtual clock that jumps to the next thing that
happens (a provider callback, or the end of a wait), so five simulated minutes take
milliseconds and the count is exact. Goals (issue 8): with callbacks at most 2 calls per job
(create, and at most one backup read for a lost callback); polling without callbacks at most 15.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.downloads import Downloader
from bot.jobs import EngineConfig, JobEngine
from bot.models import JobState, MediaFile, MotionRequest, Requester
from bot.pricing import price_for
from bot.providers.base import (
    Capabilities,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.quotas import QuotaPolicy
from bot.signing import Links, Signer
from bot.store import JobRow, Store

MINUTES_5 = 300.0


@dataclass(order=True)
class _Event:
    at: float
    order: int
    action: Callable[[], Awaitable[None]] = field(compare=False)


class VirtualClock:
    """time() and sleep() for the engine. Sleeping runs the events due meanwhile, in order,
    moving the clock to each; a sleep cut short (the job moved) leaves the clock there."""

    def __init__(self) -> None:
        self.now = time.time()  # the store stamps created_at with the real clock
        self._events: list[_Event] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self._events, _Event(when, next(self._order), action))

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        while self._events and self._events[0].at <= target:
            event = heapq.heappop(self._events)
            self.now = max(self.now, event.at)
            await event.action()
            for _ in range(20):
                await asyncio.sleep(0)  # let the engine react (a nudge cancels this sleep here)
        self.now = max(self.now, target)
        await asyncio.sleep(0)


class ClockedProvider(Provider):
    """Done `duration` seconds after the create; calls back (when given a URL) on "processing"
    5 s in and on the ending, as Kling does; every call is counted."""

    name = "clocked"
    capabilities = Capabilities(needs_input_urls=False)

    def __init__(self, clock: VirtualClock, duration: float, deliver_callbacks: bool) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no HTTP: everything is in memory
        self.clock = clock
        self.duration = duration
        self.deliver_callbacks = deliver_callbacks
        self.calls: list[str] = []
        self.done_at = 0.0
        self.engine: JobEngine | None = None

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        self.calls.append("submit")
        self.done_at = self.clock.now + self.duration
        if submit.callback_url and self.deliver_callbacks:
            self.clock.at(self.clock.now + 5, lambda: self._call_back(submit, TaskStatus.PROCESSING))
            self.clock.at(self.done_at, lambda: self._call_back(submit, TaskStatus.SUCCEEDED))
        return ProviderTask(task_id="t1", status=TaskStatus.SUBMITTED)

    async def get_task(self, task_id: str) -> ProviderTask:
        self.calls.append("get_task")
        return self._view(TaskStatus.SUCCEEDED if self.clock.now >= self.done_at else TaskStatus.PROCESSING)

    def _view(self, status: TaskStatus) -> ProviderTask:
        url = "https://cdn.example/t1.mp4" if status is TaskStatus.SUCCEEDED else None
        return ProviderTask(task_id="t1", status=status, result_url=url)

    async def _call_back(self, submit: SubmitRequest, status: TaskStatus) -> None:
        assert self.engine is not None and submit.callback_url
        token = parse_qs(urlsplit(submit.callback_url).query)["token"][0]
        body = self._view(status).model_dump_json().encode()
        await self.engine.handle_callback(self.name, submit.job_id, token, {}, body)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        return ProviderTask.model_validate(json.loads(body))

    async def download(self, url: str, dest: Path, downloader: Downloader) -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"video")
        return 5


class Posts:
    async def progress(self, job: JobRow, text: str) -> None:
        pass

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        return 1

    async def notify_failure(self, job: JobRow, text: str) -> None:
        pass


Run = Callable[..., Awaitable[tuple[JobRow, list[str], float]]]


@pytest.fixture
async def run_job(tmp_path: Path) -> AsyncIterator[Run]:
    store = Store(tmp_path / "bot.sqlite3")
    await store.open()
    downloader = Downloader(allowed_hosts=())  # unused: the provider's results are in memory
    engines: list[JobEngine] = []

    async def run(*, callbacks: bool, callbacks_arrive: bool = True, duration: float = MINUTES_5) -> tuple[JobRow, list[str], float]:
        """Run one job to its end; returns it, the provider calls, and the virtual seconds it took."""
        clock = VirtualClock()
        provider = ClockedProvider(clock, duration, deliver_callbacks=callbacks_arrive)
        engine = JobEngine(
            store,
            {"clocked": provider},
            QuotaPolicy(user_daily=1000),
            Posts(),
            Links(Signer(b"key"), "https://bot.example" if callbacks else ""),
            EngineConfig(data_dir=tmp_path, public_url="https://bot.example" if callbacks else ""),  # default timings
            downloader=downloader,
            sleep=clock.sleep,
            clock=clock.time,
        )
        provider.engine = engine
        engines.append(engine)
        await engine.start()
        image = MediaFile(path=tmp_path / "image.png", filename="image.png", content_type="image/png", size=1)
        request = MotionRequest(image=image, video=None, video_seconds=5)
        job = await engine.create_job(Requester(user_id=1), "motion", request, "clocked", price_for("simulator", "std", 5))
        started = clock.now
        done = await engine.wait_for_end(job.id, timeout=30)
        await engine.stop()
        return done, provider.calls, clock.now - started

    yield run
    for engine in engines:
        await engine.stop()
    await downloader.close()
    await store.close()


async def test_with_callbacks_a_five_minute_job_costs_at_most_two_calls(run_job: Run) -> None:
    done, calls, took = await run_job(callbacks=True)
    assert done.state is JobState.DELIVERED and took == pytest.approx(MINUTES_5)
    assert calls == ["submit", "get_task"]  # the create, and one backup read at 90 s (the next is due at 360 s)


async def test_a_lost_callback_is_found_by_a_backup_read_that_grows(run_job: Run) -> None:
    done, calls, took = await run_job(callbacks=True, callbacks_arrive=False)
    assert done.state is JobState.DELIVERED
    assert calls == ["submit", "get_task", "get_task"]  # at 90 s, then at 360 s (not every 60 s)
    assert took == pytest.approx(360.0)


async def test_polling_a_five_minute_task_costs_at_most_fifteen_calls(run_job: Run) -> None:
    done, calls, took = await run_job(callbacks=False)
    assert done.state is JobState.DELIVERED
    assert calls[0] == "submit" and set(calls[1:]) == {"get_task"}
    assert len(calls) <= 15, calls
    assert MINUTES_5 <= took <= MINUTES_5 + 60  # found within one (longest) poll interval of the end
