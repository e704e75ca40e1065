"""Per-job secrets the bot mints itself: callback and media URL tokens (HMAC-SHA256).

The key comes from CALLBACK_SECRET, or is generated once into DATA_DIR/callback.key
(mode 0600) so tokens stay valid across restarts. It is never stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

_EXPIRY_DIGITS = 12  # a unix time in seconds has 10 digits until the year 2286


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:40]

    def verify(self, token: str | None, purpose: str, *parts: str) -> bool:
        if not token:
            return False
        # constant time, so a forger learns nothing from how long a refusal takes
        return hmac.compare_digest(token.encode(), self.token(purpose, *parts).encode())

    def expiring_token(self, purpose: str, *parts: str, expires_at: int) -> str:
        """`<expiry>.<mac>`: the expiry (unix seconds) is part of the signed message, so changing
        it breaks the mac, and it rides inside the one token, so URLs keep their shape."""
        return f"{expires_at}.{self.token(purpose, *parts, str(expires_at))}"

    def verify_expiring(self, token: str | None, purpose: str, *parts: str, now: float) -> bool:
        """True for an unexpired `expiring_token` minted for exactly these parts."""
        expiry, _, mac = (token or "").partition(".")
        if not (expiry.isdigit() and expiry.isascii() and len(expiry) <= _EXPIRY_DIGITS):
            return False
        # The mac is checked in constant time over the expiry as sent; only then is the time read.
        return self.verify(mac, purpose, *parts, expiry) and int(expiry) > now

    def derive(self, label: str) -> str:
        """A stable secret for a provider-level shared secret (e.g. a webhook header)."""
        return self.token("derive", label)


# A day: far longer than any job may run (JOB_TIMEOUT_MINUTES, 60 by default), so a provider that
# queues a task for hours still fetches its inputs, and long enough that a member opens a result
# link the day it was posted; short enough that a link copied out of the channel soon stops working.
DEFAULT_MEDIA_TTL_SECONDS = 24 * 3600


class Links:
    """The bot's own signed URLs: where providers call back and fetch inputs, and result links.

    Every URL is built and checked here, so the web server and the engine agree on the shape.
    Without a public URL there are no links (providers cannot reach us): the bot polls, and
    inputs go by the URL they came with.

    A media token is a `Signer.expiring_token`: it stops working `media_ttl` seconds after it
    was minted.
    """

    def __init__(
        self,
        signer: Signer,
        public_url: str,
        *,
        media_ttl: float = DEFAULT_MEDIA_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.media_ttl = media_ttl
        self._clock = clock

    def callback_url(self, provider: str, job_id: str) -> str | None:
        if not self.public_url:
            return None
        token = self.signer.token("callback", provider, job_id)
        return f"{self.public_url}/callbacks/{provider}/{job_id}?token={token}"

    def verify_callback(self, token: str | None, provider: str, job_id: str) -> bool:
        return self.signer.verify(token, "callback", provider, job_id)

    def media_url(self, job_id: str, name: str, *, ttl: float | None = None) -> str | None:
        """`ttl`: seconds the link works (a posted result's link lives as long as its file is kept)."""
        if not self.public_url:
            return None
        expires_at = int(self._clock() + ttl) if ttl is not None else None
        return f"{self.public_url}/media/{job_id}/{name}?token={self.media_token(job_id, name, expires_at)}"

    def media_token(self, job_id: str, name: str, expires_at: int | None = None) -> str:
        if expires_at is None:
            expires_at = int(self._clock() + self.media_ttl)
        return self.signer.expiring_token("media", job_id, name, expires_at=expires_at)

    def verify_media(self, token: str | None, job_id: str, name: str) -> bool:
        """True for an unexpired token minted for exactly this job and file."""
        return self.signer.verify_expiring(token, "media", job_id, name, now=self._clock())


def load_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "callback.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # Written aside, then linked into place: processes sharing DATA_DIR that start together all
    # end up with the first one's whole key, never a half-written file.
    draft = data_dir / f".callback.key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:
        key = path.read_bytes().strip()
    finally:
        draft.unlink()
    return key
