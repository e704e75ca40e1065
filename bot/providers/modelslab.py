"""ModelsLab v7 Video Fusion motion control (docs/providers.md, "ModelsLab").

Wire summary: `POST {base}/api/v7/video-fusion/motion-control` with the API key
as the `key` field of the JSON body (not a header), inputs as URLs, and an
answer whose `status` is `processing` (id, eta, fetch_result, future_links),
`success` (id, output[]) or `error` (message). Polling is
`POST {base}/api/v7/video-fusion/fetch/{id}` with body `{"key": ...}`. A
webhook, when given, arrives on completion: `success` or `failed`, unsigned,
best effort, possibly twice.

Because the key travels in the body, nothing here ever logs a request body, and
every provider text that reaches a ProviderError or a ProviderTask goes through
`redact` first: ModelsLab may echo the request back in an error.

Assumptions (unconfirmed in docs/providers.md §4; check against a live answer and fix here):
- A1 model_id is "kling-motion-control" (documented as v2.6); "kling-v3-motion-control" is
  only seen in third-party code, so it is not offered.
- A2 `webhook` and `track_id` (ModelsLab's generic async options) are honoured by this endpoint.
- A3 Required fields are those Kling requires (key, model_id, init_image, init_video,
  character_orientation, mode); `prompt` is optional, so an empty prompt is left out.
- A4 `keep_original_sound` does not exist here: capabilities.keep_sound is False, so intake
  refuses a request asking to keep the sound before anything is sent (never silently dropped).
- A5 Input limits are Kling's (§4.1 says "same content rules as Kling"): KLING_MOTION_LIMITS.
- A6 Errors come as `{"status": "error", "message": ...}`, often with HTTP 200; the message may
  be in the legacy misspelt field `messege`, or be an object/list of field errors. We read
  the wording (case-insensitive, first match wins, in this order):
    AUTH           "invalid key", "invalid api key", "api key", "unauthorized", "authenticat"
    BALANCE        "credit", "balance", "insufficient", "top up", "recharge", "wallet"
    RATE_LIMIT     the word "rate", "too many", "throttl"
    CONTENT_POLICY "nsfw", "polic", "moderat", "inappropriate", "unsafe", "violat", "safety",
                   "<sensitive|explicit|adult|prohibited|restricted> content", "content filter"
    otherwise      BAD_INPUT on create, UNKNOWN on a task.
- A7 HTTP statuses, whatever the body: 401/403 -> AUTH, 402 -> BALANCE, 429 -> RATE_LIMIT
  (BALANCE if the text says credits), 5xx -> OUTAGE, other 4xx -> by wording as in A6.
- A8 On a fetch, `error` (or `failed`) means the task ended in failure -> TaskStatus.FAILED, except
  when the wording says the key is bad or we are rate limited: those concern the call, so
  they raise (AUTH / RATE_LIMIT) instead of failing the job.
- A9 The id is an integer; when `id` is missing it is the last path part of `fetch_result`.
  We poll `{base}/api/v7/video-fusion/fetch/{id}` ourselves rather than the `fetch_result`
  URL: that URL is taken only as a source for the id, so the key is never POSTed to a host
  named by an answer (and tests can point base_url at an emulator).
- A10 The result is `output[0]`, else `proxy_links[0]`; a `success` without any URL yet is read as
  still processing. `eta` is seconds. No cost is reported, so ProviderTask.cost stays None.
- A11 Undocumented status words "queued", "pending", "starting" mean processing. The webhook may
  also carry a `processing` or `error` body (same fields as a fetch answer) and is parsed alike.
- A12 ModelsLab does not dedupe creates by `track_id`, so a create that may have reached it (timeout,
  500/504, an unreadable 200) is marked maybe_accepted and never resent.
- A13 ModelsLab calls the `webhook` URL with its query string intact (the bot's `?token=` rides there).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import InputRejected, Outage, ProviderError, provider_error
from bot.http import NOT_ACCEPTED_STATUSES, HttpClient, Response
from bot.models import ErrorKind, Mode, Orientation
from bot.providers.base import (
    Capabilities,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)

log = logging.getLogger(__name__)

MODEL_ID = "kling-motion-control"  # A1
CREATE_PATH = "/api/v7/video-fusion/motion-control"
FETCH_PATH = "/api/v7/video-fusion/fetch/"

Stage = Literal["create", "read"]

# A6: provider wording -> error kind, checked in this order.
_MESSAGE_KINDS: tuple[tuple[ErrorKind, re.Pattern[str]], ...] = (
    (ErrorKind.AUTH, re.compile(r"invalid (api )?key|api key|unauthori[sz]ed|authenticat", re.I)),
    (ErrorKind.BALANCE, re.compile(r"credit|balance|insufficient|top.?up|recharge|wallet", re.I)),
    (ErrorKind.RATE_LIMIT, re.compile(r"\brate\b|too many|throttl", re.I)),
    (
        ErrorKind.CONTENT_POLICY,
        re.compile(
            r"nsfw|polic|moderat|inappropriate|unsafe|violat|safety"
            r"|(sensitive|explicit|adult|prohibited|restricted) content|content filter",
            re.I,
        ),
    ),
)
_IN_PROGRESS = frozenset({"processing", "queued", "pending", "starting"})  # A11
_FAILED = frozenset({"error", "failed"})
# A `"key": "..."` pair in any echoed JSON or Python repr, whatever the value.
_KEY_PAIR = re.compile(r"""(["']key["']\s*:\s*)(["'])[^"']*\2""")
_KEY_QUERY = re.compile(r"\bkey=[^&\s\"']+")
# The bot's webhook and media URLs carry signed tokens; an echo must not leak them either.
_SIGNED_QUERY = re.compile(r"([?&](?:token|signature|sig)=)[^&\s\"']+")


