"""Acknowledged requests with several processes on one PostgreSQL database: the process that
took a request finishes it; another process finishes it only once that one stopped renewing its
lease (it died), and never while it lives."""

from __future__ import annotations

import asyncio
import time

from bot.pending import PendingRequest, PendingRequests, TokenSealer
from bot.store import Store
from tests.postgres_server import PostgresServer


async def test_a_dead_processs_requests_are_finished_by_another_and_a_live_ones_are_not(
    postgres_server: PostgresServer,
) -> None:
    dsn = postgres_server.new_database()
    first, second = Store(dsn), Store(dsn)
    await first.open()
    await second.open()
    sealer = TokenSealer(b"one secret for every process")
    lease = 0.5
    try:
        alive = PendingRequests(first, sealer, lease_seconds=lease)
        request = PendingRequest(
            interaction_id="42", kind="motion", user_id=7, guild_id=1, channel_id=2, application_id=3,
            token="token-42", created_at=time.time(), payload={"provider": "simulator"},
        )
        await alive.record(request)
        other = PendingRequests(second, sealer, lease_seconds=lease)
        assert await other.due() == []  # fresh, and its process holds the lease
        await asyncio.sleep(lease / 2)
        assert await first.renew_leases(lease) == 1  # the first process is alive: it renews
        assert await other.due() == []
        assert await alive.due() == []  # nor does the first process "recover" what it is doing
        await asyncio.sleep(lease * 1.5)  # the first process died: no renewal, the lease runs out
        [taken] = await other.due()
        assert (taken.interaction_id, taken.token) == ("42", "token-42")
        assert await PendingRequests(first, sealer, lease_seconds=lease).due() == []  # taken: one finisher
        assert await other.settle("42", "answered")
        assert await first.lease_holder("intake:42") is None
    finally:
        await first.close()
        await second.close()
