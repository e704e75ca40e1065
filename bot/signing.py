"""Per-job secrets the bot mints itself: callback and media URL tokens (HMAC-SHA256).

The key comes from CALLBACK_SECRET, or is generated once into DATA_DIR/callback.key
(mode 0600) so tokens stay valid across restarts. It is never stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


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

    def derive(self, label: str) -> str:
        """A stable secret for a provider-level shared secret (e.g. a webhook header)."""
        return self.token("derive", label)


class Links:
    """The bot's own signed URLs: where providers call back and fetch inputs, and result links.

    Every URL is built and checked here, so the web server and the engine agree on the shape.
    Without a public URL there are no links (providers cannot reach us): the bot polls, and
    inputs go by the URL they came with.
    """

    def __init__(self, signer: Signer, public_url: str) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    def callback_url(self, provider: str, job_id: str) -> str | None:
        if not self.public_url:
            return None
        token = self.signer.token("callback", provider, job_id)
        return f"{self.public_url}/callbacks/{provider}/{job_id}?token={token}"

    def verify_callback(self, token: str | None, provider: str, job_id: str) -> bool:
        return self.signer.verify(token, "callback", provider, job_id)

    def media_url(self, job_id: str, name: str) -> str | None:
        if not self.public_url:
            return None
        token = self.signer.token("media", job_id, name)
        return f"{self.public_url}/media/{job_id}/{name}?token={token}"

    def verify_media(self, token: str | None, job_id: str, name: str) -> bool:
        return self.signer.verify(token, "media", job_id, name)


def load_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "callback.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
