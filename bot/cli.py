"""`python -m bot motion …`: one job through the same core as /motion, from the terminal.

Exit codes: 0 done (OUT written); 2 the input breaks a limit or the command is
wrong (nothing submitted, nothing charged); 1 the provider failed.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import shutil
import sys
from pathlib import Path

from bot.app import CoreApp
from bot.intake import IncomingFile, Refusal
from bot.models import MotionOptions, Requester
from bot.providers.base import ProviderError, ProviderUnavailable
from bot.quotas import TERMINAL_USER_ID
from bot.settings import Settings
from bot.store import JobRow

EXIT_OK, EXIT_PROVIDER, EXIT_INPUT = 0, 1, 2


def add_motion_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("motion", help="make one Motion Control video from the terminal and wait for it")
    p.add_argument("--image", required=True, type=Path, help="character image (jpg/png)")
    p.add_argument("--video", type=Path, help="reference motion video (mp4/mov)")
    p.add_argument("--template", help="a provider's motion template instead of --video")
    p.add_argument("--out", required=True, type=Path, help="where to write the MP4")
    p.add_argument("--orientation", choices=("image", "video"), default="video")
    p.add_argument("--mode", choices=("std", "pro"), default="std")
    p.add_argument("--prompt", default="")
    p.add_argument("--keep-sound", action="store_true")
    p.add_argument("--provider", help="provider name (default: DEFAULT_PROVIDER or the first configured)")
    p.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")


class TerminalNotifier:
    """Prints progress to stderr; delivery copies the result to --out."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.failure: str | None = None

    async def progress(self, job: JobRow, text: str) -> None:
        print(f"[{job.id}] {text}", file=sys.stderr)

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        if video is None:
            raise RuntimeError(f"result was not downloaded; it is at {link}")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, video, self.out)
        return None

    async def notify_failure(self, job: JobRow, text: str) -> None:
        self.failure = text


def local_file(path: Path) -> IncomingFile:
    if not path.is_file():
        raise FileNotFoundError(path)
    return IncomingFile(
        filename=path.name,
        size=path.stat().st_size,
        content_type=mimetypes.guess_type(path.name)[0],
        path=path,
    )


async def run_motion(settings: Settings, args: argparse.Namespace) -> int:
    notifier = TerminalNotifier(args.out)
    options = MotionOptions(
        orientation=args.orientation,
        mode=args.mode,
        prompt=args.prompt,
        keep_sound=args.keep_sound,
        motion_template=args.template,
    )
    try:
        image = local_file(args.image)
        video = local_file(args.video) if args.video else None
    except FileNotFoundError as exc:
        print(f"error: no such file: {exc}", file=sys.stderr)
        return EXIT_INPUT
    # Port 0: the terminal run must not collide with a running bot, unless providers must call us back.
    core = CoreApp(settings, notifier, origin="terminal", web_port=None if settings.public_url else 0)
    try:
        await core.start()
    except ProviderUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        requester = Requester(user_id=TERMINAL_USER_ID, origin="terminal", upload_limit=2**62)
        try:
            job, price = await core.submit_motion(requester, image, video, options, args.provider)
        except Refusal as refusal:
            print(f"refused: {refusal}", file=sys.stderr)
            return EXIT_INPUT
        except ProviderUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except ProviderError as exc:
            print(f"provider error: {exc}", file=sys.stderr)
            return EXIT_PROVIDER
        print(f"[{job.id}] queued on {job.provider}, {price.credits} credits ({price.explain()})", file=sys.stderr)
        try:
            job = await core.engine.wait_for_end(job.id, timeout=args.timeout)
        except TimeoutError:
            print(f"[{job.id}] still running after {args.timeout} s; the bot will finish it", file=sys.stderr)
            return EXIT_PROVIDER
        if job.state.value == "delivered":
            print(f"[{job.id}] wrote {args.out}", file=sys.stderr)
            return EXIT_OK
        print(f"failed: {notifier.failure or job.error_message} ({job.error_detail})", file=sys.stderr)
        return EXIT_PROVIDER
    finally:
        await core.stop()
