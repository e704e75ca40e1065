"""Pointing an unmodified discord.py client at the stand-in.

discord.py has no per-client base URL: REST and webhook calls are built from
the class attribute `discord.http.Route.BASE`, and the first gateway connection
goes to `DiscordWebSocket.DEFAULT_GATEWAY` (resumes use READY's
resume_gateway_url, which the stand-in points back at itself). Both are
process-wide, so `connect_client` returns a function that puts them back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.discord_standin.server import StandIn

ClientT = TypeVar("ClientT", bound=discord.Client)


def check_compression() -> None:
    """discord.py picks zstd when `zstandard` or Python 3.14's compression.zstd is importable;
    the stand-in only speaks zlib and would refuse every socket."""
    compression = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    if compression != "zlib-stream":
        raise RuntimeError(f"discord.py wants {compression} gateway compression; the stand-in speaks zlib-stream")


def connect_client(client: discord.Client | None, standin: StandIn) -> Callable[[], None]:
    """Aim discord.py at `standin`; call the result to restore discord.com.

    `client` is accepted for symmetry with `run_client` but the settings are
    global: every client in this process talks to the stand-in afterwards.
    """
    if not standin.base_url:
        raise RuntimeError("start the stand-in before connecting a client to it")
    check_compression()
    restore = restoring_targets()
    Route.BASE = standin.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    return restore


def restoring_targets() -> Callable[[], None]:
    """Remember where discord.py points now; the result puts it back (both are process-wide)."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY

    def restore() -> None:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


@contextlib.asynccontextmanager
async def run_client(client: ClientT, standin: StandIn, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
    """Start `client` against the stand-in, wait for on_ready, and close it on exit.

    Clients become ready `guild_ready_timeout` (2 s by default) after the last
    GUILD_CREATE; pass `guild_ready_timeout=0.1` to the client to keep tests fast.
    """
    restore = connect_client(client, standin)
    try:
        async with started(client, standin.token, timeout=timeout):
            yield client
    finally:
        restore()


@contextlib.asynccontextmanager
async def started(client: ClientT, token: str, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
    """Start a client already aimed somewhere, wait for on_ready, close it on exit."""
    runner = asyncio.create_task(client.start(token), name="standin-client")
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # re-raise why the client stopped (bad token, 4014, a crash in setup_hook, ...)
            raise RuntimeError("the client stopped before it became ready")
        if ready not in done:
            raise TimeoutError(f"the client was not ready after {timeout}s")
        yield client
    finally:
        ready.cancel()
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(runner, 5.0)
