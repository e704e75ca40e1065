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

This module is the Provider adapter and the signed result route; the task store
and each task's background life (render, announcements, callbacks) are in
simulator_tasks.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError

from bot.animate.models import AnimateRequest
from bot.downloads import Downloader
from bot.errors import provider_error
from bot.http import HttpClient
from bot.i18n import Text
from bot.models import ErrorKind
from bot.providers import simulator_render
from bot.providers.base import (
    Capabilities,
    MotionTemplate,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.providers.simulator_tasks import (
    COST,
    FAILURE_MESSAGES,
    FAILURES,
    MAX_PARALLEL_RENDERS,
    SUBMIT_FAILURES,
    TASK_FAILURES,
    TASK_ID,
    TASK_PREFIX,
    SimulatorTasks,
    TaskListener,
    _Failure,
    _Record,
    task_id_for,
)
from bot.providers.simulator_templates import list_templates, template_clip
from bot.signing import DEFAULT_MEDIA_TTL_SECONDS, Signer

log = logging.getLogger(__name__)

MARKER = re.compile(r"\[simulate:(content_policy|outage|bad_input|balance)\]")

RESULT_NAME = re.compile(f"({TASK_ID.pattern})\\.mp4")
RESULT_PATH = re.compile(f"/simulator/results/({TASK_ID.pattern})\\.mp4$")
RESULT_PURPOSE = "simulator-result"  # what a result link's token signs, beside the file name


class SimulatorProvider(SimulatorTasks, Provider):
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
