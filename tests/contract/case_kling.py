"""Kling's official API in the provider contract suite."""

from __future__ import annotations

from pathlib import Path

from bot.http import HttpClient
from bot.providers.kling import KlingProvider
from tests.contract import ProviderCase
from tests.emulators.kling import KlingEmulator

# The contract suite's SECRETS list these, so its secrecy test looks for them.
ACCESS_KEY = "test-access-key-AK"
SECRET_KEY = "test-secret-key-SK-0123456789"


def make_emulator(workdir: Path) -> KlingEmulator:
    return KlingEmulator(workdir, access_key=ACCESS_KEY, secret_key=SECRET_KEY)


def make_provider(http: HttpClient, base_url: str) -> KlingProvider:
    return KlingProvider(http, access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=base_url)


CASE = ProviderCase(
    name="kling",
    make_emulator=make_emulator,
    make_provider=make_provider,
    content_policy_at="create",  # HTTP 400 code 1301 at create (§1.7)
    # external_task_id = our job id is unique per account: a resent create is refused
    # as a duplicate and the adapter returns the task that exists, never a second one.
    submit_idempotent=True,
    animate=True,
)
