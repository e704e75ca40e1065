"""Several bot processes on one PostgreSQL database (README "Running at scale"): two real
`python -m bot` processes, shards 0 and 1 of 2, against the Discord stand-in, sharing DATA_DIR.

Interactions from guilds on both shards work; jobs spread over both finish exactly once (one
submit, one post, one charge each); after `kill -9` of one process the other finishes its jobs
once their leases run out; a budget holds when both processes reserve at the same moment.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.discord_standin import StandIn, User
from tests.e2e_helpers import (
    BotProcess,
    Media,
    bot_env,
    make_media,
    wait_for_new_session,
)
from tests.postgres_server import PostgresServer

MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"
TIMEOUT = 120.0  # far above need on a loaded machine; hitting it means a job was lost
pytestmark = pytest.mark.timeout(400)


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@dataclass
class Cluster:
    standin: StandIn
    dsn: str
    media: Media
    members: list[User]
    guilds: dict[int, Any]  # shard -> a guild on it
    processes: list[BotProcess]

    async def states(self) -> Counter[str]:
        return Counter(row["state"] for row in await fetch(self.dsn, "SELECT state FROM jobs"))

    async def wait_all_delivered(self, count: int) -> None:
        async def done() -> bool:
            states = await self.states()
            return states["delivered"] == count and sum(states.values()) == count

        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not await done():
            if asyncio.get_running_loop().time() > deadline:
                logs = "\n".join(p.log()[-3000:] for p in self.processes)
                raise AssertionError(f"not all {count} jobs delivered: {await self.states()}\n{logs}")
            await asyncio.sleep(0.3)

    async def invoke(self, shard: int, member: User, prompt: str) -> Any:
        channel = self.guilds[shard].channel_named("general")
        return await self.standin.invoke("motion", user=member, channel=channel, options=self.media.options(prompt=prompt))

    def posts_per_nonce(self) -> Counter[str]:
        """Result posts the bot made (accepted or not), per job nonce: exactly-once is one each."""
        return Counter(
            str((r.json or {}).get("nonce")) for r in self.standin.requests_to(MESSAGES_ROUTE) if r.status < 400
        )

    def queued_in(self, process: BotProcess) -> set[str]:
        """Ids of the jobs this process took in (from its log)."""
        return set(re.findall(r"job (\w+): \w+ queued for", process.log()))


@pytest_asyncio.fixture
async def cluster(postgres_server: PostgresServer, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    overrides: dict[str, object] = getattr(request, "param", {})
    dsn = postgres_server.new_database()
    async with StandIn(shard_count=2) as standin:
        members = [standin.create_user(f"member{i}") for i in range(4)]
        guilds: dict[int, Any] = {}
        while len(guilds) < 2:  # a guild's shard is (id >> 22) % 2: its creation millisecond decides
            guild = await standin.create_guild(f"Guild{len(standin.guilds)}", channels=["general"], members=members)
            guilds.setdefault((guild.id >> 22) % 2, guild)
            await asyncio.sleep(0.002)
        data_dir = tmp_path / "shared-data"  # one DATA_DIR for both, as a shared volume
        settings: dict[str, object] = {
            "database_url": dsn,
            "shard_count": 2,
            "job_lease_seconds": 3,
            "max_active_jobs_per_user": 100,
            "user_daily_credits": 100_000,
            "simulator_delay_seconds": 0.3,
        } | overrides
        processes = [
            BotProcess(bot_env(standin, data_dir, shard_ids=shard, **settings), tmp_path / f"run{shard}", name=f"bot{shard}")
            for shard in (0, 1)
        ]
        world = Cluster(standin, dsn, make_media(tmp_path / "media"), members, guilds, processes)
        try:
            for process in processes:
                known = {s.id for s in standin.gateway.sessions.values()}
                await process.start()
                await wait_for_new_session(standin, known, timeout=60)
            await standin.wait_until(lambda: standin.synced_commands(), 60, "slash commands synced")
            # discord.py's READY wait: each process takes its guilds before it answers them
            await asyncio.sleep(2.5)
            yield world
        finally:
            for process in processes:
                if process.proc is not None:
                    await process.stop(timeout=15)


async def test_two_processes_split_the_shards_and_finish_50_jobs_exactly_once(cluster: Cluster) -> None:
    sessions = sorted(s.shard for s in cluster.standin.gateway.live_sessions)
    assert sessions == [(0, 2), (1, 2)]
    handles = [
        await cluster.invoke(n % 2, cluster.members[n % len(cluster.members)], f"take {n}") for n in range(50)
    ]
    for handle in handles:  # every interaction answered, whichever shard its guild is on
        first = await handle.first_answer(timeout=30)
        assert first.accepted, first

    await cluster.wait_all_delivered(50)

    rows = await fetch(cluster.dsn, "SELECT id, guild_id, message_id FROM jobs")
    ids = {row["id"] for row in rows}
    # each process took in the commands of its own shard's guild, half each
    took = [cluster.queued_in(p) for p in cluster.processes]
    assert took[0] | took[1] == ids and not took[0] & took[1] and len(took[0]) == len(took[1]) == 25
    for shard, jobs_in in enumerate(took):
        assert {row["guild_id"] for row in rows if row["id"] in jobs_in} == {cluster.guilds[shard].id}
    # one submit, one post, one charge per job
    submits = await fetch(cluster.dsn, "SELECT job_id, COUNT(*) AS n FROM job_events WHERE to_state = 'submitting' GROUP BY job_id")
    assert {row["job_id"]: row["n"] for row in submits} == dict.fromkeys(ids, 1)
    assert cluster.posts_per_nonce() == Counter({f"job-{job_id}": 1 for job_id in ids})
    ledger = Counter((row["job_id"], row["kind"]) for row in await fetch(cluster.dsn, "SELECT job_id, kind FROM ledger"))
    assert ledger == Counter({(job_id, kind): 1 for job_id in ids for kind in ("reserve", "commit")})
    assert not await fetch(cluster.dsn, "SELECT name FROM leases WHERE name LIKE 'job:%'")  # all handed back


@pytest.mark.parametrize("cluster", [{"simulator_delay_seconds": 4}], indirect=True)
async def test_after_kill_9_the_other_process_finishes_the_dead_ones_jobs_once(cluster: Cluster) -> None:
    victim, survivor = cluster.processes
    handles = [await cluster.invoke(n % 2, cluster.members[n % 4], f"take {n}") for n in range(12)]
    for handle in handles:
        assert (await handle.first_answer(timeout=30)).accepted

    async def victims_jobs() -> set[str]:
        rows = await fetch(
            cluster.dsn,
            """SELECT jobs.id FROM jobs JOIN leases ON leases.name = 'job:' || jobs.id
               WHERE leases.holder LIKE $1 AND jobs.state IN ('submitted', 'processing')""",
            f"%:{victim.pid}:%",
        )
        return {row["id"] for row in rows}

    held: set[str] = set()
    for _ in range(200):
        if held := await victims_jobs():
            break
        await asyncio.sleep(0.05)
    assert held, "the first process never had a job at the provider"
    assert await victim.kill() == -9
    assert (await cluster.states())["delivered"] < 12  # killed mid-flight

    await cluster.wait_all_delivered(12)

    ids = {row["id"] for row in await fetch(cluster.dsn, "SELECT id FROM jobs")}
    assert cluster.posts_per_nonce() == Counter({f"job-{job_id}": 1 for job_id in ids})
    ledger = await fetch(cluster.dsn, "SELECT job_id, kind, amount FROM ledger")
    assert Counter((row["job_id"], row["kind"]) for row in ledger) == Counter(
        {(job_id, kind): 1 for job_id in ids for kind in ("reserve", "commit")}
    )
    reserved = sum(row["amount"] for row in ledger if row["kind"] == "reserve")
    assert reserved == sum(row["amount"] for row in ledger if row["kind"] == "commit") > 0
    taken_over = await fetch(
        cluster.dsn, "SELECT COUNT(*) AS n FROM job_events WHERE job_id = ANY($1::text[]) AND to_state = 'delivered'", list(held)
    )
    assert taken_over[0]["n"] == len(held)  # the dead process's jobs, delivered by the survivor
    assert survivor.proc is not None and survivor.proc.returncode is None


@pytest.mark.parametrize("cluster", [{"global_daily_credits": 40}], indirect=True)
async def test_a_budget_holds_when_both_processes_take_requests_at_once(cluster: Cluster) -> None:
    # 24 requests at the same moment, half on each process's shard, against one bot-wide budget
    handles = await asyncio.gather(
        *(cluster.invoke(n % 2, cluster.members[n % 4], f"take {n}") for n in range(24))
    )
    for handle in handles:
        assert (await handle.first_answer(timeout=30)).accepted

    def answered() -> bool:  # every deferral edited: "Queued ..." or a refusal
        return all(h.original is not None and h.original.content for h in handles)

    await cluster.standin.wait_until(answered, 60, "every request answered")
    refused = [h for h in handles if h.original.content.startswith("❌")]
    ledger = await fetch(cluster.dsn, "SELECT kind, amount FROM ledger WHERE kind = 'reserve'")
    price = ledger[0]["amount"]
    assert sum(row["amount"] for row in ledger) <= 40  # never over budget
    assert len(ledger) == 40 // price  # and as many as fit: the refusals were real
    assert len(refused) == 24 - len(ledger) and all("daily spending limit" in h.original.content for h in refused)
    await cluster.wait_all_delivered(len(ledger))
