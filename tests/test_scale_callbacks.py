"""A provider's callback may land on any process: the one that receives it records it, and the
process that works on the job acts on it at once (PostgreSQL's LISTEN/NOTIFY), not at its next
read of the provider. Two cores in this test process stand for two bot processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.store import job_lease
from tests.core_harness import (
    FakeChannel,
    Inputs,
    core_settings,
    free_port,
    open_core,
    reads_only,
    submit,
    wait_state,
)
from tests.postgres_server import PostgresServer


async def test_a_callback_received_by_another_process_reaches_the_owner(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads_only(monkeypatch)  # the engine learns only from callbacks (or reads, a minute away)
    dsn = postgres_server.new_database()
    receiver_port = free_port()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    shared = {
        "database_url": dsn,
        "public_url": receiver_url,  # the "load balancer" sends every callback to the receiver
        "callback_secret": "one-secret-for-every-process",
        "simulator_delay_seconds": 2.0,
        "poll_interval_seconds": 60,
        "poll_max_interval_seconds": 60,
        "callback_fallback_poll_seconds": 60,
    }
    data_dir = tmp_path / "shared-data"
    owner_channel, receiver_channel = FakeChannel(), FakeChannel()
    inputs = Inputs(tmp_path / "inputs")
    async with open_core(core_settings(data_dir, **shared), owner_channel) as owner:
        job = await submit(owner, inputs)
        await wait_state(owner, job.id, "submitted", "processing")
        assert await owner.store.lease_holder(job_lease(job.id)) == owner.store.holder
        async with open_core(core_settings(data_dir, web_port=receiver_port, **shared), receiver_channel) as receiver:
            done = await asyncio.wait_for(owner.engine.wait_for_end(job.id), timeout=30)  # far below the minute's read
            assert done.state.value == "delivered"
            assert [p.job_id for p in owner_channel.posts] == [job.id] and receiver_channel.posts == []
            assert await receiver.store.ledger_for_job(job.id) == [("reserve", 3), ("commit", 3)]
            assert await receiver.store.lease_holder(job_lease(job.id)) is None  # handed back when settled
