"""`python -m bot motion …`: one job through the same core as /motion, from the terminal.

Exit codes: 0 done (OUT written); 2 the input breaks a limit or the command is
wrong (nothing submitted, nothing charged); 1 the provider failed.

Terminal jobs an earlier run left unfinished are resumed and finished before
the run exits (not left half-followed with their credits held).
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import shutil
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from bot.app import CoreApp
from bot.errors import ProviderError, ProviderUnavailable, Refusal
from bot.intake import IncomingFile
from bot.models import MotionOptions, Requester
from bot.quotas import TERMINAL_USER_ID
from bot.settings import Settings
from bot.store import JobRow

EXIT_OK, EXIT_PROVIDER, EXIT_INPUT = 0, 1, 2


def add_motion_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "motion",
        help="make one Motion Control video from the terminal and wait for it",
        description=(
            "Make one Motion Control video and wait for it. Terminal jobs an earlier run left unfinished "
            "(after --timeout, or a crash) are resumed and finished by this run before it exits; their "
            "videos are saved beside --out as <job id>.mp4. The exit code is this run's own job's."
        ),
    )
    p.add_argument("--image", required=True, type=Path, help="character image (jpg/png)")
    p.add_argument("--video", type=Path, help="reference motion video (mp4/mov)")
    p.add_argument("--template", help="a provider's motion template instead of --video")
    p.add_argument("--out", required=True, type=Path, help="where to write the MP4")
    p.add_argument("--orientation", choices=("image", "video"), default="video")
    p.add_argument("--mode", choices=("std", "pro"), default="std")
    p.add_argument("--prompt", default="")
    p.add_argument("--keep-sound", action="store_true")
    p.add_argument("--provider", help="provider name (default: DEFAULT_PROVIDER or the first configured)")
    p.add_argument(
        "--timeout", type=float, default=None,
        help="give up waiting after this many seconds (the job goes on; the next run finishes it)",
    )


class TerminalNotifier:
    """Prints progress to stderr; delivery copies this run's result to --out.

    The engine also resumes terminal jobs an earlier run left unfinished (after
    --timeout or a crash). Their results must not land in this run's --out, so
    they are saved next to it as <job id>.mp4, and their failures are not
    reported as this run's.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.job_id: str | None = None  # set once this run's job exists
        self.failure: str | None = None

    def is_mine(self, job: JobRow) -> bool:
        return job.id == self.job_id

    async def progress(self, job: JobRow, text: str) -> None:
        print(f"[{job.id}] {text}", file=sys.stderr)

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        if video is None:
            raise RuntimeError(f"result was not downloaded; it is at {link}")
        dest = self.out if self.is_mine(job) else earlier_run_output(self.out, job.id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, video, dest)
        if dest != self.out:
            print(f"[{job.id}] (from an earlier run) wrote {dest}", file=sys.stderr)
        return None

    async def notify_failure(self, job: JobRow, text: str) -> None:
        if self.is_mine(job):
            self.failure = text
        else:
            print(f"[{job.id}] (from an earlier run) failed: {text}", file=sys.stderr)


def earlier_run_output(out: Path, job_id: str) -> Path:
    """Where a resumed job from an earlier run is saved: its --out is not stored, so beside this one."""
    return out.with_name(f"{job_id}.mp4")


def local_file(path: Path) -> IncomingFile:
    if not path.is_file():
        raise FileNotFoundError(path)
    return IncomingFile(
        filename=path.name,
        size=path.stat().st_size,
        content_type=mimetypes.guess_type(path.name)[0],
        path=path,
    )


def needs_public_url(core: CoreApp, settings: Settings, provider: str | None) -> str | None:
    """Why the chosen provider cannot take local files here, if it cannot.

    Terminal inputs have no URL of their own; providers that fetch inputs by URL get
    ours only with PUBLIC_URL. Without it the job would be charged and then fail at submit.
    """
    try:
        name = core.provider(provider)
    except ProviderUnavailable:
        return None  # submit_motion reports an unknown provider with the configured ones
    if settings.public_url or not core.providers[name].capabilities.needs_input_urls:
        return None
    return (
        f"{name} fetches its inputs by URL: set PUBLIC_URL to an address that reaches this machine's "
        f"WEB_PORT ({settings.web_port}), e.g. http://127.0.0.1:{settings.web_port} for a provider on this machine"
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
    async with AsyncExitStack() as stack:
        try:
            core = await stack.enter_async_context(
                CoreApp.open(settings, notifier, origin="terminal", web_port=None if settings.public_url else 0)
            )
        except ProviderUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except OSError as exc:
            # Most often WEB_PORT is taken (say, by the running bot): a setting to change, not a crash.
            print(f"error: cannot start: {exc} (check WEB_HOST, WEB_PORT and DATA_DIR)", file=sys.stderr)
            return EXIT_INPUT
        if problem := needs_public_url(core, settings, args.provider):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_INPUT
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        resumed = await announce_resumed(core)
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
        notifier.job_id = job.id
        print(f"[{job.id}] queued on {job.provider}, {price.credits} credits ({price.explain()})", file=sys.stderr)
        try:
            job = await core.engine.wait_for_end(job.id, timeout=seconds_left(deadline))
        except TimeoutError:
            # Only a terminal run resumes terminal jobs (the Discord bot resumes its own origin only).
            print(
                f"[{job.id}] still running after {args.timeout} s; the next `python -m bot motion` run "
                f"finishes it and saves it beside that run's --out as {job.id}.mp4",
                file=sys.stderr,
            )
            return EXIT_PROVIDER
        await finish_resumed(core, resumed, deadline)
        if job.state.value == "delivered":
            print(f"[{job.id}] wrote {args.out}", file=sys.stderr)
            return EXIT_OK
        print(f"failed: {notifier.failure or job.error_message} ({job.error_detail})", file=sys.stderr)
        return EXIT_PROVIDER
    raise AssertionError("unreachable")  # every path above returns


def seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


async def announce_resumed(core: CoreApp) -> list[str]:
    """Terminal jobs an earlier run left unfinished (it timed out or was killed). This run
    finishes them too, so none is left half-followed with its credits held."""
    resumed = [job.id for job in await core.engine.unfinished()]
    for job_id in resumed:
        print(f"[{job_id}] left unfinished by an earlier run: finishing it too (saved as {job_id}.mp4)", file=sys.stderr)
    return resumed


async def finish_resumed(core: CoreApp, job_ids: list[str], deadline: float | None) -> None:
    """Wait for what this run resumed (within --timeout); what is still running goes on next time."""
    for job_id in job_ids:
        try:
            await core.engine.wait_for_end(job_id, timeout=seconds_left(deadline))
        except TimeoutError:
            print(f"[{job_id}] (from an earlier run) still running; the next run goes on with it", file=sys.stderr)
