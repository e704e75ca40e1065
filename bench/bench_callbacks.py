"""Signed provider callbacks per second, recorded durably by the bot's web server, against a bare
aiohttp handler on the same route (issue 8's goal: at least half of bare).

The server side runs in this process: the bot's own `WebServer` over a real `JobEngine` and
SQLite store holding N jobs in flight at a provider (their owners napping until a backup read,
as after a submit), or, for the floor, a bare aiohttp app whose handler reads the body and
answers 200. The load generator is a separate OS process (this file with `--generate`): N POSTs,
C at a time over keep-alive connections, each a "processing" report for its own job on the job's
own signed callback URL. Besides callbacks per second, the server's own CPU time per callback is
reported (user + system, every thread of this process): on a shared, loaded machine the wall
rate swings with the neighbours, the CPU cost much less. For the bot every one of them moves a job (submitted -> processing),
and the 200 means the move was committed; a second round repeats them (nothing left to move,
so nothing is written). Floor and bot rounds are taken in turn (the machine's load drifts) and medians reported.

    .venv/bin/python bench/bench_callbacks.py                 # 5,000 POSTs, 100 at a time, 3 rounds
    .venv/bin/python bench/bench_callbacks.py --quick         # 1,000 POSTs, 1 round: a smoke run

A measurement, not a test: it asserts nothing (it does check every answer was 200 and every job
moved, and says so). Linux or macOS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.bench_support import QuietProvider, fill, task_id_for  # noqa: E402
from bot.downloads import Downloader  # noqa: E402
from bot.jobs import EngineConfig, JobEngine  # noqa: E402
from bot.models import JobState  # noqa: E402
from bot.quotas import QuotaPolicy  # noqa: E402
from bot.signing import Links, Signer  # noqa: E402
from bot.store import JobRow, Store  # noqa: E402
from bot.web import WebConfig, WebServer  # noqa: E402


# --- the load generator (its own process) -------------------------------------------------------
async def generate(plan_path: Path, concurrency: int) -> dict[str, object]:
    plan: list[list[str]] = json.loads(plan_path.read_text())
    statuses: dict[int, int] = {}
    pending = iter(plan)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for url, body in pending:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1

        # Open the connections first (a few hundred 404s), so the timing is the steady state.
        origin = plan[0][0].split("/callbacks/", 1)[0]

        async def warm() -> None:
            for _ in range(3):
                async with session.post(f"{origin}/warm-up", data=b"{}") as resp:
                    await resp.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "statuses": statuses, "count": len(plan)}


async def run_generator(plan: list[tuple[str, str]], concurrency: int, workdir: Path) -> dict[str, object]:
    plan_path = workdir / f"plan-{time.monotonic_ns()}.json"
    plan_path.write_text(json.dumps(plan))
    cpu_before = time.process_time()  # this process: the server, and its SQLite threads
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--generate", str(plan_path), "--concurrency", str(concurrency),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    result["server_cpu"] = time.process_time() - cpu_before
    return result


# --- the servers ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_for(job_id: str) -> str:
    return json.dumps({"task_id": task_id_for(job_id), "status": "processing", "raw_status": "processing"})


@asynccontextmanager
async def bare_server() -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post("/callbacks/{provider}/{job_id}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def bot_server(root: Path, count: int) -> AsyncIterator[tuple[JobEngine, QuietProvider, list[str]]]:
    """The bot's web server and engine over a store of `count` jobs in flight (owners napping)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store = Store(root / "bot.sqlite3")
    await store.open()
    job_ids = await fill(store, root, count, JobState.SUBMITTED, prefix="cb")
    provider = QuietProvider()
    async with Downloader(allowed_hosts=[base]) as downloader:
        engine = JobEngine(
            store, {provider.name: provider}, QuotaPolicy(user_daily=10**9), Silent(),
            Links(Signer(b"bench key"), base), EngineConfig(data_dir=root, public_url=base), downloader=downloader,
        )
        web_server = WebServer(engine, {provider.name: provider}, WebConfig(host="127.0.0.1", port=port))
        await web_server.start()
        await engine.start()
        try:
            # The first dispatcher pass gives every job an owner, which reads once (it did not
            # submit the job) and then naps until its backup read: wait for that to be over.
            await until(lambda: provider.reads >= count, timeout=600)
            await quiet()
            yield engine, provider, job_ids
        finally:
            await engine.stop()
            await web_server.stop()
            await store.close()


