"""Kling's errors in our vocabulary: business codes, HTTP statuses and failed-task wording -> bot.errors.

Split from kling.py (auth, requests and task answers stay there). Wire reference:
docs/providers.md, "Kling official API"; the assumptions this table rests on (1201 at
create, risk-control wording on failed tasks) are listed in kling.py's docstring.
"""

from __future__ import annotations

from bot.errors import ProviderError, provider_error
from bot.http import Response
from bot.i18n import Text
from bot.models import ErrorKind

USER_DETAIL_MAX_CHARS = 200

# Every documented business code -> what a caller branches on; the error class the
# kind picks says whether the same request may succeed later (rate limits and outages
# may, rejections never). HTTP 429 carries both quota and rate codes, so the code,
# not the status, decides.
ERROR_CODES: dict[int, ErrorKind] = {
    1000: ErrorKind.AUTH,  # authentication failed
    1001: ErrorKind.AUTH,  # Authorization empty
    1002: ErrorKind.AUTH,  # Authorization invalid
    1003: ErrorKind.AUTH,  # token not yet valid: our clock is off
    1004: ErrorKind.AUTH,  # token expired (re-minted once in kling.py's _request)
    1100: ErrorKind.BALANCE,  # account exception
    1101: ErrorKind.BALANCE,  # account in arrears
    1102: ErrorKind.BALANCE,  # resource pack depleted or expired
    1103: ErrorKind.AUTH,  # no access to this API or model
    1200: ErrorKind.BAD_INPUT,  # invalid request parameters
    1201: ErrorKind.BAD_INPUT,  # bad key or value (message says which)
    1202: ErrorKind.BAD_INPUT,  # invalid request method
    1203: ErrorKind.BAD_INPUT,  # resource (e.g. model) not found
    1300: ErrorKind.CONTENT_POLICY,  # platform policy triggered
    1301: ErrorKind.CONTENT_POLICY,  # content security policy triggered
    1302: ErrorKind.RATE_LIMIT,  # request rate too high
    1303: ErrorKind.RATE_LIMIT,  # parallel tasks over the resource pack's limit
    1304: ErrorKind.AUTH,  # IP whitelist policy: access refused until support acts
    5000: ErrorKind.OUTAGE,  # server internal error
    5001: ErrorKind.OUTAGE,  # temporarily unavailable (maintenance)
    5002: ErrorKind.OUTAGE,  # internal timeout (backlog)
}

# Kling's text is worth showing users only where it names what to change in the input.
USER_DETAIL_CODES = frozenset({1201})

# Docs: concurrency over the limit wants a backoff from at least 1 s.
MIN_CONCURRENCY_BACKOFF_SECONDS = 1.0

# Words in a failed task's message that mean moderation refused it (see Assumptions).
CONTENT_POLICY_MARKERS = (
    "risk",
    "content security",
    "policy",
    "sensitive",
    "moderation",
    "inappropriate",
    "violat",
    "nsfw",
    "风控",
    "敏感",
    "违规",
    "审核",
)


def classify(response: Response) -> ProviderError | None:
    """Kling's answer -> None on success, else the ProviderError it means.

    Success is HTTP 2xx with `code` 0. Otherwise the business code decides
    when it is a documented one, the HTTP status when not.
    """
    body = response.json_or_none()
    code = body.get("code") if isinstance(body, dict) else None
    if response.status < 300 and code == 0:
        return None
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    request_id = body.get("request_id") if isinstance(body, dict) else None
    request_id = str(request_id) if request_id else None
    if isinstance(code, int) and code in ERROR_CODES:
        retry_after = response.retry_after
        if code == 1303:
            retry_after = max(retry_after or 0.0, MIN_CONCURRENCY_BACKOFF_SECONDS)
        return provider_error(
            ERROR_CODES[code],
            f"kling: {message or 'error'}" + (f" (request_id {request_id})" if request_id else ""),
            code=str(code),
            http_status=response.status,
            retry_after=retry_after,
            request_id=request_id,
            user_detail=_user_detail(message) if code in USER_DETAIL_CODES else None,
        )
    return _error_from_status(response, code, message, request_id)


def _error_from_status(response: Response, code: object, message: str, request_id: str | None) -> ProviderError:
    """An answer without a documented code: the HTTP status is all we have."""
    status = response.status
    if status < 300:
        # 2xx that is not Kling's envelope: a proxy page or a truncated body, worth a retry.
        kind = ErrorKind.OUTAGE
        message = f"malformed answer: {response.body[:200].decode('utf-8', 'replace')!r}"
    elif status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status >= 500:
        kind = ErrorKind.OUTAGE
    elif status in (401, 403):
        kind = ErrorKind.AUTH
    elif status in (400, 404, 422):
        kind = ErrorKind.BAD_INPUT
    else:
        kind = ErrorKind.UNKNOWN
    return provider_error(
        kind,
        f"kling: HTTP {status}: {message or response.body[:200].decode('utf-8', 'replace')}",
        code=None if code is None else str(code),
        http_status=status,
        request_id=request_id,
    )


def _user_detail(message: str) -> Text | None:
    message = message.strip()
    if not message:
        return None
    if len(message) > USER_DETAIL_MAX_CHARS:
        message = message[: USER_DETAIL_MAX_CHARS - 1] + "…"
    return Text("Kling said: {message}", message=message)


def failure_kind(message: str | None) -> ErrorKind:
    """A failed task has only its message; risk-control wording means content policy."""
    text = (message or "").lower()
    if any(marker in text for marker in CONTENT_POLICY_MARKERS):
        return ErrorKind.CONTENT_POLICY
    return ErrorKind.UNKNOWN
