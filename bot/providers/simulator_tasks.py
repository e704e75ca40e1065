"""The simulator's tasks: their on-disk store and their background life.

Split from simulator.py, which keeps the Provider adapter (submit, polling,
callbacks parsed back) and the signed result route. This module holds what a
task is on disk (`_Record`, one JSON file under DATA_DIR/simulator/tasks/), how
its state follows from the clock and the files (`_view`), and what runs after
submit: the render in a worker thread, the "processing" announcement, the
listeners told in-process and the callbacks sent out.

`SimulatorTasks` is a mixin for SimulatorProvider: it reads the attributes that
SimulatorProvider.__init__ sets (declared below) and asks it for result links.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ValidationError

from bot.animate.models import AnimateRequest
from bot.http import HttpClient
from bot.models import ErrorKind, Mode, Orientation
from bot.providers import simulator_animate, simulator_render
from bot.providers.base import Capabilities, ProviderTask, TaskStatus

log = logging.getLogger("bot.providers.simulator")  # the same logger as before the split

FAILURES = ("", "content_policy", "outage", "bad_input", "balance")
# Refused at submit, like a hosted provider's create call would refuse them.
SUBMIT_FAILURES = {"bad_input": ErrorKind.BAD_INPUT, "balance": ErrorKind.BALANCE}
# Accepted, then the task ends failed, like moderation or a crash after create.
TASK_FAILURES = {"content_policy": ErrorKind.CONTENT_POLICY, "outage": ErrorKind.OUTAGE}
FAILURE_MESSAGES = {
    "bad_input": "simulated bad input: the simulator was told to refuse this job",
    "balance": "simulated balance error: the simulator was told the account is out of credit",
    "content_policy": "simulated content-policy refusal: the simulator was told to refuse this job",
    "outage": "simulated outage: the simulator was told the task fails on the provider's side",
}

TASK_PREFIX = "sim-"
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TASK_ID = re.compile(TASK_PREFIX + SAFE_ID.pattern)

MAX_SIDE: dict[str, int] = {"std": 720, "pro": 1280}
# Renders are CPU-heavy; two at a time keeps the event loop's thread responsive on a small host.
MAX_PARALLEL_RENDERS = 2
COST = "0"  # nothing is ever charged
START_SECONDS = 0.5  # from accepted to "processing" (at most a quarter of the delay)

TaskListener = Callable[[str, ProviderTask], Awaitable[None]]  # (job id, the task as it is now)


class _Failure(BaseModel):
    kind: ErrorKind
    message: str


class _Record(BaseModel):
    """One simulated task, as persisted on disk."""

    task_id: str
    job_id: str
    created_at: float
    ready_at: float  # created_at + the delay in force at submit: a restart does not move it
    image_path: Path
    video_path: Path | None = None  # None for an image-to-video task (`animate`)
    animate: dict[str, Any] | None = None  # the AnimateRequest, for an image-to-video task
    orientation: Orientation = "video"
    mode: Mode
    keep_sound: bool = False
    callback_url: str | None = None
    failure: Literal["", "content_policy", "outage"] = ""  # told to fail after acceptance
    render_error: _Failure | None = None
    processing_callback_sent: bool = False
    final_callback_sent: bool = False


def task_id_for(job_id: str) -> str:
    """Derived from the job id, so a repeated submit finds the same task."""
    if SAFE_ID.fullmatch(job_id):
        return TASK_PREFIX + job_id
    # Any other job id still maps to one safe, stable file name.
    return TASK_PREFIX + hashlib.sha256(job_id.encode()).hexdigest()[:40]


class SimulatorTasks:
    """The task store and background work of SimulatorProvider (see the module docstring)."""

    # Set by SimulatorProvider.__init__ (or its Provider base).
    http: HttpClient
    capabilities: Capabilities
    delay_seconds: float
    tasks_dir: Path
    results_dir: Path
    _listeners: list[TaskListener]
    _records: dict[str, _Record]
    _followers: dict[str, asyncio.Task[None]]
    _renders: set[asyncio.Task[simulator_render.RenderResult]]
    _render_slots: asyncio.Semaphore
    _stop: threading.Event
    _closed: bool

    def result_url(self, task_id: str) -> str:
        raise NotImplementedError  # SimulatorProvider signs it (the web side)

    def add_task_listener(self, listener: TaskListener) -> Callable[[], None]:
        """Be told of each task's changes in this process; returns what removes the listener."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _tell(self, record: _Record, task: ProviderTask) -> None:
        for listener in list(self._listeners):
            try:
                await listener(record.job_id, task)
            except Exception:
                # The engine's reads still find the task: a report that did not land is not lost.
                log.exception("simulator: telling the engine about %s failed", record.task_id)

    # --- state ---------------------------------------------------------------------------
    def _view(self, record: _Record) -> ProviderTask:
        """The task's state, derived from the clock and the files on disk."""
        now = time.time()
        if now < record.ready_at:
            return self._task(record, TaskStatus.PROCESSING, eta_seconds=record.ready_at - now)
        if record.failure:
            kind = TASK_FAILURES[record.failure]
            return self._task(record, TaskStatus.FAILED, error_kind=kind, error_message=FAILURE_MESSAGES[record.failure])
        if record.render_error is not None:
            return self._task(
                record, TaskStatus.FAILED, error_kind=record.render_error.kind, error_message=record.render_error.message
            )
        if self._result_path(record.task_id).is_file():
            return self._task(record, TaskStatus.SUCCEEDED, result_url=self.result_url(record.task_id))
        return self._task(record, TaskStatus.PROCESSING)  # past the delay, still rendering

    @staticmethod
    def _task(record: _Record, status: TaskStatus, **fields: Any) -> ProviderTask:
        return ProviderTask(task_id=record.task_id, status=status, raw_status=status.value, cost=COST, **fields)

    def _result_path(self, task_id: str) -> Path:
        return self.results_dir / f"{task_id}.mp4"

    def _task_path(self, task_id: str) -> Path:
        return self.tasks_dir / f"{task_id}.json"

    def _load(self, task_id: str) -> _Record | None:
        if task_id in self._records:
            return self._records[task_id]
        path = self._task_path(task_id)
        try:
            record = _Record.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.error("simulator: unreadable task file %s: %s", path.name, exc)
            return None
        self._records[task_id] = record
        return record

    def _save(self, record: _Record) -> None:
        # Temp file + os.replace: a crash mid-write leaves the old file or the new one, never half of one.
        fd, tmp = tempfile.mkstemp(dir=self.tasks_dir, prefix=f".{record.task_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(record.model_dump_json())
            os.replace(tmp, self._task_path(record.task_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._records[record.task_id] = record

    # --- background work -------------------------------------------------------------------
    def _needs_render(self, record: _Record) -> bool:
        return not record.failure and record.render_error is None and not self._result_path(record.task_id).is_file()

    def _follow(self, record: _Record, *, fresh: bool = False) -> None:
        """Start the task's background life (render, then reports) unless it runs or is done.
        `fresh`: just submitted, so listeners are to be told of it from the start."""
        if self._closed or record.task_id in self._followers:
            return
        callbacks_due = record.callback_url is not None and not record.final_callback_sent
        if not callbacks_due and not self._needs_render(record) and not (fresh and self._listeners):
            return
        task = asyncio.create_task(self._run(record), name=f"simulator {record.task_id}")
        self._followers[record.task_id] = task
        task.add_done_callback(lambda done: self._followed(record.task_id, done))

    def _followed(self, task_id: str, done: asyncio.Task[None]) -> None:
        self._followers.pop(task_id, None)
        # e.g. a full disk: say so now rather than as "exception never retrieved" at exit; polling still works
        if not done.cancelled() and done.exception() is not None:
            log.error("simulator: background work for %s failed", task_id, exc_info=done.exception())

    async def _run(self, record: _Record) -> None:
        task_id = record.task_id
        announce = asyncio.create_task(self._announce(record))
        try:
            if self._needs_render(record):
                error = await self._render(record)
                if error is not None:
                    self._update(task_id, render_error=error)
            await announce
        finally:
            announce.cancel()
        record = self._records[task_id]
        wait = record.ready_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        final = self._view(record)
        await self._tell(record, final)  # at once: the job ends when its video is ready
        if record.callback_url and not record.final_callback_sent:
            error = {"kind": final.error_kind.value, "message": final.error_message} if final.error_kind else None
            await self._send_callback(record, _payload(task_id, final.status.value, final.result_url, error))
            self._update(task_id, final_callback_sent=True)

    async def _announce(self, record: _Record) -> None:
        """"processing", a moment after acceptance (as a hosted provider starts a task): the
        bot records the submit answer first, so this report moves the job instead of arriving
        before it."""
        start = record.created_at + min(START_SECONDS, self.delay_seconds / 4)
        if time.time() >= record.ready_at:
            return  # picked up after a restart, past its time: only the ending is left to tell
        if (wait := start - time.time()) > 0:
            await asyncio.sleep(wait)
        await self._tell(record, self._task(record, TaskStatus.PROCESSING, eta_seconds=record.ready_at - time.time()))
        if record.callback_url and not record.processing_callback_sent:
            await self._send_callback(record, _payload(record.task_id, "processing"))
            self._update(record.task_id, processing_callback_sent=True)

    def _update(self, task_id: str, **changes: Any) -> None:
        # From the latest saved copy: the render and the announcement update the same record.
        self._save(self._records[task_id].model_copy(update=changes))

    async def _render(self, record: _Record) -> _Failure | None:
        async with self._render_slots:
            render = asyncio.create_task(
                asyncio.to_thread(
                    simulator_animate.render_animate,
                    AnimateRequest.model_validate(record.animate),
                    self._result_path(record.task_id),
                    max_side=MAX_SIDE[record.mode],
                    stop=self._stop,
                )
                if record.animate is not None
                else asyncio.to_thread(
                    simulator_render.render_motion,
                    record.image_path,
                    record.video_path,
                    self._result_path(record.task_id),
                    max_seconds=self.capabilities.limits.video_max_for(record.orientation),
                    max_side=MAX_SIDE[record.mode],
                    keep_sound=record.keep_sound,
                    stop=self._stop,
                )
            )
            self._renders.add(render)
            render.add_done_callback(self._renders.discard)
            started = time.monotonic()
            try:
                # Shielded: cancelling the follower must not orphan the thread; close() waits for it.
                result = await asyncio.shield(render)
            except simulator_render.RenderError as exc:
                log.warning("simulator: %s cannot be rendered: %s", record.task_id, exc.message)
                return _Failure(kind=exc.kind, message=exc.message)
            except simulator_render.RenderStopped:
                raise asyncio.CancelledError() from None
            except Exception as exc:  # a bug or a broken codec install: fail the task, keep the bot up
                log.exception("simulator: rendering %s failed", record.task_id)
                return _Failure(kind=ErrorKind.UNKNOWN, message=f"simulator render failed: {type(exc).__name__}: {exc}")
        log.info(
            "simulator: rendered %s (%dx%d, %.1f s) in %.1f s",
            record.task_id, result.width, result.height, result.seconds, time.monotonic() - started,
        )
        return None

    async def _send_callback(self, record: _Record, payload: dict[str, Any]) -> None:
        """Best effort, as hosted providers do: a lost callback is covered by polling."""
        assert record.callback_url is not None
        try:
            async with self.http.session.post(record.callback_url, json=payload, timeout=self.http.timeout) as resp:
                await resp.read()
                if resp.status >= 400:
                    status = payload["status"]
                    log.warning("simulator: %s callback (%s) answered HTTP %d", record.task_id, status, resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The URL may carry the bot's per-job secret: log the task, not the URL.
            log.warning("simulator: %s callback (%s) failed: %s", record.task_id, payload["status"], type(exc).__name__)


def _payload(
    task_id: str, status: str, result_url: str | None = None, error: dict[str, str] | None = None
) -> dict[str, Any]:
    """The simulator's own callback wire format (parse_callback reads it back)."""
    return {"task_id": task_id, "status": status, "result_url": result_url, "error": error}
