"""Provider calls per job, on a virtual clock: what following a job costs at the provider.

The engine runs with a virtual clock that jumps to the next thing that happens (a callback, or
the end of a wait), so a 30-minute task takes milliseconds and the count is exact. The provider
is `tests/test_provider_calls.py`'s: done `duration` seconds after the create, calling back on
"processing" and on the ending when given a URL (as Kling does). Default timings (.env.example).

Issue 8's goals: with callbacks at most 2 calls per job (5-minute task), polling a 5-minute task
at most 15. Each figure is printed beside its floor: the fewest calls that could ever tell the
bot about the job (with callbacks: the create alone; polling: the create and one read at the end).

    .venv/bin/python bench/bench_provider_calls.py
    .venv/bin/python bench/bench_provider_calls.py --quick      # the 5-minute rows only
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script: the clocked provider lives in tests/

from bot.downloads import Downloader  # noqa: E402
from bot.jobs import EngineConfig, JobEngine  # noqa: E402
from bot.models import JobState, MediaFile, MotionRequest, Requester  # noqa: E402
from bot.pricing import price_for  # noqa: E402
from bot.quotas import QuotaPolicy  # noqa: E402
from bot.signing import Links, Signer  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.test_provider_calls import ClockedProvider, Posts, VirtualClock  # noqa: E402

# (how the bot learns, task length in seconds, goal or None)
CASES = [
    ("callbacks", 300.0, 2),
    ("callbacks, every one lost", 300.0, None),
    ("polling", 300.0, 15),
    ("callbacks", 30.0, None),
    ("polling", 30.0, None),
    ("callbacks", 1800.0, None),
    ("polling", 1800.0, None),
]
FLOOR = {"callbacks": 1, "callbacks, every one lost": 2, "polling": 2}


async def calls_for(root: Path, how: str, duration: float) -> tuple[int, float, JobState]:
    """One job to its end: provider calls, virtual seconds from the create to the end, final state."""
    callbacks = how.startswith("callbacks")
    public_url = "https://bot.example" if callbacks else ""
    clock = VirtualClock()
    provider = ClockedProvider(clock, duration, deliver_callbacks=how == "callbacks")
    store = Store(root / "bot.sqlite3")
    await store.open()
    async with Downloader(allowed_hosts=()) as downloader:  # unused: the result is in memory
        engine = JobEngine(
            store,
            {provider.name: provider},
            QuotaPolicy(user_daily=1000),
            Posts(),
            Links(Signer(b"bench key"), public_url),
            EngineConfig(data_dir=root, public_url=public_url, job_timeout=3 * 3600),
            downloader=downloader,
            sleep=clock.sleep,
            clock=clock.time,
        )
        provider.engine = engine
        await engine.start()
        image = MediaFile(path=root / "image.png", filename="image.png", content_type="image/png", size=1)
        job = await engine.create_job(
            Requester(user_id=1), "motion", MotionRequest(image=image, video=None, video_seconds=5),
            provider.name, price_for("simulator", "std", 5),
        )
        started = clock.now
        done = await engine.wait_for_end(job.id, timeout=60)
        await engine.stop()
    await store.close()
    return len(provider.calls), clock.now - started, done.state


async def main(quick: bool) -> None:
    print("| how the bot learns | task | provider calls | floor | × floor | goal | ended after |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n, (how, duration, goal) in enumerate(CASES):
        if quick and duration != 300.0:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            calls, took, state = await calls_for(Path(tmp) / str(n), how, duration)
        floor = FLOOR[how]
        ended = f"{took:.0f} s" if state is JobState.DELIVERED else state.value
        print(
            f"| {how} | {duration / 60:g} min | {calls} | {floor} | {calls / floor:.1f} | {goal or '–'} | {ended} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 5-minute rows")
    asyncio.run(main(parser.parse_args().quick))
