"""The one HTTP client every provider uses: a shared session, timeouts, one retry policy.

Retries: connection errors, 5xx and 429, with exponential backoff and jitter, a
bounded number of times. Never a retry on a rejected request (bad input, auth,
balance, content policy), and never a second try of a non-idempotent call (a
submit) when the first may have reached the provider: only when it surely did
not (could not connect, or an answer that says "not accepted", like 429 or 503).

Waits the provider asks for (`retry-after-ms`, or `Retry-After` as seconds or an
HTTP-date) are honoured up to `retry_after_max_sleep`. A longer one is not slept
on: the error is raised with `retry_after` set, and the engine records it as the
job's `not_before`, so no coroutine is held asleep and a restart keeps the time.

Failures below HTTP (could not connect, timed out, connection dropped) raise
`TransportError`; the adapters translate it (`Provider.call`), since only they
know what an unanswered call means for their provider.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.errors import Outage, ProviderError, TransportError

log = logging.getLogger(__name__)

# Answers that mean the request was not acted on, so even a submit may be sent again.
NOT_ACCEPTED_STATUSES = frozenset({429, 502, 503})
# Where a provider's id for one request may stand, most specific first. None of our
# providers documents one in headers; these are the common names (and Cloudflare's
# ray id, which the providers behind Cloudflare can look up).
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "cf-ray")
# A provider asking for more than a day is not believed; the job's own timeout ends it sooner.
RETRY_AFTER_CEILING_SECONDS = 86_400.0
_DELAY_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a malformed body is a provider outage, not a crash."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            # No snippet of the body: some providers echo the request, credentials included.
            raise Outage(
                f"malformed JSON from provider (HTTP {self.status}, {len(self.body)} bytes)",
                http_status=self.status,
                request_id=self.request_id,
            ) from None

    def json_or_none(self) -> Any:
        """The body as JSON, or None when it is not JSON (for classifiers, which read error bodies
        of any shape)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def retry_after(self) -> float | None:
        return retry_after_from(self.headers)

    @property
    def request_id(self) -> str | None:
        return next((self.headers[name] for name in REQUEST_ID_HEADERS if self.headers.get(name)), None)


# An adapter's classifier: None when the answer is a success, else the error it means.
Classifier = Callable[[Response], ProviderError | None]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    None when absent or unreadable (the caller falls back to its own backoff); a date in
    the past is 0. `now` is for tests.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        return _bounded(float(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return _bounded((when - (now or datetime.now(UTC))).total_seconds())


def retry_after_from(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms` (more precise) when readable, else `retry-after`.

    `headers` must have lower-case names, as `Response.headers` has.
    """
    millis = (headers.get("retry-after-ms") or "").strip()
    if _DELAY_SECONDS.fullmatch(millis):
        return _bounded(float(millis) / 1000)
    return parse_retry_after(headers.get("retry-after"), now=now)


def _bounded(seconds: float) -> float | None:
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CEILING_SECONDS)


class HttpClient:
    """Wraps one aiohttp session for the whole process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_seconds: float = 60.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max_sleep: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max_sleep = retry_after_max_sleep
        self._sleep = sleep

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_sleep)
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads retries of many jobs

    async def request(
        self,
        method: str,
        url: str,
        *,
        provider: str,
        classify: Classifier,
        idempotent: bool,
        **kwargs: Any,
    ) -> Response:
        """Send a request under the retry policy; return the success response.

        Raises the classifier's ProviderError (with `retry_after` and `request_id` filled in
        from the headers when it has none), or TransportError when no answer came.
        """
        attempt = 0
        while True:
            try:
                response = await self._send(method, url, kwargs)
            except TransportError as failure:
                # Not connected: nothing reached the provider. Otherwise it may have acted on it.
                if attempt >= self.max_retries or (failure.reached and not idempotent):
                    raise
                reason, delay = failure.message, self.backoff(attempt)
            else:
                error = classify(response)
                if error is None:
                    return response
                error = _with_response_facts(error, response)
                may_retry = error.retryable and (idempotent or response.status in NOT_ACCEPTED_STATUSES)
                if error.retryable and not may_retry:
                    # e.g. a 500 or 504 to a create: the provider may have made the task anyway
                    raise error.but(maybe_accepted=True)
                if not may_retry or attempt >= self.max_retries:
                    raise error
                if error.retry_after is not None and error.retry_after > self.retry_after_max_sleep:
                    raise error  # too long to hold a coroutine: the engine schedules the job instead
                reason, delay = str(error), self.backoff(attempt, error.retry_after)
            log.info("%s: %s; retry %d/%d in %.1fs", provider, reason, attempt + 1, self.max_retries, delay)
            await self._sleep(delay)
            attempt += 1

    async def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> Response:
        try:
            async with self.session.request(method, url, timeout=self.timeout, **kwargs) as resp:
                body = await resp.read()
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            why = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else "connect timed out"
            raise TransportError(f"cannot connect to {urlsplit(url).netloc} ({why})", reached=False) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"connection failed ({type(exc).__name__})"
            raise TransportError(f"{method} {_path(url)} {what}", reached=True) from None


def _path(url: str) -> str:
    # Log the path only: query strings may carry signatures.
    return url.split("?", 1)[0]


def _with_response_facts(error: ProviderError, response: Response) -> ProviderError:
    """Fill in what the headers say and the classifier left out: the wait asked for, the request id."""
    changes: dict[str, object] = {}
    if error.retry_after is None and (retry_after := response.retry_after) is not None:
        changes["retry_after"] = retry_after
    if error.request_id is None and (request_id := response.request_id) is not None:
        changes["request_id"] = request_id
    return error.but(**changes) if changes else error
