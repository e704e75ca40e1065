"""The local simulator: the default provider when no provider key is set.

It lives the same asynchronous life as a hosted provider, so a new server can
try the whole flow (submit, processing, callback or polling, download,
delivery, failures) before paying anyone:

- submit() accepts and answers at once; the task id is derived from the job id,
  so a second submit of the same job finds the first task (idempotent).
- Tasks are small JSON files under DATA_DIR/simulator/tasks/ and survive a
  restart, as a hosted provider's tasks do.
- A task's state follows from the clock: processing until created + delay,
  then succeeded once the rendered MP4 exists (failed if it could not be made).
- The MP4 is rendered in a worker thread from the real inputs and labelled
  "SIMULATED" on every frame (see simulator_render.py).
- It tells the engine itself when a task changes (`add_task_listener`: the
  engine listens in the same process), so a job ends when its video is ready,
  not at the next poll. Callbacks, when a callback URL is given, also go out
  on each status change in the simulator's own small wire format, as a hosted
  provider's would.
- Results are served by the bot's own web server (web_routes) at
  {public_base_url}/simulator/results/{task_id}.mp4?token=…, signed and expiring
  like every other media link: without a valid token, 403.
- It can be told to fail: SIMULATOR_FAILURE for every job, or a
  "[simulate:<kind>]" marker in one job's prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.animate.models import AnimateRequest
from bot.downloads import Downloader
from bot.errors import provider_error
from bot.http import HttpClient
from bot.i18n import Text
from bot.models import ErrorKind, Mode, Orientation
from bot.providers import simulator_animate, simulator_render
from bot.providers.base import (
    Capabilities,
    MotionTemplate,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.providers.simulator_templates import list_templates, template_clip
from bot.signing import DEFAULT_MEDIA_TTL_SECONDS, Signer

log = logging.getLogger(__name__)

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
MARKER = re.compile(r"\[simulate:(content_policy|outage|bad_input|balance)\]")

TASK_PREFIX = "sim-"
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TASK_ID = re.compile(TASK_PREFIX + SAFE_ID.pattern)
RESULT_NAME = re.compile(f"({TASK_ID.pattern})\\.mp4")
RESULT_PATH = re.compile(f"/simulator/results/({TASK_ID.pattern})\\.mp4$")

MAX_SIDE: dict[str, int] = {"std": 720, "pro": 1280}
# Renders are CPU-heavy; two at a time keeps the event loop's thread responsive on a small host.
MAX_PARALLEL_RENDERS = 2
COST = "0"  # nothing is ever charged
START_SECONDS = 0.5  # from accepted to "processing" (at most a quarter of the delay)
RESULT_PURPOSE = "simulator-result"  # what a result link's token signs, beside the file name

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


class SimulatorProvider(Provider):
    name = "simulator"
    capabilities = Capabilities(
        modes=("std", "pro"),
        orientations=("image", "video"),
        keep_sound=True,
        prompt=True,
        motion_templates=True,  # its own stick-figure clips (simulator_templates.py)
        uploaded_video=True,
        needs_input_urls=False,  # reads the inputs from MediaFile.path
        can_find_by_job_id=True,
        can_cancel=False,
        animate=True,
    )

    def __init__(
        self,
        http: HttpClient,
        *,
        data_dir: Path,
        delay_seconds: float,
        failure: str = "",
        public_base_url: Callable[[], str],
        signer: Signer,
        link_ttl: float = DEFAULT_MEDIA_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(http)
        if failure not in FAILURES:
            raise ValueError(f"unknown simulator failure {failure!r}; expected one of {FAILURES}")
        self.delay_seconds = delay_seconds
        self.failure = failure
        self.public_base_url = public_base_url
        self.signer = signer
        self.link_ttl = link_ttl  # result links expire like every other signed media link
        self._clock = clock
        self._listeners: list[TaskListener] = []
        self.data_dir = data_dir
        self.tasks_dir = data_dir / "simulator" / "tasks"
        self.results_dir = data_dir / "simulator" / "results"
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, _Record] = {}  # cache of the files: the loop thread is the only writer
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._renders: set[asyncio.Task[simulator_render.RenderResult]] = set()
        self._render_slots = asyncio.Semaphore(MAX_PARALLEL_RENDERS)
        self._stop = threading.Event()  # tells render threads to give up at the next frame
        self._closed = False

    # --- life ------------------------------------------------------------------------
    async def start(self) -> None:
        """Pick up where the last run stopped: unfinished renders and unsent callbacks."""
        for path in sorted(self.tasks_dir.glob(f"{TASK_PREFIX}*.json")):
            record = self._load(path.stem)
            if record is not None:
                self._follow(record)

    async def close(self) -> None:
        self._closed = True
        self._stop.set()
        followers = list(self._followers.values())
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        # The threads stop at their next frame; wait so no file is written after close().
        await asyncio.gather(*self._renders, return_exceptions=True)

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

    # --- the Provider interface ----------------------------------------------------------
    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        task_id = task_id_for(submit.job_id)
        existing = self._load(task_id)
        if existing is not None:
            self._follow(existing)
            return self._view(existing)

        request = submit.request
        failure = self._failure_for(request.options.prompt)
        if isinstance(request, AnimateRequest):
            return self._submit_animate(submit, request, task_id, failure)
        if failure in SUBMIT_FAILURES:
            raise provider_error(
                SUBMIT_FAILURES[failure],
                FAILURE_MESSAGES[failure],
                code=f"simulated_{failure}",
                retryable=False,
                user_detail=Text("(This was a simulated failure; no provider was called.)"),
            )
        if request.video is not None:
            video_path = request.video.path
        elif request.options.motion_template:
            video_path = await asyncio.to_thread(template_clip, self.data_dir, request.options.motion_template)
        else:
            raise provider_error(ErrorKind.BAD_INPUT, "the simulator needs a reference video or a template", retryable=False)
        for media in (request.image, request.video):
            if media is not None and not media.path.is_file():
                raise provider_error(ErrorKind.BAD_INPUT, f"input file is missing: {media.filename}", retryable=False)

        now = time.time()
        record = _Record(
            task_id=task_id,
            job_id=submit.job_id,
            created_at=now,
            ready_at=now + self.delay_seconds,
            image_path=request.image.path,
            video_path=video_path,
            orientation=request.options.orientation,
            mode=request.options.mode,
            keep_sound=request.options.keep_sound,
            callback_url=submit.callback_url,
            failure=failure if failure in TASK_FAILURES else "",
        )
        # No await between the lookup above and this write: two submits of one job cannot both create.
        self._save(record)
        self._follow(record, fresh=True)
        return ProviderTask(
            task_id=task_id, status=TaskStatus.SUBMITTED, raw_status="submitted", cost=COST, eta_seconds=self.delay_seconds
        )

    def _submit_animate(self, submit: SubmitRequest, request: AnimateRequest, task_id: str, failure: str) -> ProviderTask:
        """Image-to-video: the same task life as Motion Control, rendered by simulator_animate."""
        if failure in SUBMIT_FAILURES:
            raise provider_error(SUBMIT_FAILURES[failure], FAILURE_MESSAGES[failure], code=f"simulated_{failure}", retryable=False)
        for media in request.media_files():
            if not media.path.is_file():
                raise provider_error(ErrorKind.BAD_INPUT, f"input file is missing: {media.filename}", retryable=False)
        now = time.time()
        record = _Record(
            task_id=task_id, job_id=submit.job_id, created_at=now, ready_at=now + self.delay_seconds,
            image_path=request.image.path, animate=request.model_dump(mode="json"), mode=request.mode,
            callback_url=submit.callback_url, failure=failure if failure in TASK_FAILURES else "",
        )
        self._save(record)
        self._follow(record)
        return ProviderTask(
            task_id=task_id, status=TaskStatus.SUBMITTED, raw_status="submitted", cost=COST, eta_seconds=self.delay_seconds
        )

    async def list_motion_templates(self) -> list[MotionTemplate]:
        return list_templates()

    async def get_task(self, task_id: str) -> ProviderTask:
        record = self._load(task_id) if TASK_ID.fullmatch(task_id) else None
        if record is None:
            raise provider_error(ErrorKind.BAD_INPUT, f"unknown simulator task {task_id!r}", retryable=False)
        self._follow(record)  # e.g. polled before start(): make sure the render is under way
        return self._view(record)

    async def find_task(self, job_id: str) -> ProviderTask | None:
        record = self._load(task_id_for(job_id))
        return None if record is None else self._view(record)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: body is not JSON") from None
        if not isinstance(data, dict):
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: body is not a JSON object")
        task_id, status, result_url, error = (data.get(k) for k in ("task_id", "status", "result_url", "error"))
        if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: missing or bad task_id")
        if status not in ("processing", "succeeded", "failed"):
            raise provider_error(ErrorKind.BAD_INPUT, f"simulator callback: unknown status {status!r}")
        if result_url is not None and not isinstance(result_url, str):
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: result_url is not a string")
        if status == "succeeded" and not result_url:
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: succeeded without a result_url")
        failure: _Failure | None = None
        if error is not None:
            try:
                failure = _Failure.model_validate(error)
            except ValidationError:
                raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: malformed error object") from None
        if status == "failed" and failure is None:
            raise provider_error(ErrorKind.BAD_INPUT, "simulator callback: failed without an error")
        return ProviderTask(
            task_id=task_id,
            status=TaskStatus(status),
            raw_status=status,
            result_url=result_url,
            error_kind=failure.kind if failure else None,
            error_message=failure.message if failure else None,
            cost=COST,
        )

    async def download(self, url: str, dest: Path, downloader: Downloader) -> int:
        """Our own results are local files: copy them instead of a round trip through our web server."""
        match = RESULT_PATH.search(urlsplit(url).path)
        source = self._result_path(match.group(1)) if match else None
        if source is None or not source.is_file():
            return await super().download(url, dest, downloader)
        return await asyncio.to_thread(_copy, source, dest)

    # --- web ----------------------------------------------------------------------------
    def web_routes(self) -> list[web.RouteDef]:
        """Routes for the bot's web server: the result files our result URLs point at."""
        return [web.get("/simulator/results/{name}", self._serve_result)]

    async def _serve_result(self, request: web.Request) -> web.StreamResponse:
        # The token first: a job id is shown to members, the token only to the provider's reader.
        name = request.match_info["name"]
        if not self.signer.verify_expiring(request.query.get("token"), RESULT_PURPOSE, name, now=self._clock()):
            raise web.HTTPForbidden()
        # The name must be exactly a task id plus ".mp4": nothing else can reach the disk.
        match = RESULT_NAME.fullmatch(name)
        if match is None:
            raise web.HTTPNotFound()
        path = self._result_path(match.group(1))
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    def result_url(self, task_id: str) -> str:
        # Asked at each use: the base URL is known only once the web server runs, and may change on restart.
        name = f"{task_id}.mp4"
        token = self.signer.expiring_token(RESULT_PURPOSE, name, expires_at=int(self._clock() + self.link_ttl))
        return f"{self.public_base_url().rstrip('/')}/simulator/results/{name}?token={token}"

    # --- state ---------------------------------------------------------------------------
    def _failure_for(self, prompt: str) -> str:
        marker = MARKER.search(prompt)
        return marker.group(1) if marker else self.failure

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


def _copy(source: Path, dest: Path) -> int:
    # Same shape as HttpClient.download: a partial file never has the final name.
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest.stat().st_size
