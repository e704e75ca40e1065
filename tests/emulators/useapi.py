"""A local stand-in for useapi.net's Kling API v1 (docs/providers.md §3).

Routes live under /v1/kling, as on the real host, so an adapter that drops the
base path fails here too. Faults (tests/emulators/common.py) show in useapi's
own shapes; the create call takes every kind, task reads take SERVER_ERROR,
MALFORMED_JSON and SLOW. Asset uploads take none: they are a preparation step,
and the contract suite's faults are about the create. Upload failures are
scripted with `asset_failures` instead.

Where useapi's shape is not documented the emulator says so in a comment; the
adapter's "Assumptions" block holds the same choices.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.emulators.common import Emulator, Fault
from tests.emulators.useapi_animate import validate_image2video

PREFIX = "/v1/kling"
TOKEN = "test-useapi-token"

UNAUTHORIZED = {"error": "Unauthorized", "code": 401}
# Out of Kling credits: not documented (see the adapter's Assumptions): HTTP 402 with Kling's wording.
NO_CREDITS = {"error": "Insufficient credits: this Kling account has 0 credits left", "code": 402}
AT_CAPACITY = {"error": "All configured Kling accounts are at maximum capacity (maxJobs), retry later", "code": 429}
SERVER_ERROR = {"error": "Internal Server Error", "message": "Service busy"}
MODERATED = {
    "error": "Your prompt or image may violate the community guidelines. (CM_EXT.POther)",
    "message": "Service busy (CM_EXT.POther)",
}
NO_PERSON = {"error": "No person detected in the image (MOTION.PIC_NOT_MATCHED)"}

IMAGE_TYPES = {"image/png", "image/jpeg"}
VIDEO_TYPES = {"video/mp4", "video/quicktime"}
MB = 1_000_000
MOTION_DIRECTIONS = ("motion_direction", "image_direction")
MODES = ("std", "pro")
MODELS = ("kling-v3-0", "kling-v2-6")
CREATE_FIELDS = {
    "email", "model_name", "imageUrl", "motionUrl", "prompt", "keepAudio", "motionDirection",
    "mode", "element_1", "maxJobs", "replyUrl", "replyRef",
}

# Numeric `status` per state: 5 and 99 are documented, 10 and 50 are made up (unconfirmed).
STATUS_CODES = {"submitted": 5, "processing": 10, "succeed": 99, "failed": 50}


@dataclass
class EmuTask:
    id: int
    body: dict[str, Any]
    fault: Fault | None = None  # CALLBACK_TWICE, CALLBACK_OUT_OF_ORDER or TASK_FAILED
    state: str = "submitted"
    reads: int = 0
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    updated_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    result_url: str | None = None
    callback_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # callbacks of one task leave in order


class UseApiEmulator(Emulator):
    def __init__(self, workdir: Path, *, token: str = TOKEN, email: str = "", **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.token = token
        self.email = email  # the one connected Kling account; a request naming another is refused
        self.assets: dict[str, str] = {}  # URL we issued -> "image" | "video" (usable as input)
        self.uploads: list[dict[str, Any]] = []  # content type and size of each upload
        self.tasks: dict[int, EmuTask] = {}
        self._ids = itertools.count(300_000_001)  # Kling task ids are large numbers
        self.asset_failures = 0  # the next N uploads answer 500
        self.scripted_creates: deque[tuple[int, dict[str, Any]]] = deque()  # next creates answer these

    @property
    def api_url(self) -> str:
        return self.base_url + PREFIX

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/assets", self.upload_asset),
            web.post(f"{PREFIX}/assets/", self.upload_asset),
            web.post(f"{PREFIX}/videos/motion-create", self.motion_create),
            web.post(f"{PREFIX}/videos/image2video-frames", self.image2video_create),
            web.get(f"{PREFIX}/videos/motions", self.motions),
            web.get(f"{PREFIX}/tasks/{{task_id}}", self.get_task),
        ]

    # --- official motion templates -----------------------------------------------------

    def templates(self) -> list[dict[str, Any]]:
        return [
            {
                "assetId": -100000000000000 - n,
                "assetType": "MOTION",
                "url": f"{self.base_url}/kling-cdn/motions/official-{n}.mp4",
                "coverUrl": f"{self.base_url}/kling-cdn/motions/official-{n}.jpg",
                "duration": duration,
                "width": 720,
                "height": 1280,
                "hasAudio": n % 2 == 0,
                "createTime": 1759800000000 + n,
            }
            for n, duration in ((1, 5000), (2, 8500), (3, 12000))
        ]

    # --- handlers ------------------------------------------------------------------------

    async def upload_asset(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) or (denied := self._check_email(request.query.get("email"))):
            return denied
        if self.asset_failures > 0:
            self.asset_failures -= 1
            return self.json_response(SERVER_ERROR, 500)
        content_type = request.content_type
        body = await request.read()
        if content_type not in IMAGE_TYPES | VIDEO_TYPES:
            return self._bad(f"Unsupported Content-Type {content_type!r}")
        if not body:
            return self._bad("Request body is empty")
        n = len(self.uploads) + 1
        self.uploads.append({"content_type": content_type, "size": len(body)})
        if content_type in IMAGE_TYPES:
            if len(body) > 10 * MB:
                return self._bad("Image is larger than 10 MB")
            url = f"{self.base_url}/kling-cdn/images/upload-{n}.{content_type.split('/')[1]}"
            self.assets[url] = "image"
            return self.json_response({"status": 3, "url": url, "message": "", "fileName": f"upload-{n}"})
        if len(body) > 100 * MB:
            return self._bad("Video is larger than 100 MB")
        # A video answer carries both: `url` is the raw upload, only `resourceUrl` is a motion input.
        resource_url = f"{self.base_url}/kling-cdn/videos/upload-{n}.mp4"
        self.assets[resource_url] = "video"
        return self.json_response(
            {
                "status": 1,
                "url": f"{self.base_url}/kling-cdn/raw/upload-{n}",
                "resourceUrl": resource_url,
                "coverUrl": f"{self.base_url}/kling-cdn/videos/upload-{n}.jpg",
                "message": "",
                "fileName": f"upload-{n}",
            }
        )

    async def motion_create(self, request: web.Request) -> web.Response:
        return await self._create(request, self._validate_create)

    async def image2video_create(self, request: web.Request) -> web.Response:
        return await self._create(request, lambda body: validate_image2video(body, self.assets))

    async def _create(self, request: web.Request, validate: Any) -> web.Response:
        if denied := self._check_auth(request):
            return denied
        fault = self.take_fault()
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        elif fault is Fault.UNAUTHORIZED:
            return self.json_response(UNAUTHORIZED, 401)
        elif fault is Fault.BALANCE:
            return self.json_response(NO_CREDITS, 402)
        elif fault is Fault.RATE_LIMIT:
            return self.json_response(AT_CAPACITY, 429, headers={"Retry-After": self.retry_after})
        elif fault is Fault.SERVER_ERROR:
            return self.json_response(SERVER_ERROR, 500)
        elif fault is Fault.CONTENT_POLICY:
            return self.json_response(MODERATED, 500)
        elif fault is Fault.MALFORMED_JSON:
            return self.malformed()
        if self.scripted_creates:
            status, payload = self.scripted_creates.popleft()
            return self.json_response(payload, status)

        try:
            body = await request.json()
        except ValueError:
            return self._bad("Request body must be JSON or multipart/form-data")
        if not isinstance(body, dict):
            return self._bad("Request body must be a JSON object")
        if problem := validate(body):
            return self._bad(problem)
        if denied := self._check_email(body.get("email")):
            return denied

        task = EmuTask(id=next(self._ids), body=body)
        if fault in (Fault.CALLBACK_TWICE, Fault.CALLBACK_OUT_OF_ORDER, Fault.TASK_FAILED):
            task.fault = fault
        self.tasks[task.id] = task
        return self.json_response(self.task_model(task))

    def server_error(self) -> web.Response:
        return self.json_response(SERVER_ERROR, 500)

    async def get_task(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) or (denied := self._check_email(request.query.get("email"))):
            return denied
        if failure := await self.read_fault():
            return failure
        raw_id = request.match_info["task_id"]
        if not raw_id.isdigit():
            return self._bad("task_id must be a number")
        task = self.tasks.get(int(raw_id))
        if task is None:
            return self.json_response({"error": f"Task {raw_id} not found (VALID.ResourceNotFound)", "message": "Not Found"}, 404)
        self._advance(task)
        return self.json_response(self.task_model(task))

    async def motions(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) or (denied := self._check_email(request.query.get("email"))):
            return denied
        if failure := await self.read_fault():
            return failure
        mine = request.query.get("mine", "false").lower() == "true"
        return self.json_response([] if mine else self.templates())

    # --- task life -----------------------------------------------------------------------

    def _advance(self, task: EmuTask) -> None:
        """Reads move a task on: `polls_to_finish` reads in processing, then its end."""
        task.reads += 1
        payloads: list[dict[str, Any]] = []
        if task.state == "submitted":
            self._set_state(task, "processing")
            payloads.append(self.task_model(task))
        if task.state == "processing" and task.reads > self.polls_to_finish:
            stale = self.task_model(task)
            if task.fault is Fault.TASK_FAILED:
                self._set_state(task, "failed")
            else:
                task.result_url = self.result_video(f"task-{task.id}")
                self._set_state(task, "succeed")
            final = self.task_model(task)
            payloads.append(final)
            if task.fault is Fault.CALLBACK_TWICE:
                payloads.append(final)
            elif task.fault is Fault.CALLBACK_OUT_OF_ORDER:
                payloads.append(stale)
        reply_url = task.body.get("replyUrl")
        if reply_url and payloads:
            self._send_in_order(task, reply_url, payloads)

    def _set_state(self, task: EmuTask, state: str) -> None:
        task.state = state
        task.updated_ms = int(time.time() * 1000)

    def _send_in_order(self, task: EmuTask, url: str, payloads: list[dict[str, Any]]) -> None:
        async def send() -> None:
            async with task.callback_lock:
                for payload in payloads:
                    await self._post_callback(url, payload, {})

        job = asyncio.create_task(send())
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    def task_model(self, task: EmuTask) -> dict[str, Any]:
        """The GET /tasks/{task_id} model (also the create answer and the callback body)."""
        code = STATUS_CODES[task.state]
        final = task.state in ("succeed", "failed")
        body = task.body
        works = []
        if task.state == "succeed":
            works.append(
                {
                    "workId": task.id + 7,
                    "taskId": task.id,
                    "type": "m2v_motion_control",
                    "status": 99,
                    "status_name": "succeed",
                    "status_final": True,
                    "contentType": "video",
                    "resource": {"resource": task.result_url, "height": 640, "width": 360, "duration": 3000, "resourceKey": ""},
                    "cover": {"resource": f"{self.base_url}/kling-cdn/covers/{task.id}.jpg", "height": 640, "width": 360, "duration": 0},
                }
            )
        model: dict[str, Any] = {
            "status": code,
            "status_name": task.state,
            "status_final": final,
            "etaTime": 0 if final else 60,
            "message": "success",
            "task": {
                "id": task.id,
                "userId": 12345,
                "type": "m2v_motion_control",
                "scene": "NORMAL_CREATION",
                "status": code,
                "status_name": task.state,
                "status_final": final,
                "taskInfo": {
                    "type": "m2v_motion_control",
                    "inputs": [
                        {"name": "input", "inputType": "URL", "url": body.get("imageUrl") or body.get("image")},
                        {"name": "motion", "inputType": "URL", "url": body.get("motionUrl")},
                    ],
                    "arguments": [
                        {"name": "prompt", "value": body.get("prompt", "")},
                        {"name": "mode", "value": body.get("mode", "std")},
                    ],
                },
                "createTime": task.created_ms,
                "updateTime": task.updated_ms,
            },
            "works": works,
            "limitation": {"type": "m2v", "remaining": 3, "limit": 4},
            "userPoints": {"points": [{"orderId": "p1", "amount": 66000, "balance": 52000}], "total": 52000},
            "userTickets": {"ticket": []},
        }
        if task.state == "failed":
            model["error"] = "Video generation failed: the result may violate the community guidelines. (CM_EXT.POther)"
        # Where useapi puts replyRef in callbacks is undocumented; echoing it at the top is our guess.
        if "replyRef" in body:
            model["replyRef"] = body["replyRef"]
        return model

    # --- checks ----------------------------------------------------------------------------

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.json_response(UNAUTHORIZED, 401)
        return None

    def _check_email(self, email: Any) -> web.Response | None:
        # Optional with one account; when given it must name a connected account.
        if email is None or email == "":
            return None
        if not isinstance(email, str) or (self.email and email != self.email):
            return self._bad(f"Unable to find Kling account {email}")
        return None

    def _validate_create(self, body: dict[str, Any]) -> str | None:
        if unknown := sorted(set(body) - CREATE_FIELDS):
            return f"Unknown parameter(s): {', '.join(unknown)}"
        image_url, motion_url = body.get("imageUrl"), body.get("motionUrl")
        if not isinstance(image_url, str) or not image_url:
            return "imageUrl is required"
        if not isinstance(motion_url, str) or not motion_url:
            return "motionUrl is required"
        if self.assets.get(image_url) != "image":
            return "imageUrl must be the url of an image uploaded via POST /assets"
        template_urls = {t["url"] for t in self.templates()}
        if self.assets.get(motion_url) != "video" and motion_url not in template_urls:
            return "motionUrl must be a resourceUrl from POST /assets or a url from GET /videos/motions"
        checks: list[tuple[str, type | tuple[type, ...], tuple[Any, ...] | None]] = [
            ("prompt", str, None),
            ("keepAudio", bool, None),
            ("motionDirection", str, MOTION_DIRECTIONS),
            ("mode", str, MODES),
            ("model_name", str, MODELS),
            ("replyUrl", str, None),
            ("replyRef", str, None),
            ("element_1", str, None),
            ("email", str, None),
        ]
        for name, kind, allowed in checks:
            if name not in body:
                continue
            value = body[name]
            if not isinstance(value, kind):
                return f"{name} must be a {getattr(kind, '__name__', kind)}"
            if allowed is not None and value not in allowed:
                return f"{name} must be one of {', '.join(allowed)}"
        if len(body.get("prompt", "")) > 2500:
            return "prompt must be at most 2500 characters"
        if "maxJobs" in body and (
            not isinstance(body["maxJobs"], int) or isinstance(body["maxJobs"], bool) or not 1 <= body["maxJobs"] <= 50
        ):
            return "maxJobs must be an integer from 1 to 50"
        if "element_1" in body and body.get("model_name", "kling-v3-0") != "kling-v3-0":
            return "element_1 is supported by kling-v3-0 only"
        return None

    def _bad(self, message: str) -> web.Response:
        return self.json_response({"error": message}, 400)
