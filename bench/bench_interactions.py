"""How fast does the bot answer a burst of /motion, and how much memory does it take?

Runs `python -m bot` as a real OS process against the Discord stand-in (in this
process), makes N members invoke /motion at the same moment, and reports:

- first answer: seconds from the stand-in dispatching an INTERACTION_CREATE to the bot's
  first callback for it (the deferral) arriving, on the stand-in's clock: median, p99,
  max, and how many the stand-in refused as later than Discord's 3 s rule; next to it,
  how long the stand-in took to send the whole burst (it sends the burst and takes the
  callbacks on one event loop, so part of a first answer is the stand-in still sending);
- all delivered: seconds from the burst until every result was posted (simulator
  provider, so this mostly measures the simulator's renders, not Discord);
- memory: RSS of the bot process from /proc/<pid>/status, VmRSS after start-up (idle)
  and VmHWM (the kernel's peak RSS) after the burst was delivered.

    .venv/bin/python bench/bench_interactions.py                 # 1 (baseline), 50, 100 and 200 members
    .venv/bin/python bench/bench_interactions.py --users 20 --no-delivery
    .venv/bin/python bench/bench_interactions.py --against-bare --users 200 1000 --runs 3

`--against-bare` measures only the first answers, of our bot and of a bare discord.py bot that
only defers (bench/bare_bot.py, the floor), alternately on fresh stand-ins, and reports each
run's median and p99 side by side with their ratio.

This is a measurement, not a test: it asserts nothing and CI does not run it.
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script: the stand-in and helpers live in tests/

from tests.discord_standin import StandIn
from tests.e2e_helpers import (
    BotProcess,
    bot_env,
    jobs,
    make_media,
    wait_for_new_session,
)


@dataclass
class Result:
    users: int
    answered: int  # first answers the stand-in accepted: in time under Discord's 3 s rule
    burst: float  # from the first INTERACTION_CREATE to the last one, as the stand-in sent them
    median: float
    p99: float
    worst: float
    delivered_after: float | None
    idle_rss_mib: float
    peak_rss_mib: float
    burst_cpu: float = 0.0  # CPU seconds the bot process used from the burst to its last first answer


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 50 samples p99 is the largest, as it should be."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat), less sensitive than wall
    time to the other work on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak so far) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise LookupError(f"{field} not in /proc/{pid}/status")


class BareBotProcess(BotProcess):
    """bench/bare_bot.py as its own OS process, started like `python -m bot`."""

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(REPO / "bench" / "bare_bot.py"), cwd=self.workdir, env=env, stdout=log, stderr=log
            )


async def run_once(
    users: int, *, delay: float, deliver: bool, workdir: Path, bare: bool = False, provider_slots: int | None = None
) -> Result:
    media = make_media(workdir / "media")
    async with StandIn() as standin:
        members = [standin.create_user(f"user{i}") for i in range(users)]
        guild = await standin.create_guild("Bench", channels=["general"], members=members)
        general = guild.channel_named("general")
        data_dir = workdir / "data"
        env = bot_env(
            standin,
            data_dir,
            simulator_delay_seconds=delay,
            poll_interval_seconds=0.5,
            poll_max_interval_seconds=2,
            # Measure the bot, not a provider's slot limit (unless told: see against_bare).
            provider_max_concurrency=provider_slots or users,
            log_level="WARNING",
        )
        bot = BareBotProcess(env, workdir / "run") if bare else BotProcess(env, workdir / "run")
        await bot.start()
        try:
            await wait_for_new_session(standin, set())
            await asyncio.sleep(2.5)  # discord.py's guild_ready_timeout, then the bot sits idle
            idle = rss_mib(bot.pid, "VmRSS")
            cpu_before = cpu_seconds(bot.pid)

            started = time.monotonic()
            handles = await asyncio.gather(
                *(standin.invoke("motion", user=m, channel=general, options=media.options()) for m in members)
            )
            firsts = await asyncio.gather(*(h.first_answer(timeout=60) for h in handles))
            elapsed = [s.elapsed for s in firsts]
            burst_cpu = cpu_seconds(bot.pid) - cpu_before
            burst = max(h.created_at for h in handles) - min(h.created_at for h in handles)
            delivered_after = None
            if deliver and not bare:
                await standin.wait_until(
                    lambda: len(standin.channel_messages(general)) >= users, 60 + users * 3, "every result posted"
                )
                delivered_after = time.monotonic() - started
                # The post comes just before its database write; wait for that too so nothing is cut short.
                await standin.wait_until(
                    lambda: all(r["state"] == "delivered" for r in jobs(data_dir)), 30, "every job recorded"
                )
            peak = rss_mib(bot.pid, "VmHWM")
        finally:
            await bot.stop()
        if bot.proc is not None and bot.proc.returncode not in (0, -15):
            print(bot.log()[-3000:], file=sys.stderr)
    return Result(
        users=users,
        answered=sum(s.accepted for s in firsts),
        burst=burst,
        median=statistics.median(elapsed),
        p99=percentile(elapsed, 99),
        worst=max(elapsed),
        delivered_after=delivered_after,
        idle_rss_mib=idle,
        peak_rss_mib=peak,
        burst_cpu=burst_cpu,
    )


def table(results: list[Result]) -> str:
    header = (
        "| members at once | events sent over | deferred in time | first answer median | p99 | max "
        "| all delivered after | bot RSS idle | bot peak RSS |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        delivered = f"{r.delivered_after:.1f} s" if r.delivered_after is not None else "not measured"
        lines.append(
            f"| {r.users} | {r.burst * 1000:.0f} ms | {r.answered}/{r.users} "
            f"| {r.median * 1000:.0f} ms | {r.p99 * 1000:.0f} ms "
            f"| {r.worst * 1000:.0f} ms | {delivered} | {r.idle_rss_mib:.0f} MiB | {r.peak_rss_mib:.0f} MiB |"
        )
    return "\n".join(lines)


def comparison(pairs: list[tuple[int, float, Result, Result]]) -> str:
    lines = [
        "| members at once | run | load avg | ours: in time | median | p99 | CPU | bare bot: in time | median | p99 "
        "| CPU | ratio median | ratio p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, load, ours, bare in pairs:
        lines.append(
            f"| {ours.users} | {run} | {load:.1f} | {ours.answered}/{ours.users} | {ours.median * 1000:.0f} ms "
            f"| {ours.p99 * 1000:.0f} ms | {ours.burst_cpu:.2f} s | {bare.answered}/{bare.users} "
            f"| {bare.median * 1000:.0f} ms | {bare.p99 * 1000:.0f} ms | {bare.burst_cpu:.2f} s "
            f"| {ours.median / bare.median:.2f}× | {ours.p99 / bare.p99:.2f}× |"
        )
    return "\n".join(lines)


async def against_bare(sizes: list[int], runs: int) -> None:
    pairs: list[tuple[int, float, Result, Result]] = []
    for users in sizes:
        for run in range(runs):
            measured: dict[bool, Result] = {}
            # Alternate which goes first, so neither always meets a warmer (or busier) machine.
            for bare in ((False, True) if run % 2 == 0 else (True, False)):
                with tempfile.TemporaryDirectory(prefix="bench-interactions-") as tmp:
                    # One provider slot and a job that lasts the whole run: the simulator renders inside
                    # the bot process (a real provider renders elsewhere), so it makes one video, not
                    # hundreds, while the first answers are measured. The bot's own work stays:
                    # recording, downloading and checking every request, queueing every job.
                    measured[bare] = await run_once(
                        users, delay=600, deliver=False, workdir=Path(tmp), bare=bare, provider_slots=1
                    )
            # The machine's 1-minute load average: other work on a shared machine moves wall times a lot.
            pairs.append((run + 1, os.getloadavg()[0], measured[False], measured[True]))
            print(f"{users} members, run {run + 1}: done", file=sys.stderr)
    print(comparison(pairs))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 50, 100, 200], help="members invoking at once")
    parser.add_argument("--delay", type=float, default=1.0, help="SIMULATOR_DELAY_SECONDS for the bot")
    parser.add_argument("--no-delivery", action="store_true", help="stop after the first answers")
    parser.add_argument("--against-bare", action="store_true", help="first answers of ours vs a bot that only defers")
    parser.add_argument("--runs", type=int, default=3, help="with --against-bare: runs per size")
    args = parser.parse_args()
    if args.against_bare:
        await against_bare(args.users, args.runs)
        return
    results = []
    for users in args.users:
        # A fresh stand-in, database and bot process per size, so runs do not inherit each other's load.
        with tempfile.TemporaryDirectory(prefix="bench-interactions-") as tmp:
            result = await run_once(users, delay=args.delay, deliver=not args.no_delivery, workdir=Path(tmp))
        results.append(result)
        print(f"{users} members: done", file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