class Silent:
    async def progress(self, job: JobRow, text: str) -> None:
        pass

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        return None

    async def notify_failure(self, job: JobRow, text: str) -> None:
        pass


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the setup did not settle")
        await asyncio.sleep(0.2)


async def quiet(window: float = 0.5, busy: float = 0.05) -> None:
    """Until this process uses under `busy` of a core over `window`: the setup's writes are done."""
    while True:
        before = time.process_time()
        await asyncio.sleep(window)
        if time.process_time() - before < busy * window:
            return


async def count_in(engine: JobEngine, state: JobState) -> int:
    rows = await engine.store.jobs_in([state])
    return len(rows)


# --- the run ----------------------------------------------------------------------------------
def rate(result: dict[str, object]) -> float:
    return float(result["count"]) / float(result["elapsed"])  # type: ignore[arg-type]


def cpu_ms(result: dict[str, object]) -> float:
    """Server CPU (user + system, all threads) per callback, in milliseconds."""
    return 1000 * float(result["server_cpu"]) / float(result["count"])  # type: ignore[arg-type]


def all_ok(result: dict[str, object]) -> bool:
    return result["statuses"] == {"200": result["count"]}


async def main(count: int, concurrency: int, rounds: int) -> None:
    """Rounds of floor, bot (moving), bot (repeats), each bot round on a fresh store, then a last
    floor: the machine's load drifts, so the figures are medians over rounds taken in turn."""
    rates: dict[str, list[float]] = {"floor": [], "moves": [], "repeats": []}
    cpu: dict[str, list[float]] = {"floor": [], "moves": [], "repeats": []}
    problems: list[str] = []
    extra_reads = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        async def floor() -> None:
            async with bare_server() as base:
                plan = [(f"{base}/callbacks/bench/cb{n:08d}", body_for(f"cb{n:08d}")) for n in range(count)]
                result = await run_generator(plan, concurrency, root)
                rates["floor"].append(rate(result))
                cpu["floor"].append(cpu_ms(result))
                if not all_ok(result):
                    problems.append(f"floor answered {result['statuses']}")

        for n in range(rounds):
            await floor()
            async with bot_server(root / f"bot-{n}", count) as (engine, provider, job_ids):
                plan = [(engine.links.callback_url(provider.name, job_id) or "", body_for(job_id)) for job_id in job_ids]
                reads_before = provider.reads
                for scenario in ("moves", "repeats"):
                    result = await run_generator(plan, concurrency, root)
                    rates[scenario].append(rate(result))
                    cpu[scenario].append(cpu_ms(result))
                    if not all_ok(result):
                        problems.append(f"bot ({scenario}) answered {result['statuses']}")
                moved = await count_in(engine, JobState.PROCESSING)
                if moved != count:
                    problems.append(f"round {n + 1}: only {moved} of {count} jobs moved")
                extra_reads += provider.reads - reads_before
        await floor()

    floor_rate = statistics.median(rates["floor"])
    floor_cpu = statistics.median(cpu["floor"])
    labels = {
        "floor": "floor: bare aiohttp handler, same route",
        "moves": "bot: every callback moves its job (recorded before 200)",
        "repeats": "bot: the same callbacks again (nothing to move)",
    }
    print(f"{count:,} POSTs, {concurrency} at a time, load generator in its own process; "
          f"median of {len(rates['floor'])} floor and {rounds} bot rounds, taken in turn")
    print()
    print("| server | callbacks/s (median) | range | × floor | server CPU per callback | floor ÷ this |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label in labels.items():
        median, spent = statistics.median(rates[key]), statistics.median(cpu[key])
        print(
            f"| {label} | {median:,.0f} | {min(rates[key]):,.0f}–{max(rates[key]):,.0f} | {median / floor_rate:.2f} "
            f"| {spent:.3f} ms | {floor_cpu / spent:.2f} |"
        )
    print()
    print(f"every answer 200 and every job moved: {'yes' if not problems else '; '.join(problems)}")
    print(f"provider reads caused by the callbacks: {extra_reads} (a callback on the job's signed URL needs no confirming read)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 POSTs, one round: a smoke run")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # the load generator's own process
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(asyncio.run(generate(args.generate, args.concurrency))))
    else:
        asyncio.run(main(1000 if args.quick else args.count, args.concurrency, 1 if args.quick else args.rounds))
