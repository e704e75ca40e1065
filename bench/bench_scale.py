"""Several processes on PostgreSQL against one on SQLite (issue 12): jobs per minute through the
whole path, and provider callbacks per second recorded.

Part 1, jobs per minute: real `python -m bot` processes against the Discord stand-in (in this
process), simulator provider; N members' /motion at once (half on each shard), timed from the
first command to the last result posted (intake -> simulator render -> delivery). Cases: one
process on SQLite, one on PostgreSQL, two on PostgreSQL (shards 0 and 1 of 2, one DATA_DIR).

Part 2, callbacks per second: the bot's web server and engine (as bench_callbacks.py, a provider
that costs nothing) in one or two server processes over one store of N jobs in flight; a load
generator process POSTs each job's signed "processing" callback, alternating between the servers
(a load balancer), 100 at a time. Every answer must be 200 and every job moved. Besides the wall
rate, the bot processes' CPU per callback (from /proc; PostgreSQL's own CPU is not in it).

PostgreSQL is a throwaway server started here (tests/postgres_server.py), fsync on, commits not
waiting for their own flush (synchronous_commit=off), as SQLite's WAL + synchronous=NORMAL.

    .venv/bin/python bench/bench_scale.py                     # 40 jobs, 3,000 callbacks
    .venv/bin/python bench/bench_scale.py --jobs 20 --callbacks 1000 --quick

A measurement, not a test. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script

import asyncpg  # noqa: E402

from bench.bench_callbacks import Silent, body_for, quiet, run_generator  # noqa: E402
from bench.bench_support import QuietProvider, fill  # noqa: E402
from bot.downloads import Downloader  # noqa: E402
from bot.jobs import EngineConfig, JobEngine  # noqa: E402
from bot.models import JobState  # noqa: E402
from bot.quotas import QuotaPolicy  # noqa: E402
from bot.signing import Links, Signer  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.web import WebConfig, WebServer  # noqa: E402
from tests.discord_standin import StandIn  # noqa: E402
from tests.e2e_helpers import (  # noqa: E402
    BotProcess,
    bot_env,
    free_port,
    make_media,
    query,
    wait_for_new_session,
)
from tests.postgres_server import PostgresServer, find_bin_dir, start_server  # noqa: E402

KEY = b"bench key"


# --- PostgreSQL ---------------------------------------------------------------------------------
@contextmanager
def postgres() -> Iterator[PostgresServer]:
    if find_bin_dir() is None:
        raise SystemExit("PostgreSQL's server programs (initdb, pg_ctl) are needed: apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="pgbench-"))
    os.chmod(base, 0o755)
    yield from start_server(base, durable=True)  # type: ignore[misc]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# --- part 1: jobs per minute through the whole path ----------------------------------------------
async def delivered(url: str, data_dir: Path) -> int:
    if url.startswith("postgresql"):
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'"))
        finally:
            await conn.close()
    path = data_dir / "bot.sqlite3"
    return query(path, "SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")[0][0] if path.exists() else 0


async def jobs_per_minute(url: str, processes: int, jobs: int, delay: float, root: Path) -> float:
    media = make_media(root / "media")
    async with StandIn(shard_count=processes) as standin:
        members = [standin.create_user(f"m{i}") for i in range(10)]
        guilds: dict[int, Any] = {}
        while len(guilds) < processes:
            guild = await standin.create_guild(f"G{len(standin.guilds)}", channels=["general"], members=members)
            guilds.setdefault((guild.id >> 22) % processes, guild)
            await asyncio.sleep(0.002)
        data_dir = root / "data"
        settings: dict[str, object] = {
            "simulator_delay_seconds": delay, "provider_max_concurrency": jobs, "max_active_jobs_per_user": jobs,
            "user_daily_credits": 10**6, "log_level": "WARNING",
        }
        if url.startswith("postgresql"):
            settings["database_url"] = url
        if processes > 1:
            settings["shard_count"] = processes
        bots = [
            BotProcess(
                bot_env(standin, data_dir, **settings, **({"shard_ids": n} if processes > 1 else {})), root / f"run{n}", name=f"bot{n}"
            )
            for n in range(processes)
        ]
        try:
            for bot in bots:
                known = {s.id for s in standin.gateway.sessions.values()}
                await bot.start()
                await wait_for_new_session(standin, known, timeout=60)
            await standin.wait_until(lambda: standin.synced_commands(), 60, "commands synced")
            await asyncio.sleep(3)  # READY after the guilds
            started = time.perf_counter()
            handles = await asyncio.gather(*(
                standin.invoke("motion", user=members[n % 10], channel=guilds[n % processes].channel_named("general"),
                               options=media.options(prompt=f"job {n}"))
                for n in range(jobs)
            ))
            while await delivered(url, data_dir) < jobs:
                if time.perf_counter() - started > 900:
                    raise TimeoutError("jobs not delivered: " + bots[0].log()[-2000:])
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
            assert all(h.answer is not None and h.answer.accepted for h in handles)
        finally:
            for bot in bots:
                if bot.proc is not None:
                    await bot.stop(timeout=20)
    return jobs / elapsed * 60


# --- part 2: callbacks per second -----------------------------------------------------------------
async def serve(url: str, port: int, root: Path) -> None:
    """One server process: the bot's web server and engine over the shared store; "ready" when quiet."""
    base = f"http://127.0.0.1:{port}"
    store = Store(url)
    await store.open()
    provider = QuietProvider()
    async with Downloader(allowed_hosts=[base]) as downloader:
        engine = JobEngine(
            store, {provider.name: provider}, QuotaPolicy(user_daily=10**9), Silent(),
            Links(Signer(KEY), base), EngineConfig(data_dir=root, public_url=base), downloader=downloader,
        )
        web_server = WebServer(engine, {provider.name: provider}, WebConfig(host="127.0.0.1", port=port))
        await web_server.start()
        await engine.start()
        await asyncio.sleep(2)  # the first dispatcher pass gives every job an owner, which reads once
        await quiet()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
        await engine.stop()
        await web_server.stop()
    await store.close()


