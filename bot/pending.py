"""Acknowledged requests survive a crash: recorded at the deferral, finished by a restart.

A member's command is answered "thinking…" (the deferral) before its attachments are fetched and
checked; a crash in between used to leave the member waiting for good. Now the request is
written down when it is acknowledged (who, where, the options and attachment URLs, and the
interaction token, sealed) and settled when it became a job (in the job's own transaction, so
a restart never makes it twice) or got its answer. At start-up every request still pending is
finished while its token lives (Discord keeps a token 15 minutes): checked and queued, or the
member told through the token what happened. Older ones are marked expired and logged.

The token is a credential (it edits the member's message): it is sealed with Fernet
(AES-128-CBC + HMAC-SHA256, from the `cryptography` package) under a key derived (HKDF) from
the bot's signing secret, never stored or logged in clear.

This module is core: it never imports discord. The Discord side (bot/discord_intake.py) says how
each kind of request is finished.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.store import Store

log = logging.getLogger(__name__)

# Discord's interaction tokens live 15 minutes; finish a little before, so the answer never races the expiry.
TOKEN_LIFE_SECONDS = 15 * 60
TOKEN_MARGIN_SECONDS = 60


class TokenSealer:
    """Seals interaction tokens for the database; only a holder of the bot's secret can open them."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"motion-bot intake token v1").derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The token, or None when it was sealed under another key (the secret changed) or altered."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None


@dataclass(frozen=True)
class PendingRequest:
    """One acknowledged request, as a restart needs it to finish the work."""

    interaction_id: str
    kind: str  # "motion", "animate": which finisher takes it
    user_id: int
    guild_id: int | None
    channel_id: int | None
    application_id: int | None
    token: str
    created_at: float
    # What the command had parsed: options, attachments (URL, name, type, size, dimensions), provider, locale...
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def expires_at(self) -> float:
        return self.created_at + TOKEN_LIFE_SECONDS - TOKEN_MARGIN_SECONDS


class PendingRequests:
    """Write down, settle and recover acknowledged requests."""

    def __init__(
        self, store: Store, sealer: TokenSealer, clock: Callable[[], float] = time.time, *, lease_seconds: float = 30.0
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        # Several processes on one database: the process working on a request holds its lease
        # (renewed with its job leases, bot/jobs/engine.py); a dead one's requests are finished by
        # another process once the lease has run out. On SQLite (one process) no lease is written.
        self.lease_seconds = lease_seconds
        self._working: set[str] = set()  # recorded here and not settled yet: never "recovered" here

    async def record(self, request: PendingRequest) -> None:
        if self.store.shared:
            self._working.add(request.interaction_id)
            await self.store.take_lease(intake_lease(request.interaction_id), self.lease_seconds)
        await self.store.record_intake(
            interaction_id=request.interaction_id,
            kind=request.kind,
            user_id=request.user_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            application_id=request.application_id,
            token_sealed=self.sealer.seal(request.token),
            payload=request.payload,
            created_at=request.created_at,
        )

    async def settle(self, interaction_id: str, outcome: str, job_id: str | None = None) -> bool:
        """What became of it ("answered", "refused: ...", "error"); a job's own transaction settles it as "queued"."""
        settled = await self.store.settle_intake(interaction_id, outcome, job_id=job_id)
        self._working.discard(interaction_id)
        if self.store.shared:
            await self.store.release_lease(intake_lease(interaction_id))
        return settled

    async def due(self) -> list[PendingRequest]:
        """The pending requests a restart can still answer; the others are marked expired (and logged)."""
        now = self.clock()
        live: list[PendingRequest] = []
        for row in await self.store.pending_intakes():
            if self.store.shared and (
                row["interaction_id"] in self._working  # this process is working on it right now
                or row["created_at"] > now - self.lease_seconds  # its process may be writing its lease now
                or not await self.store.take_lease(intake_lease(row["interaction_id"]), self.lease_seconds)
            ):
                continue  # a live process works on it
            token = self.sealer.open(row["token_sealed"])
            request = PendingRequest(
                interaction_id=row["interaction_id"],
                kind=row["kind"],
                user_id=row["user_id"],
                guild_id=row["guild_id"],
                channel_id=row["channel_id"],
                application_id=row["application_id"],
                token=token or "",
                created_at=row["created_at"],
                payload=_json(row["payload_json"]),
            )
            if token is None or now >= request.expires_at:
                why = "token expired" if token is not None else "token cannot be opened (secret changed?)"
                log.warning(
                    "acknowledged %s request %s of user %s (%.0f s ago) cannot be answered any more: %s",
                    request.kind, request.interaction_id, request.user_id, now - request.created_at, why,
                )
                await self.store.settle_intake(request.interaction_id, why, state="expired")
                continue
            live.append(request)
        return live


def intake_lease(interaction_id: str) -> str:
    return f"intake:{interaction_id}"


def _json(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
