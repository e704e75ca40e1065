"""Domain vocabulary shared by the core, the providers and the cogs.

Nothing here imports discord: the cogs translate Discord objects into these.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from bot.i18n import Text


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Forward-only order: a transition to a state of lower or equal rank is a no-op.
# The three ends share the top rank with `delivered` so nothing leaves them.
STATE_RANK: dict[JobState, int] = {
    JobState.QUEUED: 0,
    JobState.SUBMITTING: 1,
    JobState.SUBMITTED: 2,
    JobState.PROCESSING: 3,
    JobState.SUCCEEDED: 4,
    JobState.DELIVERED: 5,
    JobState.FAILED: 5,
    JobState.CANCELLED: 5,
    JobState.EXPIRED: 5,
}
IN_FLIGHT = (JobState.SUBMITTED, JobState.PROCESSING)
ENDS = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


class ErrorKind(StrEnum):
    """What went wrong, in terms a caller can branch on."""

    AUTH = "auth"
    BALANCE = "balance"  # provider account out of credits / quota
    RATE_LIMIT = "rate_limit"
    CONTENT_POLICY = "content_policy"
    BAD_INPUT = "bad_input"
    OUTAGE = "outage"  # provider down, 5xx, timeouts
    UNKNOWN = "unknown"


# What a member of the server reads when a job fails for that reason.
USER_MESSAGES: dict[ErrorKind, Text] = {
    ErrorKind.AUTH: Text("The video service refused the bot's credentials. An admin has to fix the provider key."),
    ErrorKind.BALANCE: Text("The video service account is out of credit. An admin has to top it up."),
    ErrorKind.RATE_LIMIT: Text("The video service is busy right now. Please try again in a few minutes."),
    ErrorKind.CONTENT_POLICY: Text("The video service refused this input under its content policy. Try a different image, video or prompt."),
    ErrorKind.BAD_INPUT: Text("The video service could not use this input."),
    ErrorKind.OUTAGE: Text("The video service is having an outage. Please try again later."),
    ErrorKind.UNKNOWN: Text("The video service failed for an unknown reason."),
}



Orientation = Literal["image", "video"]
Mode = Literal["std", "pro"]


class MediaFile(BaseModel):
    """One input file, as kept on local disk, plus where a provider can fetch it."""

    path: Path
    filename: str
    content_type: str
    size: int
    url: str | None = None  # a URL the provider can fetch (Discord CDN or our own server)


class MotionOptions(BaseModel):
    """The user's choices for one Motion Control job (provider-neutral)."""

    orientation: Orientation = "video"
    mode: Mode = "std"
    prompt: str = ""
    keep_sound: bool = False
    motion_template: str | None = None  # a provider's preset motion instead of a video


class MotionRequest(BaseModel):
    """A checked Motion Control request, ready to be priced and queued."""

    image: MediaFile
    video: MediaFile | None  # None only when options.motion_template is set
    options: MotionOptions = Field(default_factory=MotionOptions)
    video_seconds: float  # measured from the bytes; sets the output length and price

    def media_files(self) -> list[MediaFile]:
        """The inputs a provider may fetch by URL (the engine gives them our signed URLs)."""
        return [media for media in (self.image, self.video) if media is not None]


class Requester(BaseModel):
    """Who asked, and where the result goes."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    origin: Literal["discord", "terminal"] = "discord"
    upload_limit: int = 10 * 1024 * 1024  # bytes Discord accepts for this guild
    # The acknowledged request (bot/pending.py) this job settles, in the job's own transaction.
    intake_id: str | None = None
    role_ids: tuple[int, ...] = ()  # the member's roles in the guild: their allowance depends on them
    # A challenge entry the server pays for: the job stays the member's, the credits come from the
    # server's budget only (reserved as user 0, like the terminal's operators: no member allowance).
    charge_server: bool = False

    @property
    def payer_id(self) -> int:
        """Whose allowance the reservation is written against."""
        return 0 if self.charge_server else self.user_id


class Lineage(BaseModel):
    """Where a new job comes from (a remix of a result, a retry of a failed job) and which message
    its result answers: written with the job, in the same transaction."""

    parent_job_id: str | None = None
    relation: str = "remix"  # "remix", "retry", "challenge", ...
    reply_channel_id: int | None = None
    reply_to_message_id: int | None = None
