"""GoAPI's errors in our vocabulary: HTTP statuses, body codes and failure wording -> bot.errors.

Split from goapi.py (requests, webhooks and task answers stay there). The rules are
goapi.py's assumptions A2 (an error answer, including one dressed as HTTP 200) and
A5 (moderation wording means content policy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.errors import ProviderError, provider_error
from bot.http import Response
from bot.i18n import Text
from bot.models import ErrorKind

# A5: moderation wording in GoAPI / Kling failure messages.
CONTENT_POLICY_WORDS = re.compile(
    r"polic(y|ies)|risk|sensitive|violat|moderat|nsfw|inappropriate|censor|prohibited",
    re.IGNORECASE,
)
# Failure wording that means the account has no credit left (any HTTP status).
BALANCE_WORDS = re.compile(
    r"(insufficient|not enough|out of)\s+(credit|balance|point|quota|fund)|top.?up", re.IGNORECASE
)
# Failure wording that means the user's input cannot be used; the user can act on it.
NO_PERSON_WORDS = re.compile(r"no (person|human|character|body)|(person|human|character).{0,20}not (found|detected)", re.IGNORECASE)


def classify(response: Response, redact: Callable[[str], str]) -> ProviderError | None:
    """Map an HTTP answer to an error (A2), or None for a success."""
    status = response.status
    body = response.json_or_none()
    code: Any = body.get("code") if isinstance(body, dict) else None
    if 200 <= status < 300:
        if isinstance(code, int) and not isinstance(code, bool) and code not in (0, 200) and code >= 400:
            status = code  # A2: an error dressed as 200
        else:
            return None  # a malformed 2xx body is left to Response.json() -> OUTAGE
    message = redact(body_message(body, response.body)) or f"HTTP {status}"
    code_text = str(code) if code is not None else str(status)

    kind = kind_of_answer(status, message)
    no_person = kind is ErrorKind.BAD_INPUT and NO_PERSON_WORDS.search(message)
    return provider_error(
        kind,
        f"goapi: {message}",
        code=code_text,
        http_status=response.status,
        user_detail=Text("No person was found in the image.") if no_person else None,
    )


def kind_of_answer(status: int, message: str) -> ErrorKind:
    """A2: what an error answer means, from its HTTP status (or body code) and its wording."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 402 or (400 <= status < 500 and BALANCE_WORDS.search(message)):
        return ErrorKind.BALANCE
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if 400 <= status < 500:
        return ErrorKind.CONTENT_POLICY if CONTENT_POLICY_WORDS.search(message) else ErrorKind.BAD_INPUT
    if status >= 500:
        return ErrorKind.OUTAGE
    return ErrorKind.UNKNOWN


def failure_kind(text: str) -> ErrorKind:
    if CONTENT_POLICY_WORDS.search(text):
        return ErrorKind.CONTENT_POLICY
    if BALANCE_WORDS.search(text):
        return ErrorKind.BALANCE
    if NO_PERSON_WORDS.search(text):
        return ErrorKind.BAD_INPUT
    return ErrorKind.UNKNOWN


def body_message(parsed: Any, raw: bytes) -> str:
    if isinstance(parsed, dict):
        for key in ("message", "error", "msg", "detail"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return raw[:200].decode("utf-8", "replace").strip()
