"""GoAPI (goapi.ai): Kling Motion Control and image-to-video through GoAPI's unified task API.

Image-to-video (`task_type` video_generation) builds its `input` in goapi_animate.py;
everything else (envelope, auth, task object, webhook, errors) is shared and lives here.

Wire reference: docs/providers.md, "GoAPI". One JSON envelope for every
model: create `POST /api/v1/task`, read `GET /api/v1/task/{task_id}`, auth by
the `X-API-Key` header (no Bearer). Inputs are fetched by URL only, so the bot
must have public URLs for the media (PUBLIC_URL or Discord CDN URLs).

Assumptions
-----------
Facts the docs do not confirm, kept in this one place. Each is coded to the
documented shape; check them against a live response and fix them here.

A1. Cancel is `DELETE /api/v1/task/{task_id}` answering `{code: 200, message}`,
    and only a task still `pending` can be cancelled. Source: PiAPI (GoAPI's
    sister service, identical schema) documents exactly this for its other
    models; GoAPI's Kling "Cancel Task" page gives no method or path.
    A cancelled task is then read as `failed`; any other status word we do not
    know (e.g. "cancelled") is read as PROCESSING and left to the job timeout,
    except "cancelled"/"canceled", read as FAILED.
A2. Request errors: HTTP 401 bad key, 402 out of credits, 429 rate limited
    (with Retry-After), 400 bad request, 5xx outage; body `{code, message}`.
    A 2xx answer whose body carries a `code` other than 200 (or 0) is treated
    as an error of that code, in case the gateway ever answers 200 + error.
A3. The preset motion list: GoAPI publishes no list endpoint; the only name in
    the docs is "Heart Gesture Dance" (PiAPI motion-control page). It lives in
    PRESET_MOTIONS below. Any other name is passed through unchanged and left
    for GoAPI to accept or refuse.
A4. `meta.usage.consume` is what the task cost, in GoAPI "points" (USD rate
    unpublished); ProviderTask.cost carries the bare number. While a task runs
    points are only `frozen`, so the cost is reported on final states only.
A5. A content-policy refusal shows as a `failed` task whose `error.message` or
    `error.raw_message` uses moderation wording (goapi_errors.CONTENT_POLICY_WORDS); the
    same wording in a 4xx create error is read the same way.
A6. The webhook `timestamp` is the sending time in Unix seconds. We accept a
    callback up to WEBHOOK_MAX_AGE old (covers GoAPI's 3 tries 5 s apart,
    PiAPI-sourced) and at most WEBHOOK_MAX_SKEW in the future (clock skew).
A7. GoAPI's motion_control input is the one on PiAPI's Kling Motion Control
    page (`image_url`, `video_url` | `preset_motion`, `motion_direction`,
    `keep_original_sound` as a JSON bool, `mode`, `version`, `prompt`).
    We always send `version` "2.6" and `service_mode` "public" (pay per use).
A8. `output.video` in the result fallbacks is a plain URL string.

Note: GoAPI echoes `config.webhook_config.secret` back inside every task
payload (GET answers and webhooks). Nothing here logs or returns raw payloads;
whoever stores them must drop `config` first.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.animate.models import AnimateRequest
from bot.errors import InputRejected, Outage, ProviderError
from bot.http import HttpClient, Response
from bot.models import ErrorKind
from bot.providers.base import (
    Capabilities,
    MotionTemplate,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.providers.goapi_animate import TASK_TYPE as I2V_TASK_TYPE
from bot.providers.goapi_animate import video_generation_input
from bot.providers.goapi_errors import classify, failure_kind

log = logging.getLogger(__name__)

# A3: the only preset motion GoAPI's docs name.
PRESET_MOTIONS: tuple[str, ...] = ("Heart Gesture Dance",)

MODEL_VERSION = "2.6"  # A7
WEBHOOK_SECRET_HEADER = "x-webhook-secret"
WEBHOOK_MAX_AGE = 3600.0  # seconds; A6
WEBHOOK_MAX_SKEW = 300.0  # seconds into the future; A6

# Status words, compared lower-cased: the schema enum is capitalised, live data lowercase.
_STATUSES: dict[str, TaskStatus] = {
    "pending": TaskStatus.SUBMITTED,
    "staged": TaskStatus.SUBMITTED,  # waiting in GoAPI's queue
    "processing": TaskStatus.PROCESSING,
    "completed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.FAILED,  # A1
    "canceled": TaskStatus.FAILED,
}



# --- wire models (lenient: GoAPI adds fields freely; we read only what we need) ---------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Video(_Wire):
    resource_without_watermark: str | None = None
    resource: str | None = None


class _Work(_Wire):
    video: _Video | None = None


class _Output(_Wire):
    works: list[_Work] | None = None
    video_url: str | None = None
    video: Any = None  # A8: a URL string in the variants we know


class _Usage(_Wire):
    type: str | None = None
    frozen: float | None = None
    consume: float | None = None


class _Meta(_Wire):
    usage: _Usage | None = None


class _Error(_Wire):
    code: int | str | None = 0
    message: str | None = ""
    raw_message: str | None = ""


class _TaskData(_Wire):
    """The unified task object (`data` of a GET answer, of a create answer and of a webhook)."""

    task_id: str
    status: str
    output: _Output | None = None
    meta: _Meta | None = None
    error: _Error | None = None


class _Webhook(_Wire):
    timestamp: float
    data: dict[str, Any]


# --- the adapter ------------------------------------------------------------------------------------


class GoApiProvider(Provider):
    name: ClassVar[str] = "goapi"
    capabilities: ClassVar[Capabilities] = Capabilities(
        motion_templates=True,  # `preset_motion`, besides an uploaded video
        needs_input_urls=True,  # GoAPI fetches inputs by URL; it takes no uploads in the create call
        can_find_by_job_id=False,  # no external id field: a crash mid-submit cannot be resolved
        can_cancel=True,  # A1
        animate=True,  # task_type video_generation (bot/providers/goapi_animate.py)
    )

    def __init__(self, http: HttpClient, *, api_key: str, base_url: str, webhook_secret: str) -> None:
        super().__init__(http)
        if not api_key:
            raise ValueError("GoAPI needs an API key (GOAPI_API_KEY)")
        if not webhook_secret:
            # An empty secret would make "no header" match "no secret": every forged callback would pass.
            raise ValueError("GoAPI needs a non-empty webhook secret to authenticate its callbacks")
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self.base_url = base_url.rstrip("/")

    # --- Provider interface ---------------------------------------------------------------------------

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        body = self.build_create_body(submit)
        # No external id to dedupe on: never sent twice unless surely refused.
        response = await self._call("POST", "", idempotent=False, json=body)
        task = self._task_from_envelope(response)
        log.info("goapi: job %s created task %s (%s)", submit.job_id, task.task_id, task.raw_status)
        return task

    async def get_task(self, task_id: str) -> ProviderTask:
        return self._task_from_envelope(await self._call("GET", task_id, idempotent=True))

    async def cancel(self, task_id: str) -> None:
        # A1. Repeating a cancel is harmless, so it may be retried like a read.
        await self._call("DELETE", task_id, idempotent=True)
        log.info("goapi: cancelled task %s", task_id)

    async def list_motion_templates(self) -> list[MotionTemplate]:
        return [MotionTemplate(id=name, name=name) for name in PRESET_MOTIONS]

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        # The secret comes back verbatim (no HMAC over the body); compare it in constant time.
        given = next((v for k, v in headers.items() if k.lower() == WEBHOOK_SECRET_HEADER), None)
        if given is None or not hmac.compare_digest(given.encode(), self._webhook_secret.encode()):
            raise InputRejected("goapi webhook: missing or wrong x-webhook-secret")
        hook = self.callback_body(_Webhook, body)
        now = time.time()
        if hook.timestamp < now - WEBHOOK_MAX_AGE or hook.timestamp > now + WEBHOOK_MAX_SKEW:
            # A replayed old notification must not move a job.
            raise InputRejected(f"goapi webhook: timestamp {hook.timestamp:.0f} is stale or in the future")
        return self._task_from_data(hook.data, malformed=InputRejected)

    # --- request building -----------------------------------------------------------------------------

    def build_create_body(self, submit: SubmitRequest) -> dict[str, Any]:
        """The create body for this job (bot/options.py already refused what GoAPI cannot take)."""
        config: dict[str, Any] = {"service_mode": "public"}
        if submit.callback_url:
            config["webhook_config"] = {"endpoint": submit.callback_url, "secret": self._webhook_secret}
        request = submit.request
        if isinstance(request, AnimateRequest):
            task_input = video_generation_input(request, self.input_url)
            return {"model": "kling", "task_type": I2V_TASK_TYPE, "input": task_input, "config": config}
        options = request.options
        task_input: dict[str, Any] = {
            "image_url": self.input_url(request.image),
            "motion_direction": options.orientation,  # = Kling's character_orientation
            "keep_original_sound": options.keep_sound,  # a JSON bool here (Kling itself wants "yes"/"no")
            "mode": options.mode,
            "version": MODEL_VERSION,
        }
        # Exactly one motion source (intake refuses a template together with a video).
        if options.motion_template:
            task_input["preset_motion"] = options.motion_template
        else:
            task_input["video_url"] = self.input_url(self.reference_video(request))
        if options.prompt:
            task_input["prompt"] = options.prompt
        return {"model": "kling", "task_type": "motion_control", "input": task_input, "config": config}

    async def _call(self, method: str, task_id: str, *, idempotent: bool, **kwargs: Any) -> Response:
        """One call to the unified task endpoint (`/api/v1/task[/{task_id}]`)."""
        url = f"{self.base_url}/api/v1/task" + (f"/{quote(task_id, safe='')}" if task_id else "")
        return await self.call(
            method, url, classify=self._classify, idempotent=idempotent, headers={"X-API-Key": self._api_key}, **kwargs
        )

    # --- answers -> shared vocabulary -----------------------------------------------------------------

    def _task_from_envelope(self, response: Response) -> ProviderTask:
        payload = response.json()  # malformed -> OUTAGE
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise Outage(f"goapi: answer without a task object (HTTP {response.status})", http_status=response.status)
        return self._task_from_data(data, malformed=Outage)

    def _task_from_data(
        self, data: Mapping[str, Any], *, malformed: type[Outage] | type[InputRejected]
    ) -> ProviderTask:
        """Map one unified task object. `malformed` is what a broken object is: from the API an
        outage (the provider broke its contract), from a webhook bad input (reject, keep polling)."""
        try:
            task = _TaskData.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise malformed(f"goapi: malformed task object ({fields})") from None

        raw_status = task.status
        word = raw_status.strip().lower()
        status = _STATUSES.get(word)
        if status is None:
            log.warning("goapi: task %s has unknown status %r; treating it as processing", task.task_id, raw_status)
            status = TaskStatus.PROCESSING
        error = task.error or _Error()
        failed_by_code = error.code not in (0, "0", None, "")
        if failed_by_code:
            status = TaskStatus.FAILED  # error.code != 0 is a failure whatever the status word says

        result = ProviderTask(task_id=task.task_id, status=status, raw_status=raw_status)
        if status is TaskStatus.SUCCEEDED:
            result.result_url = _result_url(task.output)
            if not result.result_url:
                result.status = TaskStatus.FAILED
                result.error_kind = ErrorKind.UNKNOWN
                result.error_message = "goapi: task completed without a video URL"
        elif status is TaskStatus.FAILED:
            text = self.redact(_join(error.message, error.raw_message)) or f"goapi: task {raw_status}"
            result.error_kind = failure_kind(text)
            result.error_code = str(error.code) if failed_by_code else None
            result.error_message = text
        if status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            usage = task.meta.usage if task.meta else None
            if usage is not None and usage.consume is not None:
                result.cost = _number(usage.consume)
        return result

    def _classify(self, response: Response) -> ProviderError | None:
        """Map an HTTP answer to an error (A2), or None for a success (bot/providers/goapi_errors.py)."""
        return classify(response, self.redact)

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key, self._webhook_secret)


# --- helpers ------------------------------------------------------------------------------------------


def _result_url(output: _Output | None) -> str | None:
    """Preference: clean master, then the watermarked Kling CDN file, then the flat variants."""
    if output is None:
        return None
    for work in output.works or []:
        if work.video is not None:
            url = work.video.resource_without_watermark or work.video.resource
            if url:
                return url
    if output.video_url:
        return output.video_url
    if isinstance(output.video, str) and output.video:
        return output.video
    return None


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _join(*parts: str | None) -> str:
    seen: list[str] = []
    for part in parts:
        part = (part or "").strip()
        if part and part not in seen:
            seen.append(part)
    return " | ".join(seen)
