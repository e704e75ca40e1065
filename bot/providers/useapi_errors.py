"""useapi.net's errors in our vocabulary: its HTTP answers and Kling's own words -> bot.errors.

Split from useapi.py (the requests and task answers stay there). The rules, per
docs/providers.md §3.6 and useapi.py's Assumptions: 401/403 is AUTH, 402 is BALANCE;
otherwise Kling's `error` text decides (moderation, no person in the image, out of
credits), never `message` ("Service busy" also on moderation); then 429, 5xx, 4xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bot.errors import (
    AuthRejected,
    BalanceRejected,
    InputRejected,
    Outage,
    ProviderError,
    RateLimited,
    UnknownProviderError,
    provider_error,
)
from bot.http import Response
from bot.i18n import Text
from bot.models import ErrorKind

RATE_LIMIT_RETRY_SECONDS = 10.0  # §3.6: "all accounts at capacity — retry after ~10 s"

# Kling's own error codes inside the `error` text, e.g. "(CM_EXT.POther)", "MOTION.PIC_NOT_MATCHED".
_KLING_CODE = re.compile(r"\b[A-Z][A-Z0-9_]*\.[A-Za-z0-9_]+\b")
_MODERATION = re.compile(r"\bCM_EXT\b|community guideline", re.IGNORECASE)
_NO_PERSON = "PIC_NOT_MATCHED"
_NO_CREDIT = re.compile(
    r"\b(insufficient|not enough|out of|no remaining|no more)\s+(kling\s+)?(credit|point|balance)", re.IGNORECASE
)

NO_PERSON_DETAIL = Text(
    "No person was found in the image: use a photo where one person's head and upper or full body are clearly visible."
)


def classify(response: Response, what: str, redact: Callable[[str], str]) -> ProviderError | None:
    """Map a useapi answer to an error, per §3.6; `what` names the call for admins."""
    status = response.status
    if 200 <= status < 300:
        return None
    error_text, message_text, body_code = error_fields(response.body)
    shown = error_text or message_text or "(no error text)"
    if message_text and message_text != error_text:
        shown = f"{shown} [{message_text}]"
    text = redact(f"useapi {what}: {shown}")
    code = kling_code(error_text) or (str(body_code) if body_code is not None else None)

    if status in (401, 403):
        return AuthRejected(text, code=code, http_status=status)
    if status == 402:
        return BalanceRejected(text, code=code, http_status=status)
    # Decided by the `error` text, never `message` ("Service busy" also on moderation).
    kind, detail = kind_from_text(error_text, default=None)
    if kind is not None:
        return provider_error(kind, text, code=code, http_status=status, user_detail=detail)
    if status == 429:
        # All connected Kling accounts are at maxJobs: nothing was created, so even a create may be re-sent.
        retry_after = response.retry_after or RATE_LIMIT_RETRY_SECONDS
        return RateLimited(text, code=code, http_status=status, retry_after=retry_after)
    if status >= 500:
        return Outage(text, code=code, http_status=status)
    if 400 <= status < 500:
        return InputRejected(text, code=code, http_status=status)
    return UnknownProviderError(text, code=code, http_status=status)


def error_fields(body: bytes) -> tuple[str, str, Any]:
    """(`error`, `message`, `code`) of an error body; a non-JSON body becomes the error text."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip(), "", None
    if not isinstance(payload, dict):
        return str(payload)[:200], "", None
    error, message = payload.get("error"), payload.get("message")
    return (
        error if isinstance(error, str) else json.dumps(error) if error is not None else "",
        message if isinstance(message, str) else "",
        payload.get("code"),
    )


def kind_from_text(text: str, *, default: ErrorKind | None) -> tuple[ErrorKind | None, Text | None]:
    """What Kling's own words say went wrong: (kind, sentence for the user)."""
    if _MODERATION.search(text):
        return ErrorKind.CONTENT_POLICY, None
    if _NO_PERSON in text:
        return ErrorKind.BAD_INPUT, NO_PERSON_DETAIL
    if _NO_CREDIT.search(text):
        return ErrorKind.BALANCE, None
    return default, None


def kling_code(text: str) -> str | None:
    codes = _KLING_CODE.findall(text)
    return codes[-1] if codes else None
