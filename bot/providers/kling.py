"""Kling's official API (Kuaishou developer API): Motion Control.

Wire reference: docs/providers.md, "Kling official API". Everything Kling-specific lives here:
the AK/SK -> JWT auth, the `{code, message, request_id, data}` envelope, the
business error codes, the task vocabulary and the bare-task callbacks.

Assumptions (facts docs/providers.md marks unconfirmed or does not state; each is
coded to the documented shape and kept in this one place):
- A create whose `external_task_id` already exists on the account is refused
  with HTTP 400, code 1201 (the generic "bad value" code; the message names
  `external_task_id`). We do not read the message: on any 1201 at create we
  look the job up by its external id, and if a task is there the job was
  already submitted and that task is returned.
- `GET /v1/videos/motion-control/{id}` takes our `external_task_id` in the
  same path slot as `task_id` (documented, disambiguation unstated). Kling's
  task ids are all digits and so can be ours (12 hex chars), so we send
  `external_task_id` = "job-" + job id, which can never be read as a task id,
  and still check that the task found echoes it in `task_info.external_task_id`.
- A query for an id Kling does not know is answered HTTP 404 (code 1203,
  "resource not found"); find_task reads any 404 or 1203 as "no such task".
- Callbacks are unsigned and unordered (docs say nothing): parse only; the
  job layer's forward-only transitions absorb repeats and stale updates.
- A JWT of 30 minutes is accepted (the official example; max not stated).
  We re-mint 5 minutes before `exp` so a slow request never carries a token
  that expires in flight.
- A failed task carries no code, only `task_status_msg`; risk-control wording
  (English, and the Chinese the Beijing endpoint uses) means content policy.
- `final_unit_deduction` is the cost in resource-pack units, kept as Kling's string.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.animate.models import AnimateRequest
from bot.errors import Outage, ProviderError
from bot.http import HttpClient, Response
from bot.models import ErrorKind, MediaFile, Mode, Orientation
from bot.providers.base import (
    Capabilities,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.providers.kling_animate import (
    I2V_EXTERNAL_PREFIX,
    I2V_PATH,
    I2V_TASK_PREFIX,
    image_to_video_body,
)
from bot.providers.kling_errors import classify, failure_kind

log = logging.getLogger(__name__)

MOTION_PATH = "/v1/videos/motion-control"
TOKEN_LIFETIME_SECONDS = 1800  # the official example's exp = now + 1800
TOKEN_NBF_SKEW_SECONDS = 5  # nbf = now - 5 tolerates a server clock slightly behind ours
TOKEN_REMINT_MARGIN_SECONDS = 300
DUPLICATE_EXTERNAL_ID_CODE = 1201  # see Assumptions
NOT_FOUND_CODE = 1203  # see Assumptions
TOKEN_EXPIRED_CODE = 1004
# Keeps our external ids apart from Kling's all-digit task ids in the shared path slot.
EXTERNAL_ID_PREFIX = "job-"

STATUS_MAP: dict[str, TaskStatus] = {
    "submitted": TaskStatus.SUBMITTED,
    "processing": TaskStatus.PROCESSING,
    "succeed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
}


# --- wire payloads -------------------------------------------------------------------


class _Wire(BaseModel):
    # Kling documents ids and units as strings; accept numbers too rather than fail a poll.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class KlingVideo(_Wire):
    id: str | None = None
    url: str
    duration: str | None = None  # seconds, as a string


class KlingTaskResult(_Wire):
    videos: list[KlingVideo] = Field(default_factory=list)


class KlingTaskInfo(_Wire):
    external_task_id: str | None = None


class KlingTask(_Wire):
    """The task object: `data` of create and query, an item of list, and the callback body."""

    task_id: str
    task_status: str
    task_status_msg: str | None = None
    task_info: KlingTaskInfo = Field(default_factory=KlingTaskInfo)
    task_result: KlingTaskResult | None = None
    final_unit_deduction: str | None = None
    created_at: int | None = None  # Unix ms
    updated_at: int | None = None


class KlingEnvelope(_Wire):
    code: int
    message: str = ""
    request_id: str | None = None
    data: Any = None


class MotionControlBody(BaseModel):
    """POST /v1/videos/motion-control."""

    model_name: str
    image_url: str  # a URL, or raw base64 with no data: prefix
    video_url: str  # URL only
    character_orientation: Orientation
    mode: Mode
    prompt: str | None = None
    keep_original_sound: Literal["yes", "no"]  # a string, not a boolean
    callback_url: str | None = None
    external_task_id: str


def to_provider_task(task: KlingTask) -> ProviderTask:
    """The bot's view; an image-to-video task's id carries I2V_TASK_PREFIX (see kling_animate)."""
    view = _to_provider_task(task)
    if (task.task_info.external_task_id or "").startswith(I2V_EXTERNAL_PREFIX):
        view.task_id = I2V_TASK_PREFIX + view.task_id
    return view


def _to_provider_task(task: KlingTask) -> ProviderTask:
    status = STATUS_MAP.get(task.task_status)
    if status is None:
        # A word we do not know yet: keep polling rather than end the job; the job timeout bounds it.
        log.warning("kling: unknown task_status %r for task %s", task.task_status, task.task_id)
        status = TaskStatus.PROCESSING
    result_url = None
    error_kind = None
    error_message = None
    if status is TaskStatus.SUCCEEDED:
        videos = task.task_result.videos if task.task_result else []
        if videos:
            result_url = videos[0].url
        else:
            status = TaskStatus.FAILED
            error_kind = ErrorKind.UNKNOWN
            error_message = "Kling reported success without a video"
    elif status is TaskStatus.FAILED:
        error_message = task.task_status_msg or "Kling reported the task failed without a reason"
        error_kind = failure_kind(task.task_status_msg)
    return ProviderTask(
        task_id=task.task_id,
        status=status,
        raw_status=task.task_status,
        result_url=result_url,
        error_kind=error_kind,
        error_message=error_message,
        cost=task.final_unit_deduction,
    )


# --- the adapter ----------------------------------------------------------------------


class KlingProvider(Provider):
    name: ClassVar[str] = "kling"
    # Both modes and orientations, keep_sound, prompt and the input limits are the defaults:
    # they are Kling's own. Only what sets Kling apart is spelled out.
    capabilities: ClassVar[Capabilities] = Capabilities(
        motion_templates=False,  # the official API has no preset motions
        needs_input_urls=True,  # the motion video is taken by URL only
        can_find_by_job_id=True,  # external_task_id carries our job id
        can_cancel=False,  # no cancel endpoint is documented
        animate=True,  # POST /v1/videos/image2video (bot/providers/kling_animate.py)
    )

    def __init__(
        self,
        http: HttpClient,
        *,
        access_key: str,
        secret_key: str,
        base_url: str,
        model: str = "kling-v2-6",
    ) -> None:
        super().__init__(http)
        self._access_key = access_key
        self._secret_key = secret_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.clock: Callable[[], float] = time.time  # replaceable in tests
        self._token: str | None = None
        self._token_exp = 0.0

    def __repr__(self) -> str:
        return f"KlingProvider(base_url={self.base_url!r}, model={self.model!r})"

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self._access_key, self._secret_key, self._token) if value)

    # --- auth ----------------------------------------------------------------------
    def _bearer(self) -> str:
        """The cached JWT, re-minted when it is within the margin of its expiry."""
        now = self.clock()
        if self._token is None or now >= self._token_exp - TOKEN_REMINT_MARGIN_SECONDS:
            issued = int(now)
            self._token_exp = issued + TOKEN_LIFETIME_SECONDS
            with warnings.catch_warnings():
                # Kling issues the secret key; PyJWT's advice on its length is not ours to act on.
                warnings.filterwarnings("ignore", message="The HMAC key is")
                self._token = jwt.encode(
                    {"iss": self._access_key, "exp": self._token_exp, "nbf": issued - TOKEN_NBF_SKEW_SECONDS},
                    self._secret_key,
                    algorithm="HS256",
                    headers={"typ": "JWT"},
                )
            log.debug("kling: minted a new API token, valid %d s", TOKEN_LIFETIME_SECONDS)
        return self._token

    async def _request(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        """One call under the shared retry policy; returns the envelope's `data`."""
        try:
            response = await self._send(method, path, idempotent, kwargs)
        except ProviderError as error:
            if error.code != str(TOKEN_EXPIRED_CODE):
                raise
            # Kling refused the token, so not even a create was acted on: mint anew and
            # try once more. A second 1004 means our clock is off; that is for an admin.
            log.info("kling: token refused as expired; minting a new one")
            self._token = None
            response = await self._send(method, path, idempotent, kwargs)
        try:
            return KlingEnvelope.model_validate(response.json()).data
        except ValidationError:
            raise Outage(f"kling: {method} {path}: answer is not Kling's envelope") from None

    async def _send(self, method: str, path: str, idempotent: bool, kwargs: dict[str, Any]) -> Response:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        return await self.call(
            method, self.base_url + path, classify=classify, idempotent=idempotent, headers=headers, **kwargs
        )

    # --- Provider interface ----------------------------------------------------------
    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        if isinstance(submit.request, AnimateRequest):
            path, body = I2V_PATH, await self._animate_body(submit, submit.request)
        else:
            path, body = MOTION_PATH, (await self._build_body(submit)).model_dump(exclude_none=True)
        try:
            data = await self._request("POST", path, idempotent=True, json=body)
        except ProviderError as error:
            # external_task_id is unique per account: a resend (ours after a lost answer,
            # or the retry policy's) is refused, and the task it refers to is the job's.
            if error.code != str(DUPLICATE_EXTERNAL_ID_CODE):
                raise
            existing = await self.find_task(submit.job_id)
            if existing is None:
                raise
            log.info("kling: job %s was already submitted as task %s", submit.job_id, existing.task_id)
            return existing
        return to_provider_task(_parse_task(data, "create"))

    async def get_task(self, task_id: str) -> ProviderTask:
        path, bare = (I2V_PATH, task_id.removeprefix(I2V_TASK_PREFIX)) if task_id.startswith(I2V_TASK_PREFIX) else (MOTION_PATH, task_id)
        data = await self._request("GET", f"{path}/{quote(bare, safe='')}", idempotent=True)
        return to_provider_task(_parse_task(data, "query"))

    async def find_task(self, job_id: str) -> ProviderTask | None:
        # The job's kind is not known here: a motion job's task, else an image-to-video one.
        return await self._find(MOTION_PATH, job_id, external_task_id(job_id)) or await self._find(
            I2V_PATH, job_id, I2V_EXTERNAL_PREFIX + job_id
        )

    async def _find(self, path: str, job_id: str, external_id: str) -> ProviderTask | None:
        try:
            data = await self._request("GET", f"{path}/{quote(external_id, safe='')}", idempotent=True)
        except ProviderError as error:
            if error.http_status == 404 or error.code == str(NOT_FOUND_CODE):
                return None
            raise
        task = _parse_task(data, "query")
        if task.task_info.external_task_id != external_id:
            # The path slot also takes task ids: a match on something else is not our job.
            log.warning("kling: lookup of job %s returned task %s of another job", job_id, task.task_id)
            return None
        return to_provider_task(task)

    async def list_tasks(self, page: int = 1, page_size: int = 30) -> list[ProviderTask]:
        """One page of the account's motion-control tasks, newest first (pageNum 1–1000, pageSize 1–500)."""
        if not (1 <= page <= 1000 and 1 <= page_size <= 500):
            raise ValueError("page must be 1–1000 and page_size 1–500")
        data = await self._request(
            "GET", MOTION_PATH, idempotent=True, params={"pageNum": str(page), "pageSize": str(page_size)}
        )
        if not isinstance(data, list):
            raise Outage("kling: list answer has no task array")
        return [to_provider_task(_parse_task(item, "list")) for item in data]

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        # Kling does not sign callbacks; our per-job secret in the URL is checked by the web server.
        return to_provider_task(self.callback_body(KlingTask, body))

    async def _animate_body(self, submit: SubmitRequest, request: AnimateRequest) -> dict[str, Any]:
        image = await self._image_field(request.image)
        tail = await self._image_field(request.end_image) if request.end_image else None
        return await image_to_video_body(request, image, tail, submit.callback_url, submit.job_id)

    # --- request building -------------------------------------------------------------
    async def _build_body(self, submit: SubmitRequest) -> MotionControlBody:
        request = submit.request
        options = request.options
        return MotionControlBody(
            model_name=self.model,
            image_url=await self._image_field(request.image),
            video_url=self.input_url(self.reference_video(request)),  # Kling takes the video by URL only
            character_orientation=options.orientation,
            mode=options.mode,
            prompt=options.prompt or None,
            keep_original_sound="yes" if options.keep_sound else "no",
            callback_url=submit.callback_url,
            external_task_id=external_task_id(submit.job_id),
        )

    async def _image_field(self, image: MediaFile) -> str:
        """The image's URL, or, without one, its bytes as raw base64 (no data: prefix).
        Intake held the file to Kling's 10 MB, so the encoded field stays under ~13.4 MB."""
        if image.url is not None:
            return image.url
        data = await asyncio.to_thread(image.path.read_bytes)
        return base64.b64encode(data).decode("ascii")


def external_task_id(job_id: str) -> str:
    return EXTERNAL_ID_PREFIX + job_id


def _parse_task(data: Any, what: str) -> KlingTask:
    try:
        return KlingTask.model_validate(data)
    except ValidationError:
        raise Outage(f"kling: {what} answer has no valid task object") from None
