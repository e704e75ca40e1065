"""Peak memory of the bot's core: relaying a 100 MB result, and tracking many jobs.

1. Relaying a result: the app's Downloader brings a 100 MB MP4 (a short clip padded with an MP4
   `free` box, so it is a valid video of that size) into a job folder, checks it is a video, and
   the file is then uploaded as discord.py uploads an attachment (aiohttp multipart from the open
   file). The files are served, and the upload received, by a separate process, so only the
   relaying side is measured. Floor, in the same run and process shape: a bare aiohttp streaming
   copy of the same file to disk and the same upload. Figure: the peak RSS (VmHWM, reset just
   before the relay) above the process's idle RSS. Goal (issue 8): under 16 MB above idle.
2. Tracking jobs: a store with 10,000 delivered and 1,000 in-flight jobs (500 members), opened by
   the engine and web server as after a restart: every in-flight job gets its owner, which reads
   once and then waits for its provider's callback. Floor: the same process with an empty store.
   Figures: RSS once every owner waits, and the peak. Goal (issue 8): under 200 MB.

Each case runs in a fresh Python process (this file with `--child`), so peaks do not carry over.

    .venv/bin/python bench/bench_memory.py
    .venv/bin/python bench/bench_memory.py --quick    # 20 MB result, 1,000 + 100 jobs

Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script

from bench.bench_support import emit, reset_peak, rss_mib  # noqa: E402

MB = 1_000_000


# --- the file server and upload sink (its own process) -----------------------------------------
async def serve(folder: Path, port: int) -> None:
    from aiohttp import web

    async def sink(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"received": size})

    app = web.Application()
    app.router.add_static("/files", folder)
    app.router.add_post("/upload", sink)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# --- the measured processes ---------------------------------------------------------------------
async def relay(mode: str, base: str, name: str, workdir: Path) -> dict[str, float]:
    import aiohttp

    from bot.downloads import Downloader

    dest = workdir / "jobs" / "j1" / "result.mp4"
    dest.parent.mkdir(parents=True)
    async with aiohttp.ClientSession() as uploads, Downloader(allowed_hosts=[base], max_retries=0) as downloader:
        # Warm up both paths with the small file, so imports and first-use allocations are idle.
        await downloader.download_video(f"{base}/files/small.mp4", workdir / "warm.mp4")
        await upload(uploads, base, workdir / "warm.mp4")
        idle, _ = rss_mib()
        reset_peak()
        started = time.perf_counter()
        if mode == "bot":
            await downloader.download_video(f"{base}/files/{name}", dest)
        else:  # floor: a bare streaming copy
            async with uploads.get(f"{base}/files/{name}") as resp:
                with dest.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(256 * 1024):
                        out.write(chunk)
        received = await upload(uploads, base, dest)
        elapsed = time.perf_counter() - started
    _, peak = rss_mib()
    return {"idle": idle, "peak": peak, "size": dest.stat().st_size, "received": received, "elapsed": elapsed}


async def upload(session: object, base: str, path: Path) -> int:
    """As discord.py sends a file: multipart form data, the part streamed from the open file."""
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    with path.open("rb") as fp:
        form = aiohttp.FormData()
        form.add_field("payload_json", "{}", content_type="application/json")
        form.add_field("files[0]", fp, filename="result.mp4", content_type="application/octet-stream")
        async with session.post(f"{base}/upload", data=form) as resp:
            return int((await resp.json())["received"])


async def track(db: Path, workdir: Path, active: int) -> dict[str, float]:
    from bench.bench_callbacks import Silent, free_port, quiet, until
    from bench.bench_support import QuietProvider
    from bot.downloads import Downloader
    from bot.jobs import EngineConfig, JobEngine
    from bot.quotas import QuotaPolicy
    from bot.signing import Links, Signer
    from bot.store import Store
    from bot.web import WebConfig, WebServer

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store = Store(db)
    await store.open()
    provider = QuietProvider()
    async with Downloader(allowed_hosts=[base]) as downloader:
        engine = JobEngine(
            store, {provider.name: provider}, QuotaPolicy(user_daily=10**9), Silent(),
            Links(Signer(b"bench key"), base), EngineConfig(data_dir=workdir, public_url=base), downloader=downloader,
        )
        web_server = WebServer(engine, {provider.name: provider}, WebConfig(host="127.0.0.1", port=port))
        await web_server.start()
        await engine.start()
        await until(lambda: provider.reads >= active, timeout=600)
        await quiet()  # every owner is now waiting for its callback
        now, peak = rss_mib()
        owners = len(engine._owners)  # noqa: SLF001  # a measurement may look inside
        await engine.stop()
        await web_server.stop()
    await store.close()
    return {"rss": now, "peak": peak, "owners": owners}


def child(args: argparse.Namespace) -> None:
    if args.child == "relay":
        emit(asyncio.run(relay(args.mode, args.base, args.name, Path(args.workdir))))
    elif args.child == "track":
        emit(asyncio.run(track(Path(args.db), Path(args.workdir), args.active)))
    elif args.child == "serve":
        asyncio.run(serve(Path(args.workdir), args.port))


def run_child(*argv: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the run ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relay_part(root: Path, result_mb: int) -> None:
    from tests.media_factory import make_video

    files = root / "files"
    files.mkdir()
    make_video(files / "small.mp4", 360, 640, seconds=1.0)
    make_video(files / "result.mp4", 720, 1280, seconds=5.0, fps=24, pad_to=result_mb * MB)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--child", "serve", "--workdir", str(files), "--port", str(port)])
    try:
        time.sleep(2.0)  # let it listen
        base = f"http://127.0.0.1:{port}"
        rows = []
        for mode in ("floor", "bot", "floor"):
            workdir = root / f"relay-{len(rows)}"
            workdir.mkdir()
            result = run_child("--child", "relay", "--mode", mode, "--base", base, "--name", "result.mp4", "--workdir", str(workdir))
            rows.append((mode, result))
    finally:
        server.terminate()
        server.wait()
    floor_deltas = [r["peak"] - r["idle"] for mode, r in rows if mode == "floor"]
    floor = sum(floor_deltas) / len(floor_deltas)
    print(f"### Relaying a {result_mb} MB result (download, video check, upload as discord.py does)")
    print()
    print("| process | idle RSS | peak RSS | peak above idle | × floor | relayed | time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, r in rows:
        delta = r["peak"] - r["idle"]
        label = "bot: the app's Downloader" if mode == "bot" else "floor: bare aiohttp streaming copy"
        print(
            f"| {label} | {r['idle']:.1f} MiB | {r['peak']:.1f} MiB | {delta:.1f} MiB | {delta / max(floor, 0.1):.2f} "
            f"| {r['received'] / MB:.0f} MB | {r['elapsed']:.2f} s |"
        )
    print()


def track_part(root: Path, finished: int, active: int) -> None:
    from bench.bench_support import fill
    from bot.models import JobState
    from bot.store import Store

    async def build(db: Path, filled: bool) -> None:
        store = Store(db)
        await store.open()
        if filled:
            await fill(store, root, finished, JobState.DELIVERED, prefix="done")
            await fill(store, root, active, JobState.SUBMITTED, prefix="live")
        await store.close()

    rows = []
    for label, count in (("floor: empty store", 0), (f"{finished:,} delivered + {active:,} in flight", finished)):
        db = root / f"store-{count}" / "bot.sqlite3"
        asyncio.run(build(db, filled=count > 0))
        expected = active if count else 0
        result = run_child("--child", "track", "--db", str(db), "--workdir", str(db.parent), "--active", str(expected))
        rows.append((label, result, db.stat().st_size))
    floor = rows[0][1]["rss"]
    print("### Tracking jobs (engine + web server over the store, every in-flight job with its owner)")
    print()
    print("| store | database | RSS, owners waiting | above the floor | peak RSS | owners |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r, size in rows:
        print(
            f"| {label} | {size / MB:.1f} MB | {r['rss']:.1f} MiB | {r['rss'] - floor:+.1f} MiB | {r['peak']:.1f} MiB "
            f"| {r['owners']:.0f} |"
        )
    print()


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        relay_part(root, 20 if quick else 100)
        track_part(root, 1_000 if quick else 10_000, 100 if quick else 1_000)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 20 MB result, 1,000 + 100 jobs: a smoke run")
    parser.add_argument("--child", choices=("relay", "track", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bot", help=argparse.SUPPRESS)
    parser.add_argument("--base", default="", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--db", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--active", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        main(args.quick)
