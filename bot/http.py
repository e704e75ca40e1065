"""The one HTTP client every provider uses: a shared session, timeouts, one retry policy.

Retries: connection errors, 5xx and 429 (honouring Retry-After), with
exponential backoff and jitter, a bounded number of times. Never a retry on a
rejected request (bad input, auth, balance, content policy), and never a
second try of a non-idempotent call (a submit) when the first may have
reached the provider: only when it surely did not (could not connect, or an
answer that says "not accepted", like 429 or 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.errors import ProviderError, provider_error
from bot.models import ErrorKind

log = logging.getLogger(__name__)

# Answers that mean the request was not acted on, so even a submit may be sent again.
NOT_ACCEPTED_STATUSES = frozenset({429, 502, 503})


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a malformed body is a provider outage, not a crash."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            # No snippet of the body: some providers echo the request, credentials included.
            raise provider_error(
                ErrorKind.OUTAGE,
                f"malformed JSON from provider (HTTP {self.status}, {len(self.body)} bytes)",
                http_status=self.status,
            ) from None


# An adapter's classifier: None when the answer is a success, else the error it means.
Classifier = Callable[[Response], ProviderError | None]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max * 4)
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
        """Send a request under the retry policy; return the success response or raise ProviderError."""
        attempt = 0
        while True:
            try:
                async with self.session.request(method, url, timeout=self.timeout, **kwargs) as resp:
                    body = await resp.read()
                    response = Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)
            except aiohttp.ClientConnectorError as exc:
                error = provider_error(ErrorKind.OUTAGE, f"{provider}: cannot connect ({exc.os_error or exc})")
                may_retry = True  # nothing reached the provider
            except (TimeoutError, aiohttp.ClientError) as exc:
                what = "timed out" if isinstance(exc, TimeoutError) else f"connection failed ({type(exc).__name__})"
                error = provider_error(
                    ErrorKind.OUTAGE, f"{provider}: {method} {_path(url)} {what}", maybe_accepted=not idempotent
                )
                may_retry = idempotent  # the provider may have acted on it
            else:
                error = classify(response)
                if error is None:
                    return response
                may_retry = error.retryable and (idempotent or response.status in NOT_ACCEPTED_STATUSES)
                if error.retryable and not may_retry:
                    # e.g. a 500 or 504 to a create: the provider may have made the task anyway
                    error = error.but(maybe_accepted=True)
                if error.retry_after is None:
                    error = error.but(retry_after=parse_retry_after(response.headers.get("retry-after")))
            if not may_retry or attempt >= self.max_retries:
                raise error
            delay = self.backoff(attempt, error.retry_after)
            log.info("%s: %s; retry %d/%d in %.1fs", provider, error, attempt + 1, self.max_retries, delay)
            await self._sleep(delay)
            attempt += 1


def _path(url: str) -> str:
    # Log the path only: query strings may carry signatures.
    return url.split("?", 1)[0]