class _CreateBody(BaseModel):
    """The create request without the key: the key is added at send time so this
    model can be printed or logged without leaking it."""

    model_id: str = MODEL_ID
    init_image: str
    init_video: str
    character_orientation: Orientation
    mode: Mode
    prompt: str | None = None  # A3: left out when empty
    webhook: str | None = None  # A2
    track_id: str  # our job id, echoed in webhooks


class _Answer(BaseModel):
    """What create, fetch and the webhook answer; only the fields we use."""

    model_config = ConfigDict(extra="ignore")

    status: str
    id: int | str | None = None
    output: list[str] = Field(default_factory=list)
    proxy_links: list[str] = Field(default_factory=list)
    eta: float | None = None
    fetch_result: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("eta", mode="before")
    @classmethod
    def _lenient_eta(cls, value: object) -> object:
        # eta is a hint; an odd value must not make a good answer unreadable
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    @field_validator("output", "proxy_links", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value


class ModelsLabProvider(Provider):
    name = "modelslab"
    # Modes, orientations, prompt and the input limits (A5) are the defaults: Kling's own.
    capabilities: ClassVar[Capabilities] = Capabilities(
        keep_sound=False,  # A4
        motion_templates=False,  # no preset motions: init_video is required
        needs_input_urls=True,  # init_image / init_video are URLs only
        can_find_by_job_id=False,  # no lookup by track_id
        can_cancel=False,  # no cancel endpoint
    )

    def __init__(self, http: HttpClient, *, api_key: str, base_url: str) -> None:
        super().__init__(http)
        if not api_key:
            raise ValueError("ModelsLab needs an API key")
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")

    # --- Provider interface ---------------------------------------------------------------
    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        body = self._create_body(submit)
        try:
            response = await self.call(
                "POST",
                self._base_url + CREATE_PATH,
                classify=self._classify_create,
                idempotent=False,
                json={"key": self._api_key, **body.model_dump(exclude_none=True)},
            )
        except ProviderError as err:
            # A timeout may have reached ModelsLab (HttpClient marks it maybe_accepted). There is no
            # lookup by job id, so such a create is never worth retrying: only reconciling.
            if err.maybe_accepted:
                raise err.but(retryable=False) from None
            raise
        try:
            task = self._task_from(self._load(response), stage="create")
        except ProviderError as err:
            # A 200 we cannot follow (no id, odd shape or status): the task may well exist.
            raise err.but(maybe_accepted=True, retryable=False) from None
        log.info("%s: job %s accepted as task %s (%s)", self.name, submit.job_id, task.task_id, task.raw_status)
        return task

    async def get_task(self, task_id: str) -> ProviderTask:
        if not _is_id(task_id):  # A9: ids are integers; anything else would change the URL path
            raise InputRejected(f"not a ModelsLab task id: {task_id!r}")
        response = await self.call(
            "POST",
            self._base_url + FETCH_PATH + task_id,
            classify=self._classify_read,
            idempotent=True,  # a read
            json={"key": self._api_key},
        )
        return self._task_from(self._load(response), stage="read", known_id=task_id)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        # Unsigned (§4.4): authenticity comes from the bot's own per-job callback URL secret.
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InputRejected("modelslab callback: body is not JSON") from None
        if not isinstance(payload, dict):
            raise InputRejected("modelslab callback: body is not a JSON object")
        return self._task_from(payload, stage="callback")

    # --- request -----------------------------------------------------------------------------
    def _create_body(self, submit: SubmitRequest) -> _CreateBody:
        request, options = submit.request, submit.request.options
        return _CreateBody(
            init_image=self.input_url(request.image),
            init_video=self.input_url(self.reference_video(request)),
            character_orientation=options.orientation,
            mode=options.mode,
            prompt=options.prompt or None,
            webhook=submit.callback_url,
            track_id=submit.job_id,
        )

    # --- answers -----------------------------------------------------------------------------
    def _classify_create(self, response: Response) -> ProviderError | None:
        return self.classify(response, stage="create")

    def _classify_read(self, response: Response) -> ProviderError | None:
        return self.classify(response, stage="read")

    def classify(self, response: Response, *, stage: Stage) -> ProviderError | None:
        """Map an HTTP answer to the error it means, or None when the caller should read it.

        On a read, an `error` body that is about the task (not the key or the rate) returns
        None: get_task turns it into a FAILED task (A8).
        """
        payload = response.json_or_none()
        if 200 <= response.status < 300:
            if not isinstance(payload, dict):
                what = "malformed JSON" if payload is None else "a JSON value that is not an object"
                # A 200 to a create may mean the task exists: never an invitation to submit again.
                return Outage(
                    f"{self.name}: {what} (HTTP {response.status}): {self._snippet(response.body)}",
                    http_status=response.status,
                    retryable=stage == "read",
                    maybe_accepted=stage == "create",
                )
            if str(payload.get("status", "")).strip().lower() not in _FAILED:
                return None
            text = self._message(payload)
            kind = _kind_from_text(text)
            if stage == "read" and kind not in (ErrorKind.AUTH, ErrorKind.RATE_LIMIT):
                return None
            return self._error(kind or _default_kind(stage), text, response.status)

        text = self._message(payload) if isinstance(payload, dict) else self._snippet(response.body)
        by_text = _kind_from_text(text)
        status = response.status
        if status in (401, 403):
            kind = ErrorKind.AUTH
        elif status == 402:
            kind = ErrorKind.BALANCE
        elif status == 429:
            kind = ErrorKind.BALANCE if by_text is ErrorKind.BALANCE else ErrorKind.RATE_LIMIT
        elif status >= 500:
            kind = ErrorKind.OUTAGE
        else:
            kind = by_text or _default_kind(stage)
        error = self._error(kind, text or f"HTTP {status}", status)
        if stage == "create" and status >= 500 and status not in NOT_ACCEPTED_STATUSES:
            # A 500 or 504 does not prove the task was not made (no dedupe by track_id): reconcile, never resend.
            return error.but(maybe_accepted=True, retryable=False)
        return error

    def _error(self, kind: ErrorKind, text: str, http_status: int) -> ProviderError:
        # Users can act on content and input refusals, so they get the provider's sentence too.
        detail = text if kind in (ErrorKind.CONTENT_POLICY, ErrorKind.BAD_INPUT) and text else None
        message = f"{self.name}: {text or 'error without a message'}"
        return provider_error(kind, message, http_status=http_status, user_detail=detail)

    def _load(self, response: Response) -> dict[str, Any]:
        payload = response.json_or_none()
        if not isinstance(payload, dict):  # classify already refused these; kept for type safety
            raise Outage(f"{self.name}: unreadable answer", http_status=response.status)
        return payload

    def _task_from(
        self, payload: dict[str, Any], *, stage: Literal["create", "read", "callback"], known_id: str | None = None
    ) -> ProviderTask:
        # A malformed callback is the sender's fault (BAD_INPUT); a malformed API answer is an outage.
        malformed: type[ProviderError] = InputRejected if stage == "callback" else Outage
        try:
            answer = _Answer.model_validate(payload)
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "body"
            raise malformed(f"{self.name}: unexpected answer shape ({fields})", retryable=False) from None
        task_id = known_id or _task_id(answer)
        if task_id is None:
            raise malformed(f"{self.name}: answer ({answer.status}) carries no task id", retryable=False)
        common: dict[str, Any] = {"task_id": task_id, "raw_status": answer.status, "eta_seconds": answer.eta}
        if answer.status == "success":
            url = next(iter(answer.output or answer.proxy_links), None)
            if url:
                return ProviderTask(status=TaskStatus.SUCCEEDED, result_url=url, **common)
            return ProviderTask(status=TaskStatus.PROCESSING, **common)  # A10: files not published yet
        if answer.status in _IN_PROGRESS:
            return ProviderTask(status=TaskStatus.PROCESSING, **common)
        if answer.status in _FAILED:
            text = self._message(payload)
            return ProviderTask(
                status=TaskStatus.FAILED,
                error_kind=_kind_from_text(text) or ErrorKind.UNKNOWN,
                error_message=text or f"task {answer.status} without a message",
                **common,
            )
        raise malformed(f"{self.name}: unknown task status {answer.status!r}", retryable=stage == "read")

    # --- secrets -----------------------------------------------------------------------------
    def _message(self, payload: Mapping[str, Any]) -> str:
        # A6: `messege` is ModelsLab's legacy spelling; `error` is a last resort.
        for field in ("message", "messege", "error"):
            value = payload.get(field)
            if value:
                return self.redact(_flatten(value))
        return ""

    def _snippet(self, body: bytes) -> str:
        # Scrub before cutting, so a key straddling the cut cannot leave a prefix behind.
        text = self.redact(body[:65536].decode("utf-8", "replace"))
        return repr(text[:200])

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def redact(self, text: str, limit: int = 500) -> str:
        """Beyond the key itself, ModelsLab may echo our body back: blank any `key` field or
        query value (even a cut-off one) and our signed URL tokens."""
        text = _KEY_PAIR.sub(r'\1"[key]"', text)
        text = _KEY_QUERY.sub("key=[key]", text)
        text = _SIGNED_QUERY.sub(r"\1[redacted]", text)
        return super().redact(text, limit)



def _flatten(value: Any) -> str:
    # Field-error objects like {"init_image": ["must be a URL"]} become one readable line.
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_flatten(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_flatten(item) for item in value)
    return str(value)


def _kind_from_text(text: str) -> ErrorKind | None:
    for kind, pattern in _MESSAGE_KINDS:
        if pattern.search(text):
            return kind
    return None


def _default_kind(stage: Stage) -> ErrorKind:
    return ErrorKind.BAD_INPUT if stage == "create" else ErrorKind.UNKNOWN


def _task_id(answer: _Answer) -> str | None:
    """A9: the integer id, else the last path part of fetch_result."""
    if answer.id is not None and _is_id(str(answer.id).strip()):
        return str(answer.id).strip()
    if answer.fetch_result:
        last = answer.fetch_result.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if _is_id(last):
            return last
    return None


def _is_id(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None
