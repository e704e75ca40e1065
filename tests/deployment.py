"""The app's Downloader as a test deployment builds it: provider base URLs come from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.address_policy import allowed_hosts_from
from bot.downloads import Downloader
from bot.settings import Settings


@asynccontextmanager
async def deployment_downloader(**base_urls: str) -> AsyncIterator[Downloader]:
    """What bot/app.py builds for settings naming these base URLs (e.g. `kling_base_url=` an
    emulator's address): the emulators on 127.0.0.1 are reachable because settings name them."""
    settings = Settings(_env_file=None, **base_urls)  # type: ignore[call-arg]
    async with Downloader.from_settings(settings, allowed_hosts_from(settings, own_base_url="")) as downloader:
        yield downloader
