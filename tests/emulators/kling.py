"""A local stand-in for Kling's official API (Motion Control), per docs/providers.md §1.

It checks the JWT as Kling does (HS256 with the secret key, `iss` = access key,
`exp` and `nbf` enforced by PyJWT with no leeway), validates create bodies per
§1.3, answers in Kling's envelope, advances tasks on reads, serves the result
videos itself and POSTs the bare task object to `callback_url` on each status
change.

Choices where docs/providers.md is silent (the adapter's Assumptions block names the
same ones): a duplicate `external_task_id` is HTTP 400 code 1201, an unknown task
id is HTTP 404 code 1203. A create that hits SERVER_ERROR, MALFORMED_JSON or SLOW
has already created its task (the answer is lost, not the work): the hardest case
for a client that must never submit twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from tests.emulators.common import Emulator, Fault
from tests.emulators.kling_animate import I2V_PATH, validate_image2video

MOTION_PATH = "/v1/videos/motion-control"
MODELS = ("kling-v2-6", "kling-v3")
IMAGE_MAX_BYTES = 10_000_000
# A 10 MB image as base64 is about 13.4 MB of JSON; aiohttp's default cap is 1 MiB.
MAX_BODY_BYTES = 16 * 1024 * 1024
PROMPT_MAX_CHARS = 2500
STRING_FIELDS = (
    "model_name", "image_url", "video_url", "character_orientation", "mode",
    "prompt", "keep_original_sound", "callback_url", "external_task_id",
)
REQUIRED_FIELDS = ("image_url", "video_url", "character_orientation", "mode")
RISK_CONTROL_MESSAGE = "Failure to pass the risk control system"
FINAL_STATUSES = ("succeed", "failed")
CALLBACK_FAULTS = (Fault.CALLBACK_TWICE, Fault.CALLBACK_OUT_OF_ORDER)


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass
class EmulatedTask:
    task_id: str
    external_task_id: str | None
    body: dict[str, Any]
    callback_url: str | None
    fail_with: str | None = None  # task_status_msg if the task is to fail
    callback_fault: Fault | None = None
    status: str = "submitted"
    reads: int = 0
    result_url: str | None = None
    created_at: int = field(default_factory=_ms)
    updated_at: int = field(default_factory=_ms)
    endpoint: str = "motion"  # or "image2video"

    def view(self) -> dict[str, Any]:
        """The task object as query, list and callbacks show it."""
        task: dict[str, Any] = {
            "task_id": self.task_id,
            "task_status": self.status,
            "task_status_msg": self.fail_with if self.status == "failed" else "",
            "task_info": {"external_task_id": self.external_task_id} if self.external_task_id else {},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.status == "succeed":
            task["task_result"] = {
                "videos": [{"id": f"v{self.task_id}", "url": self.result_url, "duration": "3.0"}]
            }
            task["final_unit_deduction"] = "5"
        elif self.status == "failed":
            task["final_unit_deduction"] = "0"
        return task


class KlingEmulator(Emulator):
    def __init__(
        self,
        workdir: Path,
        *,
        access_key: str,
        secret_key: str,
        slow_seconds: float = 3.0,
        polls_to_finish: int = 2,
    ) -> None:
        super().__init__(
            workdir, slow_seconds=slow_seconds, polls_to_finish=polls_to_finish, client_max_size=MAX_BODY_BYTES
        )
        self.access_key = access_key
        self.secret_key = secret_key
        self.tasks: dict[str, EmulatedTask] = {}  # by task_id, in creation order
        self._by_external: dict[str, EmulatedTask] = {}
        self._callback_chains: dict[str, asyncio.Task[None]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(MOTION_PATH, self.create),
            web.get(MOTION_PATH, self.list_tasks),
            web.get(MOTION_PATH + "/{id}", self.query),
            web.post(I2V_PATH, self.create_image2video),
            web.get(I2V_PATH + "/{id}", self.query_image2video),
        ]

    # --- wire shapes ---------------------------------------------------------------------
    def ok(self, data: Any) -> web.Response:
        return self.json_response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})

    def error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return self.json_response(
            {"code": code, "message": message, "request_id": str(uuid.uuid4())}, status=status, headers=headers
        )

    # --- auth -----------------------------------------------------------------------------
    def check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return self.error(401, 1001, "Authorization is empty")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token or token != token.strip():
            return self.error(401, 1002, "Authorization is invalid")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The HMAC key is")  # test keys are short
                claims = jwt.decode(
                    token, self.secret_key, algorithms=["HS256"], options={"require": ["iss", "exp", "nbf"]}
                )
        except jwt.ExpiredSignatureError:
            return self.error(401, 1004, "Token has expired")
        except jwt.ImmatureSignatureError:
            return self.error(401, 1003, "Token is not yet valid")
        except jwt.InvalidSignatureError:
            return self.error(401, 1000, "Authentication failed")
        except jwt.InvalidTokenError:
            return self.error(401, 1002, "Authorization is invalid")
        if claims.get("iss") != self.access_key:
            return self.error(401, 1000, "Authentication failed")
        return None

    # --- body validation (§1.3) ---------------------------------------------------------------
    def validate(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return self.error(400, 1200, "Invalid request parameters: body must be a JSON object")
        for name in REQUIRED_FIELDS:
            if name not in body or body[name] in (None, ""):
                return self.error(400, 1200, f"Invalid request parameters: {name} is required")
        for name in STRING_FIELDS:
            if name in body and not isinstance(body[name], str):
                return self.error(400, 1201, f"{name} must be a string")
        if body.get("model_name", MODELS[0]) not in MODELS:
            return self.error(404, 1203, f"model {body['model_name']} not found")
        if body["character_orientation"] not in ("image", "video"):
            return self.error(400, 1201, "character_orientation must be image or video")
        if body["mode"] not in ("std", "pro"):
            return self.error(400, 1201, "mode must be std or pro")
        if body.get("keep_original_sound", "yes") not in ("yes", "no"):
            return self.error(400, 1201, "keep_original_sound must be yes or no")
        if len(body.get("prompt", "")) > PROMPT_MAX_CHARS:
            return self.error(400, 1201, f"prompt must be at most {PROMPT_MAX_CHARS} characters")
        if not _is_url(body["video_url"]):
            return self.error(400, 1201, "video_url must be a URL")
        if "callback_url" in body and not _is_url(body["callback_url"]):
            return self.error(400, 1201, "callback_url must be a URL")
        if "external_task_id" in body and not body["external_task_id"]:
            return self.error(400, 1201, "external_task_id must not be empty")
        if problem := _image_problem(body["image_url"]):
            return self.error(400, 1201, problem)
        elements = body.get("element_list")
        if elements is not None:
            if not isinstance(elements, list) or len(elements) > 1:
                return self.error(400, 1201, "element_list takes at most one element")
            if body["character_orientation"] != "video":
                return self.error(400, 1201, "element_list needs character_orientation video")
        watermark = body.get("watermark_info")
        if watermark is not None and not (isinstance(watermark, dict) and isinstance(watermark.get("enabled"), bool)):
            return self.error(400, 1201, "watermark_info.enabled must be a boolean")
        return None

    # --- handlers ---------------------------------------------------------------------------
    async def create_image2video(self, request: web.Request) -> web.Response:
        return await self.create(request, endpoint="image2video")

    async def query_image2video(self, request: web.Request) -> web.Response:
        return await self.query(request, endpoint="image2video")

    async def create(self, request: web.Request, endpoint: str = "motion") -> web.Response:
        if denied := self.check_auth(request):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, 1200, "Invalid request parameters: body is not JSON")
        if endpoint == "image2video":
            if problem := validate_image2video(body):
                return self.error(400, 1201, problem)
        elif invalid := self.validate(body):
            return invalid
        fault = self.take_fault()
        if fault is Fault.UNAUTHORIZED:
            return self.error(401, 1000, "Authentication failed")
        if fault is Fault.BALANCE:
            return self.error(429, 1102, "Resource pack exhausted or expired")
        if fault is Fault.RATE_LIMIT:
            return self.error(429, 1302, "Request rate too high", headers={"Retry-After": self.retry_after})
        if fault is Fault.CONTENT_POLICY:
            return self.error(400, 1301, RISK_CONTROL_MESSAGE)
        external = body.get("external_task_id")
        if external and external in self._by_external:
            return self.error(400, 1201, f"external_task_id {external} already exists")

        task = EmulatedTask(
            task_id=str(860_000_000_000_000_000 + len(self.tasks) + 1),
            external_task_id=external,
            body=body,
            callback_url=body.get("callback_url"),
            fail_with=RISK_CONTROL_MESSAGE if fault is Fault.TASK_FAILED else None,
            callback_fault=fault if fault in CALLBACK_FAULTS else None,
            endpoint=endpoint,
        )
        self.tasks[task.task_id] = task
        if external:
            self._by_external[external] = task

        # Past this point the task exists whatever the client hears.
        if fault is Fault.SERVER_ERROR:
            return self.error(500, 5000, "Server internal error")
        if fault is Fault.MALFORMED_JSON:
            return self.malformed()
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        return self.ok({
            "task_id": task.task_id,
            "task_status": task.status,
            "task_info": {"external_task_id": external} if external else {},
            "created_at": task.created_at,
            "updated_at": task.updated_at,
        })

    async def query(self, request: web.Request, endpoint: str = "motion") -> web.Response:
        if denied := self.check_auth(request):
            return denied
        if failure := await self.read_fault():
            return failure
        wanted = request.match_info["id"]
        task = self.tasks.get(wanted) or self._by_external.get(wanted)
        if task is None or task.endpoint != endpoint:  # each endpoint knows only its own tasks
            return self.error(404, 1203, "Task not found")
        self._advance(task)
        return self.ok(task.view())

    async def list_tasks(self, request: web.Request) -> web.Response:
        if denied := self.check_auth(request):
            return denied
        if failure := await self.read_fault():
            return failure
        try:
            page = int(request.query.get("pageNum", "1"))
            size = int(request.query.get("pageSize", "30"))
        except ValueError:
            return self.error(400, 1201, "pageNum and pageSize must be integers")
        if not (1 <= page <= 1000 and 1 <= size <= 500):
            return self.error(400, 1201, "pageNum must be 1-1000 and pageSize 1-500")
        newest_first = list(reversed(self.tasks.values()))
        return self.ok([t.view() for t in newest_first[(page - 1) * size : page * size]])

    def server_error(self) -> web.Response:
        return self.error(500, 5000, "Server internal error")

    # --- task life -----------------------------------------------------------------------------
    def _advance(self, task: EmulatedTask) -> None:
        """Reads move a task on: `polls_to_finish` reads in processing, then its end."""
        if task.status in FINAL_STATUSES:
            return
        task.reads += 1
        if task.reads <= self.polls_to_finish:
            if task.status != "processing":
                self._set_status(task, "processing")
                self._notify(task, task.view())
            return
        stale = task.view() if task.callback_fault is Fault.CALLBACK_OUT_OF_ORDER else None
        if task.fail_with:
            self._set_status(task, "failed")
        else:
            task.result_url = self.result_video(f"kling-{task.task_id}")
            self._set_status(task, "succeed")
        final = task.view()
        if task.callback_fault is Fault.CALLBACK_TWICE:
            self._notify(task, final, final)
        elif stale is not None:
            self._notify(task, final, stale)
        else:
            self._notify(task, final)

    @staticmethod
    def _set_status(task: EmulatedTask, status: str) -> None:
        task.status = status
        task.updated_at = _ms()

    def _notify(self, task: EmulatedTask, *payloads: dict[str, Any]) -> None:
        """POST the bare task object(s), after this task's earlier callbacks, in order."""
        if not task.callback_url:
            return
        url = task.callback_url
        previous = self._callback_chains.get(task.task_id)

        async def send() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            for payload in payloads:
                await self._post_callback(url, payload, {})

        chain = asyncio.create_task(send())
        self._callback_chains[task.task_id] = chain
        self._background.add(chain)
        chain.add_done_callback(self._background.discard)


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


def _image_problem(value: str) -> str | None:
    """None if `image_url` is a URL or raw base64 of a JPEG/PNG of at most 10 MB."""
    if _is_url(value):
        return None
    if value.startswith("data:"):
        return "image_url must be raw base64 without a data: prefix"
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "image_url must be a URL or base64"
    if len(data) > IMAGE_MAX_BYTES:
        return "image must be at most 10MB"
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        return "image must be jpg, jpeg or png"
    return None
