"""GoAPI in the provider contract suite (tests/test_provider_contract.py)."""

from __future__ import annotations

from bot.providers.goapi import GoApiProvider
from tests.contract import ProviderCase
from tests.emulators.goapi import API_KEY, GoApiEmulator

WEBHOOK_SECRET = "test-goapi-webhook-secret"

CASE = ProviderCase(
    name="goapi",
    make_emulator=lambda workdir: GoApiEmulator(workdir, api_key=API_KEY),
    make_provider=lambda http, base_url: GoApiProvider(
        http, api_key=API_KEY, base_url=base_url, webhook_secret=WEBHOOK_SECRET
    ),
    # GoAPI accepts the task, then reports moderation as a failed task with error.message.
    content_policy_at="task",
    # No external id: GoAPI cannot dedupe a re-sent create, so a 500 on create is not retried.
    submit_idempotent=False,
    animate=True,  # task_type video_generation (providers.md §2.2)
)