@asynccontextmanager
async def servers(url: str, count: int, root: Path) -> AsyncIterator[list[tuple[str, int]]]:
    ports = [free_port() for _ in range(count)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", url, "--port", str(port), "--root", str(root),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 600)
            assert line.strip() == b"ready", line
        yield [(f"http://127.0.0.1:{port}", proc.pid) for port, proc in zip(ports, procs, strict=True)]
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            await proc.wait()


async def moved(url: str) -> int:
    store = Store(url)
    await store.open()
    try:
        return len(await store.jobs_in([JobState.PROCESSING]))
    finally:
        await store.close()


async def callbacks_per_second(url: str, processes: int, count: int, root: Path) -> tuple[float, float, str]:
    store = Store(url)
    await store.open()
    try:
        job_ids = await fill(store, root, count, JobState.SUBMITTED, prefix="cb")
    finally:
        await store.close()
    async with servers(url, processes, root) as running:
        links = [Links(Signer(KEY), base) for base, _ in running]
        plan = [
            (links[n % processes].callback_url("bench", job_id) or "", body_for(job_id)) for n, job_id in enumerate(job_ids)
        ]
        before = sum(cpu_seconds(pid) for _, pid in running)
        result = await run_generator(plan, 100, root)
        spent = sum(cpu_seconds(pid) for _, pid in running) - before
    ok = result["statuses"] == {"200": count} and await moved(url) == count
    rate = count / float(result["elapsed"])  # type: ignore[arg-type]
    return rate, 1000 * spent / count, "yes" if ok else f"NO: {result['statuses']}"


# --- the run --------------------------------------------------------------------------------------
async def main(jobs: int, callbacks: int, delay: float) -> None:
    with postgres() as pg, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2)]

        def url_for(kind: str, name: str) -> str:
            return pg.new_database() if kind == "PostgreSQL" else f"sqlite:///{root / name / 'bot.sqlite3'}"

        print(f"{jobs} /motion jobs at once (simulator, {delay:g} s delay), first command to last result posted")
        print()
        print("| database | processes | jobs per minute |")
        print("|---|---:|---:|")
        for n, (kind, processes) in enumerate(cases):
            work = root / f"jobs-{n}"
            (work / "data").mkdir(parents=True)
            url = pg.new_database() if kind == "PostgreSQL" else f"sqlite:///{work / 'data' / 'bot.sqlite3'}"
            rate = await jobs_per_minute(url, processes, jobs, delay, work)
            print(f"| {kind} | {processes} | {rate:.1f} |", flush=True)
        print()
        print(f"{callbacks:,} signed callbacks, 100 at a time, each moving its job, spread over the processes")
        print()
        print("| database | processes | callbacks/s | bot CPU per callback | all 200, all moved |")
        print("|---|---:|---:|---:|---|")
        for n, (kind, processes) in enumerate(cases):
            work = root / f"cb-{n}"
            work.mkdir()
            rate, cpu_ms, ok = await callbacks_per_second(url_for(kind, f"cb-{n}"), processes, callbacks, work)
            print(f"| {kind} | {processes} | {rate:,.0f} | {cpu_ms:.2f} ms | {ok} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--callbacks", type=int, default=3000)
    parser.add_argument("--delay", type=float, default=1.0, help="the simulator's delay per job, seconds")
    parser.add_argument("--quick", action="store_true", help="10 jobs, 500 callbacks: a smoke run")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # a server process of part 2
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port, args.root))
    elif args.quick:
        asyncio.run(main(10, 500, args.delay))
    else:
        asyncio.run(main(args.jobs, args.callbacks, args.delay))
