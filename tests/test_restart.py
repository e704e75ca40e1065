"""Stop the process between each pair of states, start it again: every job ends exactly once.

A crash is simulated by raising `Crash` (a BaseException, so nothing in the
engine can catch and tidy it) at the boundary after a state was written and
before its side effect completed, then abandoning that process's objects and
starting a new CoreApp on the same data folder. The simulator keeps its tasks
on disk, like a hosted provider keeps running while the bot restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from bot.app import CoreApp
from bot.jobs import JobEngine
from bot.models import JobState
from bot.providers.base import TaskStatus
from tests.core_harness import (
    FakeChannel,
    Inputs,
    core_settings,
    open_core,
    reads_only,
    submit,
    wait_state,
)


class Crash(BaseException):
    """The process dies here."""


def crash_when(obj: Any, method: str, crashed: asyncio.Event, *, before: bool = True,
               when: Callable[[Any], bool] = lambda result: True) -> None:
    """Wrap obj.method: die before calling it, or after it returned a result matching `when`."""
    inner = getattr(obj, method)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if crashed.is_set():
            await asyncio.Event().wait()  # a dead process does nothing more
        if before:
            crashed.set()
            raise Crash(method)
        result = await inner(*args, **kwargs)
        if when(result):
            crashed.set()
            raise Crash(method)
        return result

    setattr(obj, method, wrapper)


Setup = Callable[[CoreApp, asyncio.Event], None]


def in_submit_before_provider(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.providers["simulator"], "submit", crashed, before=True)


def in_submit_after_provider_accepted(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.providers["simulator"], "submit", crashed, before=False)


def in_submitted(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.providers["simulator"], "get_task", crashed, before=True)


def in_processing(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.providers["simulator"], "get_task", crashed, before=False,
               when=lambda task: task.status is TaskStatus.SUCCEEDED)


def in_succeeded_before_post(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.notifier, "deliver", crashed, before=True)


def after_post_before_delivered_mark(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.notifier, "deliver", crashed, before=False)


def in_failed_before_notice(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.notifier, "notify_failure", crashed, before=True)


def after_notice_before_mark(app: CoreApp, crashed: asyncio.Event) -> None:
    crash_when(app.notifier, "notify_failure", crashed, before=False)


# Points reached only when the engine reads the task (the simulator's own reports are switched off).
READ_POINTS = ("submitted", "processing")
CRASH_POINTS: dict[str, tuple[Setup, str, bool]] = {
    # name: (where it dies, the state left in the database, does the job fail)
    "submitting, before the provider heard of it": (in_submit_before_provider, "submitting", False),
    "submitting, after the provider accepted": (in_submit_after_provider_accepted, "submitting", False),
    "submitted": (in_submitted, "submitted", False),
    "processing": (in_processing, "processing", False),
    "succeeded, before the post": (in_succeeded_before_post, "succeeded", False),
    "posted, before it was marked delivered": (after_post_before_delivered_mark, "succeeded", False),
    "failed, before the notice": (in_failed_before_notice, "failed", True),
    "notice sent, before it was marked": (after_notice_before_mark, "failed", True),
}


@pytest.mark.parametrize(
    ("point", "reports"),
    [
        pytest.param(point, reports, id=f"{point} ({'reports' if reports else 'reads'})")
        for point in CRASH_POINTS
        for reports in (False, True)
        if not (reports and point in READ_POINTS)  # no read happens while the simulator reports itself
    ],
)
async def test_restart_finishes_every_job_exactly_once(
    point: str, reports: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the engine reading the task, and with the simulator reporting by itself."""
    setup, crashed_state, fails = CRASH_POINTS[point]
    if not reports:
        reads_only(monkeypatch)
    inputs = Inputs(tmp_path / "inputs")
    channel = FakeChannel()  # Discord outlives the bot
    settings = core_settings(tmp_path / "data")
    # A crashed process: its tasks stop when dropped (the exit stack), nothing is tidied, state stays as written.
    async with AsyncExitStack() as process:
        first = await process.enter_async_context(open_core(settings, channel))
        crashed = asyncio.Event()
        setup(first, crashed)
        prompt = "[simulate:outage] go" if fails else "go"
        job = await submit(first, inputs, prompt=prompt)
        await asyncio.wait_for(crashed.wait(), 20)
        left = await wait_state(first, job.id, crashed_state)
        assert left.state.value == crashed_state

    async with open_core(settings, channel) as second:
        done = await second.engine.wait_for_end(job.id, timeout=20)
        ledger = await second.store.ledger_for_job(job.id)

    assert done.state is (JobState.FAILED if fails else JobState.DELIVERED)
    assert len(channel.for_job(job.id)) == 1, channel.posts
    assert ledger == ([("reserve", 3), ("refund", 3)] if fails else [("reserve", 3), ("commit", 3)])
    # the provider made the video once, however often the bot restarted
    assert len(list((tmp_path / "data" / "simulator" / "tasks").glob("*.json"))) == 1


async def test_restart_submits_what_was_still_queued(tmp_path: Path) -> None:
    inputs = Inputs(tmp_path / "inputs")
    channel = FakeChannel()
    settings = core_settings(tmp_path / "data")
    # Queue a job while the dispatcher is not running, as if the process died right after the write.
    original_start = JobEngine.start

    async def no_dispatch(self: JobEngine) -> None:
        return None

    JobEngine.start = no_dispatch  # type: ignore[method-assign]
    try:
        async with open_core(settings, channel) as first:
            job = await submit(first, inputs)
            assert (await first.store.get_job(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    finally:
        JobEngine.start = original_start  # type: ignore[method-assign]

    async with open_core(settings, channel) as second:
        done = await second.engine.wait_for_end(job.id, timeout=20)
        assert done.state is JobState.DELIVERED
        assert len(channel.for_job(job.id)) == 1
        assert await second.store.ledger_for_job(job.id) == [("reserve", 3), ("commit", 3)]
