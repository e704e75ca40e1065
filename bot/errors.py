"""The bot's error vocabulary, in one place.

- `Refusal`: we say no before anything is spent; `str(exc)` is the one sentence a member reads.
- `ProviderError` and its subclasses: a provider call failed. The class says what kind of
  failure it is and whether trying again can help; callers match on the class (or `kind`).
- `TransportError`: the HTTP layer could not get an answer; adapters translate it.
- Delivery errors: raised by the side that posts results (Discord, the terminal).

Nothing here imports a provider, the engine or discord, so every layer can use it.
"""

from __future__ import annotations

from typing import ClassVar

from bot.i18n import Text
from bot.models import USER_MESSAGES, ErrorKind


class BotError(Exception):
    """Root of the bot's own exceptions."""


class Refusal(BotError):
    """We say no before anything is spent. str(exc) is the one sentence shown to the user; a
    catalogue Text as the message is rendered in the reader's language."""

    def __init__(self, message: Text | str) -> None:
        super().__init__(message)
        self.message = message


class ProviderUnavailable(BotError):
    """The named provider is unknown or has no credentials: a setting to fix, not a member's mistake."""


class ProviderError(BotError):
    """A provider call failed. The class fixes `kind` and whether a retry can help.

    `message` is the provider's own text (admins, logs, job details); it must never contain
    a credential. `user_message` is the plain sentence for members (a catalogue `Text`;
    `user_detail` is a `Text` of ours or, when it quotes the provider, a plain str). `request_id` is the
    provider's id for the failing request, kept for admins who talk to the provider's support.
    `maybe_accepted` is true when a create call failed in a way that leaves unknown whether
    the provider accepted it (timeout, 500 to a create): never resubmit blindly, look it up.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.UNKNOWN
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        user_detail: str | Text | None = None,
        request_id: str | None = None,
        maybe_accepted: bool = False,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.user_detail = user_detail
        self.request_id = request_id
        self._maybe_accepted = maybe_accepted
        self._retryable = self.default_retryable if retryable is None else retryable

    @property
    def retryable(self) -> bool:
        return self._retryable

    @property
    def maybe_accepted(self) -> bool:
        return self._maybe_accepted

    def but(self, **changes: object) -> ProviderError:
        """A copy of this error with some fields changed (errors are never mutated in place)."""
        fields: dict[str, object] = {
            "code": self.code,
            "http_status": self.http_status,
            "retry_after": self.retry_after,
            "user_detail": self.user_detail,
            "request_id": self.request_id,
            "maybe_accepted": self._maybe_accepted,
            "retryable": self._retryable,
        }
        message = str(changes.pop("message", self.message))
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown error fields: {sorted(unknown)}")
        fields.update(changes)
        return type(self)(message, **fields)  # type: ignore[arg-type]

    @property
    def user_message(self) -> Text:
        """The member's sentence, rendered in their language where it is shown (str() is English)."""
        base = USER_MESSAGES[self.kind]
        return Text("{message} {detail}", message=base, detail=self.user_detail) if self.user_detail else base

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        status = f" HTTP {self.http_status}" if self.http_status else ""
        request = f" (request {self.request_id})" if self.request_id and self.request_id not in self.message else ""
        return f"{self.kind.value}{status}{code}: {self.message}{request}"


class RateLimited(ProviderError):
    """Too many requests or too many tasks at once: wait and try again."""

    kind = ErrorKind.RATE_LIMIT
    default_retryable = True


class Outage(ProviderError):
    """The provider is down, answered 5xx, or timed out."""

    kind = ErrorKind.OUTAGE
    default_retryable = True


class Rejected(ProviderError):
    """The provider refused this request; sending it again (anywhere) gives the same answer."""

    kind = ErrorKind.UNKNOWN


class ContentRejected(Rejected):
    kind = ErrorKind.CONTENT_POLICY


class InputRejected(Rejected):
    kind = ErrorKind.BAD_INPUT


class AuthRejected(Rejected):
    kind = ErrorKind.AUTH


class BalanceRejected(Rejected):
    kind = ErrorKind.BALANCE


class UnknownProviderError(ProviderError):
    """A failure the provider did not explain."""

    kind = ErrorKind.UNKNOWN


ERROR_CLASSES: dict[ErrorKind, type[ProviderError]] = {
    ErrorKind.RATE_LIMIT: RateLimited,
    ErrorKind.OUTAGE: Outage,
    ErrorKind.CONTENT_POLICY: ContentRejected,
    ErrorKind.BAD_INPUT: InputRejected,
    ErrorKind.AUTH: AuthRejected,
    ErrorKind.BALANCE: BalanceRejected,
    ErrorKind.UNKNOWN: UnknownProviderError,
}


def provider_error(kind: ErrorKind, message: str, **fields: object) -> ProviderError:
    """The error class for `kind` (for adapters whose error tables map codes to kinds)."""
    return ERROR_CLASSES[kind](message, **fields)  # type: ignore[arg-type]


class TransportError(BotError):
    """No usable HTTP answer: could not connect, timed out, connection dropped.

    `reached` is False only when the request surely never reached the server (connect
    failure), so even a non-idempotent call may be sent again.
    """

    def __init__(self, message: str, *, reached: bool) -> None:
        super().__init__(message)
        self.message = message
        self.reached = reached


class TooLarge(BotError):
    """A download went past its size cap."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.size = size
        self.limit = limit


class DeliveryTooLarge(BotError):
    """The platform refused the file as too large: post a link instead."""


class DeliveryImpossible(BotError):
    """Nowhere to post (channel deleted, user unreachable): retrying cannot help."""


class JobNotFound(BotError):
    pass


class CallbackRejected(BotError):
    """A provider callback we refuse, with the HTTP status the web layer should answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StoreBusy(BotError):
    """Another process kept the database locked past DB_BUSY_RETRY_SECONDS. Nothing was written;
    the work that needed it is picked up again later (the engine re-spawns jobs without an owner)."""

    def __init__(self, message: str = "the database is busy") -> None:
        super().__init__(message)


class DownloadRefused(UnknownProviderError):
    """A download we will not make or keep: a refused address or scheme, endless redirects, or
    a result whose bytes are not a video. Retrying cannot help, and its URL must not be posted."""

    default_retryable = False
