"""Provider contract cases: one module per provider (`case_<name>.py`) defining `CASE`.

tests/test_provider_contract.py runs every case through every scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.http import HttpClient
from bot.providers.base import Provider
from tests.emulators.common import Emulator


@dataclass(frozen=True)
class ProviderCase:
    name: str
    # build the emulator (not started) in a work folder
    make_emulator: Callable[[Path], Emulator]
    # build the adapter pointed at the started emulator's base URL
    make_provider: Callable[[HttpClient, str], Provider]
    # where a content-policy refusal shows: as an error at create, or as a failed task later
    content_policy_at: Literal["create", "task"] = "create"
    # whether a create answered 500 may be sent again (the provider dedupes by our job id)
    submit_idempotent: bool = False
    # offers image-to-video (/animate): runs tests/test_provider_contract_animate.py too
    animate: bool = False
