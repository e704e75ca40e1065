"""Pytest fixtures for tests that talk to the stand-in. Import them into a test
module (`from tests.discord_standin.fixtures import standin`) so pytest finds them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.discord_standin.server import StandIn


@pytest_asyncio.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A started stand-in; discord.py is pointed at it by `run_client`/`connect_client`."""
    server = StandIn()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
