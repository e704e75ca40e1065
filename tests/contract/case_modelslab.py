"""ModelsLab (v7 Video Fusion motion control) in the provider contract suite."""

from __future__ import annotations

from bot.providers.modelslab import ModelsLabProvider
from tests.contract import ProviderCase
from tests.emulators.modelslab import API_KEY, ModelsLabEmulator

CASE = ProviderCase(
    name="modelslab",
    make_emulator=lambda workdir: ModelsLabEmulator(workdir, api_key=API_KEY),
    make_provider=lambda http, base_url: ModelsLabProvider(http, api_key=API_KEY, base_url=base_url),
    # Moderation shows as a task that ends `error`/`failed` with a message (docs/providers.md §4.2, §5):
    # ModelsLab accepts first and hands the job to Kling, so there is no create-time policy code.
    content_policy_at="task",
    # No dedupe by track_id is documented: a create answered 500 may have made a task.
    submit_idempotent=False,
)
