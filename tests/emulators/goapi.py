"""A local stand-in for GoAPI's unified task API (Kling motion_control and video_generation), per docs/providers.md §2.

- Auth: `X-API-Key` must equal the key exactly (a `Bearer ` prefix is a wrong key).
- Create validates the body like the service (model, task_type, input field types and
  enums, exactly one of video_url/preset_motion) and answers 400 `{code, message}`.
- Answers use the unified envelope `{code: 200, message, data: {task ...}}`, with status
  words in varying case ("pending", "Processing", "completed", "Failed").
- Tasks advance on reads: `polls_to_finish` GETs in processing, then completed (or failed).
- Webhooks: `{timestamp, data}` with the secret verbatim in `x-webhook-secret`, sent when
  a task is created and on every status change, in order per task.
- Cancel: `DELETE /api/v1/task/{id}`, pending tasks only (adapter assumption A1).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from tests.emulators.common import Emulator, Fault
from tests.emulators.goapi_animate import check_brush_images, validate_video_generation

API_KEY = "test-goapi-key"
UNSET_TIME = "0001-01-01T00:00:00Z"  # how GoAPI shows a time that has not happened yet
POINTS = 300  # what every task costs here

ResultShape = Literal["works", "works_watermarked", "video_url", "video"]


@dataclass
class EmuTask:
    task_id: str
    input: dict[str, Any]
    config: dict[str, Any]
    status: str = "pending"  # canonical lowercase; the wire word varies in case
    reads: int = 0
    fail_with: Fault | None = None  # CONTENT_POLICY or TASK_FAILED: how the task ends
    callback_fault: Fault | None = None  # CALLBACK_TWICE or CALLBACK_OUT_OF_ORDER
    cancelled: bool = False
    created_at: str = field(default_factory=lambda: _now_iso())
    started_at: str = UNSET_TIME
    ended_at: str = UNSET_TIME
    processing_snapshot: dict[str, Any] | None = None
    callback_chain: asyncio.Task[None] | None = None
    task_type: str = "motion_control"


class GoApiEmulator(Emulator):
    def __init__(
        self,
        workdir: Path,
        *,
        api_key: str = API_KEY,
        result_shape: ResultShape = "works",
        slow_seconds: float = 3.0,
        polls_to_finish: int = 2,
    ) -> None:
        super().__init__(workdir, slow_seconds=slow_seconds, polls_to_finish=polls_to_finish)
        self.api_key = api_key
        self.result_shape = result_shape  # which of GoAPI's result-URL variants completed tasks use
        self.tasks: dict[str, EmuTask] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/task", self.create),
            web.get("/api/v1/task/{task_id}", self.get),
            web.delete("/api/v1/task/{task_id}", self.cancel),
        ]

    # --- handlers --------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized()
        fault = self.take_fault()
        if fault is not None and (answer := await self._fault_answer(fault)) is not None:
            return answer
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "invalid request body: not JSON")
        problem = validate_create(body)
        if problem is None and body["task_type"] == "video_generation":
            assert self._session is not None
            problem = await check_brush_images(self._session, body["input"])
        if problem:
            return self._error(400, problem)
        task = EmuTask(
            task_id=str(uuid.uuid4()), input=body["input"], config=body.get("config") or {}, task_type=body["task_type"]
        )
        if fault in (Fault.CONTENT_POLICY, Fault.TASK_FAILED):
            task.fail_with = fault
        elif fault in (Fault.CALLBACK_TWICE, Fault.CALLBACK_OUT_OF_ORDER):
            task.callback_fault = fault
        self.tasks[task.task_id] = task
        self._push(task, [self.task_data(task)])  # GoAPI notifies on creation too
        return self._ok(self.task_data(task))

    async def get(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized()
        if failure := await self.read_fault():
            return failure
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._error(404, "task not found")
        self._advance(task)
        return self._ok(self.task_data(task))

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized()
        if failure := await self.read_fault():
            return failure
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._error(404, "task not found")
        if task.status != "pending":
            return self._error(400, f"task {task.task_id} is {task.status}; only pending tasks can be canceled")
        task.cancelled = True
        self._set_status(task, "failed")
        return self.json_response({"code": 200, "message": f"task {task.task_id} canceled"})

    # --- task life -------------------------------------------------------------------------------

    def _advance(self, task: EmuTask) -> None:
        if task.status not in ("pending", "processing"):
            return
        task.reads += 1
        if task.reads <= self.polls_to_finish:
            self._set_status(task, "processing")
        else:
            self._set_status(task, "failed" if task.fail_with else "completed")

    def _set_status(self, task: EmuTask, status: str) -> None:
        if status == task.status:
            return
        task.status = status
        if status == "processing":
            task.started_at = _now_iso()
            task.processing_snapshot = self.task_data(task)
            self._push(task, [task.processing_snapshot])
            return
        task.ended_at = _now_iso()
        final = self.task_data(task)
        if task.callback_fault is Fault.CALLBACK_TWICE:
            self._push(task, [final, final])
        elif task.callback_fault is Fault.CALLBACK_OUT_OF_ORDER:
            stale = task.processing_snapshot or {**final, "status": "processing"}
            self._push(task, [final, stale])
        else:
            self._push(task, [final])

    def task_data(self, task: EmuTask) -> dict[str, Any]:
        """The unified task object, as GET answers and webhooks carry it."""
        done = task.status in ("completed", "failed")
        return {
            "task_id": task.task_id,
            "model": "kling",
            "task_type": task.task_type,
            "status": self._wire_status(task),
            "config": task.config,  # echoed as-is, webhook secret included, like the service
            "input": task.input,
            "output": self._output(task),
            "meta": {
                "created_at": task.created_at,
                "started_at": task.started_at,
                "ended_at": task.ended_at,
                "usage": {
                    "type": "point",
                    "frozen": 0 if done else POINTS,
                    "consume": POINTS if task.status == "completed" else 0,
                },
                "is_using_private_pool": False,
            },
            "detail": None,
            "logs": [],
            "error": self._error_object(task),
        }

    def _wire_status(self, task: EmuTask) -> str:
        # The schema enum is capitalised, live data lowercase: show both.
        if task.status == "processing":
            return "Processing" if task.reads % 2 else "processing"
        if task.status == "failed":
            return "Failed"
        return task.status

    def _output(self, task: EmuTask) -> dict[str, Any]:
        if task.status != "completed":
            return {"type": "", "status": 0, "works": None}
        url = self.result_video(task.task_id)
        if self.result_shape == "video_url":
            return {"type": "video", "status": 99, "works": None, "video_url": url}
        if self.result_shape == "video":
            return {"type": "video", "status": 99, "works": None, "video": url}
        video: dict[str, Any] = {"resource": url, "width": 360, "height": 640, "duration": 3000}
        if self.result_shape == "works":
            video["resource_without_watermark"] = url
        return {"type": "video", "status": 99, "works": [{"video": video, "cover": {"resource": url + ".jpg"}}]}

    @staticmethod
    def _error_object(task: EmuTask) -> dict[str, Any]:
        if task.status != "failed":
            return {"code": 0, "raw_message": "", "message": "", "detail": None}
        if task.cancelled:
            return {"code": 10000, "raw_message": "", "message": "task canceled by user", "detail": None}
        if task.fail_with is Fault.CONTENT_POLICY:
            return {
                "code": 10000,
                "raw_message": "kling task failed: risk control triggered",
                "message": "failed to generate video: the input violates the content policy",
                "detail": None,
            }
        return {
            "code": 10000,
            "raw_message": "kling internal error 5000",
            "message": "failed to generate video: upstream generation error",
            "detail": None,
        }

    # --- webhooks ---------------------------------------------------------------------------------

    def _push(self, task: EmuTask, payloads: list[dict[str, Any]]) -> None:
        """Send webhooks for `task` after any still in flight for it, so their order is the one given."""
        webhook = task.config.get("webhook_config") or {}
        endpoint = webhook.get("endpoint")
        if not endpoint:
            return
        headers = {"x-webhook-secret": webhook["secret"]} if webhook.get("secret") else {}
        previous = task.callback_chain
        bodies = [{"timestamp": int(time.time()), "data": json.loads(json.dumps(p))} for p in payloads]

        async def deliver() -> None:
            if previous is not None:
                await previous
            for body in bodies:
                await self._post_callback(endpoint, body, headers)

        chain = asyncio.create_task(deliver())
        self._background.add(chain)
        chain.add_done_callback(self._background.discard)
        task.callback_chain = chain

    # --- answers ---------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("X-API-Key") == self.api_key

    def _unauthorized(self) -> web.Response:
        return self._error(401, "Unauthorized: invalid or missing API key")

    def server_error(self) -> web.Response:
        return self._error(500, "internal server error")

    async def _fault_answer(self, fault: Fault) -> web.StreamResponse | None:
        """The wire answer for a fault, or None when the request goes on (slow, or a task-level fault)."""
        if fault is Fault.UNAUTHORIZED:
            return self._unauthorized()
        if fault is Fault.BALANCE:
            return self._error(402, "insufficient credits: please top up your account")
        if fault is Fault.RATE_LIMIT:
            return self._error(429, "too many requests", headers={"Retry-After": self.retry_after})
        return await self.common_fault_answer(fault)

    def _ok(self, data: dict[str, Any]) -> web.Response:
        return self.json_response({"code": 200, "message": "success", "data": data})

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return self.json_response({"code": status, "message": message}, status=status, headers=headers)


def validate_create(body: Any) -> str | None:
    """What GoAPI would refuse in a motion_control or video_generation create body, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if body.get("model") != "kling":
        return f"unsupported model: {body.get('model')!r}"
    if body.get("task_type") not in ("motion_control", "video_generation"):
        return f"unsupported task_type for this emulator: {body.get('task_type')!r}"
    task_input = body.get("input")
    if not isinstance(task_input, dict):
        return "input is required and must be an object"
    problem = (
        validate_video_generation(task_input) if body["task_type"] == "video_generation" else _motion_problem(task_input)
    )
    return problem or _config_problem(body.get("config"))


