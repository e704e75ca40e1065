"""The one async interface every provider implements.

An adapter turns a `SubmitRequest` into its own wire format and its answers
back into `ProviderTask` (shared task states, error kinds, result URL, cost).
All of a provider's quirks stay inside its own module; docs/providers.md says
what each one does on the wire.

Adapters translate, they do not judge: whether a request's options suit a
provider is decided once, from its `Capabilities`, by bot/options.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from bot.animate.models import AnimateRequest
from bot.downloads import Downloader
from bot.errors import InputRejected, Outage, TransportError
from bot.http import Classifier, HttpClient, Response
from bot.i18n import Text
from bot.limits import KLING_MOTION_LIMITS, MotionLimits
from bot.models import ErrorKind, MediaFile, Mode, MotionRequest, Orientation

# What a member reads when a provider that fetches inputs by URL has none for a file.
NO_INPUT_URL_DETAIL = Text("The bot is not set up to share files with this service yet; an admin has to configure it.")

Model = TypeVar("Model", bound=BaseModel)


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProviderTask(BaseModel):
    """A provider's view of one task, normalised."""

    task_id: str
    status: TaskStatus
    raw_status: str = ""  # the provider's own word, for admins
    result_url: str | None = None
    error_kind: ErrorKind | None = None
    error_code: str | None = None
    error_message: str | None = None  # the provider's text: admins only
    user_detail: str | None = None  # a plain sentence users may see (e.g. "no person found in the image")
    cost: str | None = None  # what the provider says it charged, in its own units
    eta_seconds: float | None = None


class Capabilities(BaseModel, frozen=True):
    """What a provider accepts, as data: media checks and slash options read this."""

    modes: tuple[Mode, ...] = ("std", "pro")
    orientations: tuple[Orientation, ...] = ("image", "video")
    keep_sound: bool = True
    prompt: bool = True
    motion_templates: bool = False  # offers preset motions instead of an uploaded video
    uploaded_video: bool = True
    needs_input_urls: bool = True  # fetches inputs by URL (needs PUBLIC_URL or Discord CDN URLs)
    can_find_by_job_id: bool = False  # can tell, after a crash, whether a job was submitted
    can_cancel: bool = False
    limits: MotionLimits = KLING_MOTION_LIMITS
    animate: bool = False  # the adapter sends image-to-video (/animate) jobs; what they may hold: bot/animate/capabilities.py


class MotionTemplate(BaseModel):
    """A provider's preset motion, offered instead of an uploaded reference video."""

    id: str
    name: str
    seconds: float | None = None


class SubmitRequest(BaseModel):
    job_id: str
    request: MotionRequest | AnimateRequest  # by the job's kind (bot/kinds.py)
    callback_url: str | None = None  # None: no public URL, the bot polls


class Provider(ABC):
    """Base class of every provider adapter."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def secrets(self) -> tuple[str, ...]:
        """The credentials this adapter holds; `redact` keeps them out of any provider text."""
        return ()

    def redact(self, text: str, limit: int = 500) -> str:
        """Provider text bound for admins and logs, without our credentials (providers may echo
        the request back) and cut to `limit` characters. Redact before cutting, so a secret
        straddling the cut cannot leave a prefix behind."""
        for secret in self.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    async def start(self) -> None:
        """Called once when the application starts."""

    async def close(self) -> None:
        """Called once when the application stops."""

    @abstractmethod
    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        """Create the task. Must not create a second task for the same job id."""

    @abstractmethod
    async def get_task(self, task_id: str) -> ProviderTask:
        """Read the task's current state (used by polling)."""

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        """Turn a callback body into a task update; raise InputRejected if malformed
        or if a provider-level secret header does not match."""
        raise InputRejected(f"{self.name} does not send callbacks")

    async def find_task(self, job_id: str) -> ProviderTask | None:
        """After a crash during submit: the task created for this job, or None if there is none.

        Only called when `capabilities.can_find_by_job_id` is true.
        """
        raise NotImplementedError

    async def cancel(self, task_id: str) -> None:
        raise InputRejected(f"{self.name} cannot cancel tasks")

    async def list_motion_templates(self) -> list[MotionTemplate]:
        return []

    async def download(self, url: str, dest: Path, downloader: Downloader) -> int:
        """Fetch the result into `dest` through the app's `downloader` (size cap, address rules,
        video check); return its size. Adapters needing auth override this and pass headers."""
        return await downloader.download_video(url, dest)

    # --- for adapters ------------------------------------------------------------------

    async def call(self, method: str, url: str, *, classify: Classifier, idempotent: bool, **kwargs: Any) -> Response:
        """One HTTP call under the shared retry policy, every failure in the error vocabulary.

        No answer at all is an outage. When the request may have reached the provider and
        the call is not idempotent (a create without a provider-side dedupe), the provider may
        have acted on it: `maybe_accepted`, so the engine reconciles instead of resending.
        """
        try:
            return await self.http.request(
                method, url, provider=self.name, classify=classify, idempotent=idempotent, **kwargs
            )
        except TransportError as failure:
            raise Outage(
                f"{self.name}: {failure.message}", maybe_accepted=failure.reached and not idempotent
            ) from failure

    def callback_body(self, model: type[Model], body: bytes) -> Model:
        """A callback's body read as `model`. Anything else is refused as bad input (the web layer
        answers 400 and the job keeps its state), never a crash. The reason names the first field
        at fault, never its value: bodies may echo secrets."""
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InputRejected(f"{self.name} callback: malformed body ({where}: {first['msg']})") from None

    def input_url(self, media: MediaFile) -> str:
        """Where this provider fetches `media` from. Without a URL (no PUBLIC_URL, and the file
        did not come from Discord) a provider that takes inputs by URL cannot be sent the job."""
        if media.url:
            return media.url
        raise InputRejected(
            f"{self.name} fetches inputs by URL and {media.filename} has none: "
            "set PUBLIC_URL so the bot can serve its inputs",
            user_detail=NO_INPUT_URL_DETAIL,
        )

    def reference_video(self, request: MotionRequest) -> MediaFile:
        """The job's reference video. Intake refuses template jobs for providers without
        templates; this stops one that got here another way instead of dropping its choice."""
        if request.video is not None:
            return request.video
        template = request.options.motion_template
        if template:
            raise InputRejected(f"{self.name}: the job asks for motion template {template!r}, which {self.name} does not offer")
        raise InputRejected(f"{self.name}: the job has neither a reference video nor a motion template")
