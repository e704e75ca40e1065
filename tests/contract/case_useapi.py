"""useapi.net Kling v1 against its emulator (tests/emulators/useapi.py)."""

from __future__ import annotations

from bot.providers.useapi import UseApiProvider
from tests.contract import ProviderCase
from tests.emulators.useapi import PREFIX, TOKEN, UseApiEmulator

CASE = ProviderCase(
    name="useapi",
    make_emulator=lambda workdir: UseApiEmulator(workdir, token=TOKEN),
    # the emulator serves under /v1/kling like the real host, so base-path joining is tested too
    make_provider=lambda http, base_url: UseApiProvider(http, token=TOKEN, base_url=base_url + PREFIX),
    # Kling's moderation answers the create with HTTP 500 and a CM_EXT code (docs/providers.md §3.6)
    content_policy_at="create",
    # no idempotency key: a create answered 500 may have started a task, so it is never re-sent
    submit_idempotent=False,
    animate=True,  # POST /videos/image2video-frames (providers.md §3.3): end frames, no brush or camera
)