def _motion_problem(task_input: dict[str, Any]) -> str | None:
    image_url = task_input.get("image_url")
    if not isinstance(image_url, str) or not image_url:
        return "input.image_url is required and must be a string"
    for key in ("video_url", "preset_motion", "prompt"):
        if key in task_input and not isinstance(task_input[key], str):
            return f"input.{key} must be a string"
    # The docs' own example sends video_url "" next to a preset: empty counts as absent.
    sources = [k for k in ("video_url", "preset_motion") if task_input.get(k)]
    if len(sources) != 1:
        return "exactly one of input.video_url and input.preset_motion must be provided as motion reference"
    if task_input.get("motion_direction") not in ("image", "video"):
        return "input.motion_direction must be one of: image, video"
    if "keep_original_sound" in task_input and not isinstance(task_input["keep_original_sound"], bool):
        return "input.keep_original_sound must be a boolean"
    if "mode" in task_input and task_input["mode"] not in ("std", "pro"):
        return "input.mode must be one of: std, pro"
    if "version" in task_input and task_input["version"] not in ("2.6", "3.0"):
        return "input.version must be one of: 2.6, 3.0"
    if len(task_input.get("prompt", "")) > 2500:
        return "input.prompt must be at most 2500 characters"
    return None


def _config_problem(config: Any) -> str | None:
    if config is not None:
        if not isinstance(config, dict):
            return "config must be an object"
        if config.get("service_mode", "public") not in ("public", "private", ""):
            return "config.service_mode must be one of: public, private"
        webhook = config.get("webhook_config")
        if webhook is not None:
            if not isinstance(webhook, dict):
                return "config.webhook_config must be an object"
            if not isinstance(webhook.get("endpoint", ""), str) or not isinstance(webhook.get("secret", ""), str):
                return "config.webhook_config.endpoint and .secret must be strings"
    return None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
