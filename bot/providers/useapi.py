"""useapi.net Kling API v1: Motion Control (and image-to-video, useapi_animate.py) through your own Kling web account.

Reference: docs/providers.md, "useapi.net". The flow is: upload the inputs as Kling
assets (`POST /assets/`, raw bytes), then `POST /videos/motion-create` with the
Kling-hosted URLs the uploads returned, then follow the task with
`GET /tasks/{id}` or the `replyUrl` callback (both carry the same task model).

Quirks kept here and nowhere else:
- inputs are uploaded as bytes, so the bot needs no public URL for them;
  images use the upload's `url`, videos its `resourceUrl`;
- a preset motion ("template") is just another `motionUrl`, from `GET /videos/motions`;
- the task id is a JSON number; the rest of the bot sees it as a string;
- state comes from `status_name` + `status_final`; the numeric `status` is only
  documented for 5 (submitted) and 99 (succeed);
- Kling answers HTTP 500 for moderation too: the `error` text tells it apart
  from a real outage (its `message` says "Service busy" either way).

Assumptions (facts docs/providers.md marks unconfirmed or does not state; check
them against a live response and change them here):
- Out of Kling credits at create: docs/providers.md documents no shape. We take
  HTTP 402, or any error whose `error` text says credits/points/balance are
  insufficient, as BALANCE (not retryable). A task that later vanishes (404 on
  `GET /tasks/{id}`, which §3.4 says also covers "deleted / moderated / out of
  credits") is reported as a FAILED task of kind UNKNOWN, since the three
  causes cannot be told apart.
- A failed task's reason is read from the task model's `error`, then
  `task.message`, then the top-level `message` (unless it is "success").
- Numeric `status` values other than 5 and 99 are never relied on.
- `replyUrl` callbacks carry the `GET /tasks/{id}` model unchanged and are
  unsigned; where `replyRef` sits in them is unknown, so it is not read (the
  bot's callback URL already names the job). Callbacks are hints: poll to confirm.
- `GET /videos/motions` returns a bare JSON array; its items have no name
  field, so a template is named from `name`/`title` if present, else from its
  id and duration. A template's id is its `assetId` (short enough for a
  Discord autocomplete value), resolved to its `url` at submit.
- Cost is left None: `userPoints` is the account's balance at that moment, not
  what this task was charged, and with concurrent tasks a difference of two
  snapshots would charge one job for another's spend.
- Limits: the /assets page says videos ≤ 10 s and 720p/1080p, which conflicts
  with motion-create's 3–30 s; we keep Kling's motion limits (bot.limits).
- `model_name` is sent explicitly (default `kling-v2-6`, the same model the
  official adapter uses) so useapi changing its default cannot change what a
  job costs.
- Cancel is not offered: `DELETE /tasks/{id}` deletes a task and its works,
  but whether it stops a running generation (and its charge) is not documented.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.animate.models import AnimateRequest
from bot.errors import (
    InputRejected,
    Outage,
    ProviderError,
    UnknownProviderError,
)
from bot.http import HttpClient, Response
from bot.i18n import Text
from bot.models import ErrorKind, MediaFile, MotionRequest
from bot.providers.base import (
    Capabilities,
    MotionTemplate,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.providers.useapi_animate import I2V_PATH, image2video_body
from bot.providers.useapi_assets import Asset, FileBody, motion_templates
from bot.providers.useapi_errors import classify, kind_from_text, kling_code

log = logging.getLogger(__name__)

DEFAULT_MODEL = "kling-v2-6"
TEMPLATE_CACHE_SECONDS = 300.0  # the list feeds an autocomplete: one fetch serves many keystrokes

IMAGE_TYPES = ("image/png", "image/jpeg")
VIDEO_TYPES = ("video/mp4", "video/quicktime")

# Our orientation -> useapi's motionDirection.
_DIRECTION = {"image": "image_direction", "video": "motion_direction"}



# --- wire models (only the fields we read; the rest is ignored) ---------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Resource(_Wire):
    resource: str | None = None
    duration: int | None = None  # ms


class _Work(_Wire):
    workId: int | None = None
    resource: _Resource | None = None


class _Task(_Wire):
    id: int
    status: int | None = None
    status_name: str | None = None
    status_final: bool | None = None
    message: str | None = None


class _TaskModel(_Wire):
    """The create answer, `GET /tasks/{id}` and the replyUrl callback body."""

    task: _Task
    works: list[_Work] = []
    status: int | None = None
    status_name: str | None = None
    status_final: bool | None = None
    message: str | None = None
    error: str | None = None


class UseApiProvider(Provider):
    name: ClassVar[str] = "useapi"
    capabilities: ClassVar[Capabilities] = Capabilities(
        motion_templates=True,  # Kling's official motions, from GET /videos/motions
        needs_input_urls=False,  # inputs are uploaded as bytes to /assets
        can_find_by_job_id=False,  # no lookup by replyRef is documented
        can_cancel=False,  # see Assumptions
        animate=True,  # POST /videos/image2video-frames (bot/providers/useapi_animate.py)
    )

    def __init__(
        self, http: HttpClient, *, token: str, base_url: str, email: str = "", model_name: str = DEFAULT_MODEL
    ) -> None:
        super().__init__(http)
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.email = email
        self.model_name = model_name
        self._templates: list[tuple[MotionTemplate, str]] = []  # (template, its motionUrl)
        self._templates_at: float | None = None
        self._templates_lock = asyncio.Lock()
        self._now: Callable[[], float] = time.monotonic  # tests move the clock

    # --- Provider interface ------------------------------------------------------

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        request = submit.request
        if isinstance(request, AnimateRequest):
            path = I2V_PATH
            body = await image2video_body(request, lambda media: self._upload(media, IMAGE_TYPES, "url"))
        else:
            path, body = "/videos/motion-create", await self._motion_body(request)
        body["replyRef"] = submit.job_id
        if submit.callback_url:
            body["replyUrl"] = submit.callback_url
        if self.email:
            body["email"] = self.email

        # Not idempotent: useapi has no idempotency key, so a create that may have
        # reached Kling is never sent twice (the HTTP client only re-sends on 429/502/503).
        response = await self._call("POST", path, "create", idempotent=False, email_in_query=False, json=body)
        try:
            model = _TaskModel.model_validate(response.json())
        except (ProviderError, ValidationError) as exc:
            # It answered 200, so the task may well exist: retrying could make a second one.
            why = _first_error(exc) if isinstance(exc, ValidationError) else exc.message
            raise UnknownProviderError(
                self.redact(f"useapi create: accepted, but the answer has no task id ({why})"),
                http_status=response.status,
            ) from None
        task = self._to_task(model)
        log.info("useapi: job %s created task %s (%s)", submit.job_id, task.task_id, task.raw_status)
        return task

    async def _motion_body(self, request: MotionRequest) -> dict[str, Any]:
        options = request.options
        # Exactly one motion source (intake refuses a template together with a video). A template
        # is resolved before anything is uploaded, so a stale choice costs nothing.
        motion_url = await self._template_url(options.motion_template) if options.motion_template else None
        video = None if motion_url else self.reference_video(request)
        image_url = await self._upload(request.image, IMAGE_TYPES, "url")
        if video is not None:
            motion_url = await self._upload(video, VIDEO_TYPES, "resourceUrl")
        body: dict[str, Any] = {
            "model_name": self.model_name,
            "imageUrl": image_url,
            "motionUrl": motion_url,
            "keepAudio": options.keep_sound,
            "motionDirection": _DIRECTION[options.orientation],
            "mode": options.mode,
        }
        if options.prompt:
            body["prompt"] = options.prompt
        return body

    async def get_task(self, task_id: str) -> ProviderTask:
        number = _task_number(task_id)
        try:
            response = await self._call("GET", f"/tasks/{number}", f"task {number}", idempotent=True)
        except ProviderError as error:
            if error.http_status == 404:
                return self._vanished(str(number), error)
            raise
        try:
            model = _TaskModel.model_validate(response.json())
        except ValidationError as exc:
            raise Outage(self.redact(f"useapi task {number}: unexpected answer ({_first_error(exc)})")) from None
        return self._to_task(model)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        # replyUrl callbacks are unsigned: nothing to check in the headers; the
        # bot's own per-job secret in the callback URL is checked by the web layer.
        return self._to_task(self.callback_body(_TaskModel, body))

    async def list_motion_templates(self) -> list[MotionTemplate]:
        return [template for template, _ in await self._cached_templates()]

    # --- request building -------------------------------------------------------------

    async def _call(
        self, method: str, path: str, what: str, *, idempotent: bool, email_in_query: bool = True, **kwargs: Any
    ) -> Response:
        """One authenticated call below the base URL; `what` names it in errors for admins.
        The account email rides in the query, except where the JSON body carries it (motion-create)."""
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        if self.email and email_in_query:
            kwargs["params"] = {"email": self.email}
        return await self.call(
            method, self.base_url + path, classify=self._classifier(what), idempotent=idempotent, headers=headers, **kwargs
        )

    async def _upload(self, media: MediaFile, allowed: tuple[str, ...], field: str) -> str:
        """Upload one input as a Kling asset; return the URL motion-create takes for it."""
        content_type = media.content_type.split(";")[0].strip().lower()
        if content_type not in allowed:
            # Intake names the type from the real bytes, so this is a request built some other way.
            raise InputRejected(
                f"useapi: {media.filename!r} is {media.content_type}, expected one of {', '.join(allowed)}",
                user_detail=Text("{filename} is not a supported file type.", filename=media.filename),
            )
        size = media.path.stat().st_size
        # Uploads create nothing billable, so they may be retried like a read.
        response = await self._call(
            "POST",
            "/assets/",
            f"upload {media.filename}",
            idempotent=True,
            data=FileBody(media.path),
            headers={"Content-Type": content_type, "Content-Length": str(size)},
        )
        try:
            asset = Asset.model_validate(response.json())
        except ValidationError as exc:
            raise Outage(f"useapi upload: unexpected answer ({_first_error(exc)})") from None
        url = getattr(asset, field)
        if not url:
            raise Outage(
                self.redact(f"useapi upload {media.filename}: no {field} in the answer (status {asset.status}, {asset.message!r})"),
            )
        log.info("useapi: uploaded %s (%d bytes)", media.filename, size)
        return url

    # --- motion templates --------------------------------------------------------------

    async def _cached_templates(self) -> list[tuple[MotionTemplate, str]]:
        async with self._templates_lock:  # concurrent autocompletes share one fetch
            fresh = self._templates_at is not None and self._now() - self._templates_at < TEMPLATE_CACHE_SECONDS
            if fresh:
                return self._templates
            try:
                self._templates = await self._fetch_templates()
            except ProviderError as error:
                if self._templates_at is None:
                    raise
                # An autocomplete is better served a slightly old list than an error.
                log.warning("useapi: motion templates not refreshed, serving the cached list: %s", error)
                return self._templates
            self._templates_at = self._now()
            return self._templates

    async def _fetch_templates(self) -> list[tuple[MotionTemplate, str]]:
        # `mine` omitted: the official templates.
        return motion_templates((await self._call("GET", "/videos/motions", "motions", idempotent=True)).json())

    async def _template_url(self, choice: str) -> str:
        for template, url in await self._cached_templates():
            if choice in (template.id, url):
                return url
        raise InputRejected(
            f"useapi: unknown motion template {choice!r}",
            user_detail=Text("That motion template is not offered any more; pick another one."),
        )

    # --- answers -> shared vocabulary --------------------------------------------------

    def _to_task(self, model: _TaskModel) -> ProviderTask:
        task = model.task
        name = (task.status_name or model.status_name or "").lower()
        final = task.status_final if task.status_final is not None else bool(model.status_final)
        number = task.status if task.status is not None else model.status
        raw = f"{name or '?'} ({number})" if number is not None else name or "?"
        task_id = str(task.id)
        result_url = next((w.resource.resource for w in model.works if w.resource and w.resource.resource), None)

        if name == "succeed" or (not name and number == 99):
            if result_url:
                return ProviderTask(task_id=task_id, status=TaskStatus.SUCCEEDED, raw_status=raw, result_url=result_url)
            if not final:
                return ProviderTask(task_id=task_id, status=TaskStatus.PROCESSING, raw_status=raw)
            return ProviderTask(
                task_id=task_id,
                status=TaskStatus.FAILED,
                raw_status=raw,
                error_kind=ErrorKind.UNKNOWN,
                error_message="useapi: task finished without a video",
            )
        if name == "failed" or final:
            text = self.redact(_failure_text(model) or f"task ended as {raw}")
            kind, _detail = kind_from_text(text, default=ErrorKind.UNKNOWN)
            return ProviderTask(
                task_id=task_id,
                status=TaskStatus.FAILED,
                raw_status=raw,
                error_kind=kind,
                error_code=kling_code(text),
                error_message=text,
            )
        if name == "submitted" or (not name and number == 5):
            return ProviderTask(task_id=task_id, status=TaskStatus.SUBMITTED, raw_status=raw)
        return ProviderTask(task_id=task_id, status=TaskStatus.PROCESSING, raw_status=raw)

    def _vanished(self, task_id: str, error: ProviderError) -> ProviderTask:
        """404 on a task: it is gone for good (deleted, moderated or out of credits, §3.4)."""
        kind, _detail = kind_from_text(error.message, default=ErrorKind.UNKNOWN)
        return ProviderTask(
            task_id=task_id,
            status=TaskStatus.FAILED,
            raw_status="not found",
            error_kind=kind,
            error_code=error.code or "404",
            error_message=f"{error.message} (the task is gone: deleted, moderated, or the Kling account ran out of credits)",
        )

    def _classifier(self, what: str) -> Callable[[Response], ProviderError | None]:
        """Map an answer to an error, per §3.6 (bot/providers/useapi_errors.py); `what` names the call for admins."""
        return lambda response: classify(response, what, self.redact)

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


# --- helpers -----------------------------------------------------------------------------


def _task_number(task_id: str) -> int:
    """useapi task ids are numbers; ours are their decimal strings."""
    if not task_id.isdigit():
        raise InputRejected(f"useapi: task id {task_id!r} is not a number")
    return int(task_id)


def _failure_text(model: _TaskModel) -> str:
    for text in (model.error, model.task.message, model.message):
        if text and text.strip().lower() != "success":
            return text
    return ""


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
