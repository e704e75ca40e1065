"""Discord-style rate limit buckets and headers, plus 429s that tests inject.

discord.py reads X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket on
every answer and sleeps pre-emptively when a bucket is empty, so every answer
carries them. A 429 is only treated as a rate limit when it carries a `Via`
header and a JSON body (otherwise discord.py assumes a Cloudflare ban and
raises), so injected 429s carry both, as Discord's do.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Forced429:
    remaining: int
    retry_after: float
    is_global: bool


@dataclass
class Bucket:
    limit: int
    window: float
    hits: deque[float] = field(default_factory=deque)

    def take(self, now: float) -> tuple[bool, int, float]:
        """Count one request; return (allowed, remaining, reset_after)."""
        while self.hits and now - self.hits[0] >= self.window:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return False, 0, self.window - (now - self.hits[0])
        self.hits.append(now)
        return True, self.limit - len(self.hits), self.window - (now - self.hits[0])


class RateLimiter:
    """Buckets keyed by route template ("POST /channels/{channel_id}/messages")
    and major parameter (channel, guild, or webhook id + token), like Discord's."""

    def __init__(self, default_limit: int = 50, default_window: float = 1.0) -> None:
        self.default = (default_limit, default_window)
        self.limits: dict[str, tuple[int, float]] = {}
        self.forced: dict[str, deque[Forced429]] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def configure(self, route: str, limit: int, window: float) -> None:
        self.limits[route] = (limit, window)

    def force(self, route: str, times: int, retry_after: float, is_global: bool) -> None:
        self.forced.setdefault(route, deque()).append(Forced429(times, retry_after, is_global))

    def check(self, route: str, major: str) -> tuple[int, dict[str, str], bytes | None]:
        """Return (status, headers, body): status 0 means "go ahead", else a ready 429."""
        limit, window = self.limits.get(route, self.default)
        bucket_hash = hashlib.sha1(route.encode()).hexdigest()[:16]
        queue = self.forced.get(route)
        if queue:
            forced = queue[0]
            forced.remaining -= 1
            if forced.remaining <= 0:
                queue.popleft()
            return 429, *_too_many(limit, bucket_hash, forced.retry_after, forced.is_global, "user")

        bucket = self._buckets.setdefault((route, major), Bucket(limit, window))
        allowed, remaining, reset_after = bucket.take(time.monotonic())
        if not allowed:  # the client ignored our headers
            return 429, *_too_many(limit, bucket_hash, reset_after, False, "user")
        return 0, _headers(limit, remaining, reset_after, bucket_hash), None


def _headers(limit: int, remaining: int, reset_after: float, bucket_hash: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket_hash,
    }


def _too_many(
    limit: int, bucket_hash: str, retry_after: float, is_global: bool, scope: str
) -> tuple[dict[str, str], bytes]:
    headers = _headers(limit, 0, retry_after, bucket_hash)
    headers.update(
        {
            # Discord rounds the header up to whole seconds; the body has the precise value.
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "X-RateLimit-Scope": "global" if is_global else scope,
            "Via": "1.1 google",
        }
    )
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return headers, json.dumps(body).encode()
