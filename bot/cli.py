"""`python -m bot motion …`: one job through the same core as /motion, from the terminal.

Exit codes: 0 done (OUT written); 2 the input breaks a limit or the command is
wrong (nothing submitted, nothing charged); 1 the provider failed; 75 the
database was busy (another process held it; nothing was queued), try again.

Terminal jobs an earlier run left unfinished (it gave up after --timeout, or was
killed) are resumed and finished before this run exits, so none is left
half-followed with its credits held.

Every expected error ends the process with one line and its exit code, from one
table (`EXPECTED_ERRORS`, used by `python -m bot` for every command); anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.animate.capabilities import for_provider
from bot.animate.models import AnimateOptions
from bot.app import CoreApp
from bot.errors import ProviderError, ProviderUnavailable, Refusal, StoreBusy
from bot.gate import Asker
from bot.i18n import Renderable, Text
from bot.intake import IncomingFile
from bot.intake_fix import FixOffered
from bot.models import MotionOptions, Requester
from bot.pricing import Price
from bot.quotas import TERMINAL_USER_ID
from bot.settings import Settings, SettingsError
from bot.store import JobRow

EXIT_OK, EXIT_PROVIDER, EXIT_INPUT = 0, 1, 2
EXIT_BUSY = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, try again later
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class UsageError(Exception):
    """The command line or a setting asks for something that cannot work; nothing was started or spent."""


BUSY_LINE = "error: the database is busy (another process holds it); try again"

# Error class -> (its one line, exit code). The most specific class in an error's
# MRO wins, so a subclass can say more than its base.
EXPECTED_ERRORS: dict[type[BaseException], tuple[Callable[[BaseException], str], int]] = {
    SettingsError: (
        lambda exc: f"{exc}\nFix it in .env or the environment (every setting is described in .env.example).",
        EXIT_INPUT,
    ),
    UsageError: (lambda exc: f"error: {exc}", EXIT_INPUT),
    # Past the input checks, an OSError is the machine's: most often WEB_PORT is taken (say, by
    # the running bot) or DATA_DIR cannot be written. A setting to change, not a crash.
    OSError: (lambda exc: f"error: {exc} (check WEB_HOST, WEB_PORT and DATA_DIR)", EXIT_INPUT),
    ProviderUnavailable: (lambda exc: f"error: {exc}", EXIT_INPUT),
    Refusal: (lambda exc: f"refused: {exc}", EXIT_INPUT),
    FixOffered: (
        lambda exc: "\n".join(
            [f"refused: {exc}", *(str(text) for text in exc.offer.explain()), "Run again with --fix to do this."]  # type: ignore[attr-defined]
        ),
        EXIT_INPUT,
    ),
    ProviderError: (lambda exc: f"provider error: {exc}", EXIT_PROVIDER),
    StoreBusy: (lambda exc: BUSY_LINE, EXIT_BUSY),
    KeyboardInterrupt: (lambda exc: "interrupted", EXIT_INTERRUPTED),
}

# SQLite's own codes for "another connection holds the lock" (the low byte of an extended code).
_SQLITE_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The one line and the exit code for an expected error; None for anything else (a bug)."""
    if isinstance(exc, sqlite3.OperationalError) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_BUSY_CODES:
        # The store turns a lock held past its retries into StoreBusy; this catches a lock met
        # where it does not wrap the call (opening the database), with the same words.
        exc = StoreBusy()
    for cls in type(exc).__mro__:
        if cls in EXPECTED_ERRORS:
            text, code = EXPECTED_ERRORS[cls]
            return text(exc), code
    return None


RESUMES = (
    "Terminal jobs an earlier run left unfinished (after --timeout, or a crash) are resumed and "
    "finished by this run before it exits; their videos are saved beside --out as <job id>.mp4. "
    "The exit code is this run's own job's."
)


def add_motion_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "motion",
        help="make one Motion Control video from the terminal and wait for it",
        description="Make one Motion Control video and wait for it. " + RESUMES,
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
        "--fix", action="store_true",
        help="if the clip is too long for its orientation or the image's aspect is out of range, trim the clip "
        "to the limit or pad the image (on a blurred copy of itself) and go on, instead of refusing",
    )
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

    async def progress(self, job: JobRow, text: Text | str) -> None:
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

    async def notify_failure(self, job: JobRow, text: Renderable | str) -> None:
        if self.is_mine(job):
            self.failure = str(text)  # the terminal reads English
        else:
            print(f"[{job.id}] (from an earlier run) failed: {text}", file=sys.stderr)


def earlier_run_output(out: Path, job_id: str) -> Path:
    """Where a resumed job from an earlier run is saved: its --out is not stored, so beside this one."""
    return out.with_name(f"{job_id}.mp4")


def local_file(path: Path) -> IncomingFile:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path} (permission denied)")
    return IncomingFile(
        filename=path.name,
        size=path.stat().st_size,
        content_type=mimetypes.guess_type(path.name)[0],
        path=path,
    )


def needs_public_url(core: CoreApp, settings: Settings, provider: str | None, kind: str = "motion") -> str | None:
    """Why the chosen provider cannot take local files here, if it cannot.

    Terminal inputs have no URL of their own; providers that fetch inputs by URL get
    ours only with PUBLIC_URL. Without it the job would be charged and then fail at submit.
    """
    try:
        name = core.provider(provider)
    except ProviderUnavailable:
        return None  # submit_motion reports an unknown provider with the configured ones
    # Image-to-video says per provider how pictures travel (Kling takes them as base64); the brush's own
    # transport is checked by the plan, with its reason.
    by_url = for_provider(name).inputs_by_url if kind == "animate" else core.providers[name].capabilities.needs_input_urls
    if settings.public_url or not by_url:
        return None
    return (
        f"{name} fetches its inputs by URL: set PUBLIC_URL to an address that reaches this machine's "
        f"WEB_PORT ({settings.web_port}), e.g. http://127.0.0.1:{settings.web_port} for a provider on this machine"
    )


async def run_motion(settings: Settings, args: argparse.Namespace) -> int:
    """One job, start to end. Expected errors propagate to `python -m bot`, which prints their line."""
    notifier = TerminalNotifier(args.out)
    options = MotionOptions(
        orientation=args.orientation,
        mode=args.mode,
        prompt=args.prompt,
        keep_sound=args.keep_sound,
        motion_template=args.template,
    )
    image = local_file(args.image)
    video = local_file(args.video) if args.video else None
    async with terminal_core(settings, notifier, args.provider) as (core, resumed):
        try:
            job, price = await core.submit_motion(TERMINAL_REQUESTER, image, video, options, args.provider)
        except FixOffered as offered:
            if not args.fix:
                raise
            for text in offered.offer.explain():
                print(f"fixing: {text}", file=sys.stderr)
            asker = Asker(user_id=TERMINAL_USER_ID, guild_id=None, channel_id=None, action="motion")
            job, price = await core.accept_fix(offered.offer.offer_id, asker)
        return await wait_and_report(core, notifier, job, price, args, resumed)


TERMINAL_REQUESTER = Requester(user_id=TERMINAL_USER_ID, origin="terminal", upload_limit=2**62)


@asynccontextmanager
async def terminal_core(
    settings: Settings, notifier: TerminalNotifier, provider: str | None, kind: str = "motion"
) -> AsyncIterator[tuple[CoreApp, list[str]]]:
    """The core for one terminal run (motion or animate), with the earlier runs' jobs it resumed."""
    # Port 0: the terminal run must not collide with a running bot, unless providers must call us back.
    async with CoreApp.open(settings, notifier, origin="terminal", web_port=None if settings.public_url else 0) as core:
        if problem := needs_public_url(core, settings, provider, kind):
            raise UsageError(problem)
        yield core, await announce_resumed(core)


async def announce_resumed(core: CoreApp) -> list[str]:
    """Terminal jobs an earlier run left unfinished: the engine has picked them up; this run
    waits for them too before it exits."""
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


def seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


async def wait_and_report(
    core: CoreApp, notifier: TerminalNotifier, job: JobRow, price: Price, args: argparse.Namespace, resumed: list[str]
) -> int:
    """Wait for this run's job and for the jobs it resumed, and say how this run's ended; the exit code."""
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
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


def add_animate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "animate",
        help="bring one picture to life (image-to-video, docs/animate.md) and wait for it",
        description="Bring one picture to life and wait for it. " + RESUMES,
    )
    p.add_argument("--image", required=True, type=Path, help="the picture (jpg/png)")
    p.add_argument("--out", required=True, type=Path, help="where to write the MP4")
    p.add_argument("--end-image", type=Path, help="a picture the video ends on")
    p.add_argument("--prompt", default="")
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--duration", type=int, default=5, help="seconds (5 or 10; more where the model allows)")
    p.add_argument("--mode", choices=("std", "pro"), default="std")
    p.add_argument("--model", help="a model name (default: the first that takes every choice)")
    p.add_argument("--creativity", type=float, help="Kling's cfg_scale, 0-1")
    p.add_argument("--camera", help='a camera move, e.g. "zoom in", "pan left", "down and back"')
    p.add_argument("--camera-strength", type=int, help="1-10, for simple camera moves")
    p.add_argument("--brush", type=Path, help="a motion brush PNG (docs/animate.md)")
    p.add_argument("--paths", help='one path per moving colour, e.g. "green: 120,400 260,300"')
    p.add_argument("--sound", action="store_true")
    p.add_argument("--provider", help="provider name (default: DEFAULT_PROVIDER or the first configured)")
    p.add_argument("--preview", type=Path, help="also write the preview picture here")
    p.add_argument(
        "--timeout", type=float, default=None,
        help="give up waiting after this many seconds (the job goes on; the next run finishes it)",
    )


async def run_animate(settings: Settings, args: argparse.Namespace) -> int:
    """One /animate job from the terminal: plan (and preview), then queue at once and wait."""
    notifier = TerminalNotifier(args.out)
    options = AnimateOptions(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        duration=args.duration,
        mode=args.mode,
        model=args.model,
        creativity=args.creativity,
        camera=args.camera,
        camera_strength=args.camera_strength,
        paths=args.paths,
        sound=args.sound,
    )
    image = local_file(args.image)
    end_image = local_file(args.end_image) if args.end_image else None
    brush = local_file(args.brush) if args.brush else None
    async with terminal_core(settings, notifier, args.provider, "animate") as (core, resumed):
        requester = TERMINAL_REQUESTER
        prepared = await core.prepare_animate(requester, image, options, args.provider, end_image=end_image, brush=brush)
        for note in prepared.notes:
            print(f"note: {note}", file=sys.stderr)
        if args.preview:
            args.preview.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(prepared.preview, args.preview)
            print(f"preview written to {args.preview}", file=sys.stderr)
        job, price = await core.confirm_animate(prepared.pending.job_id, requester.user_id)
        return await wait_and_report(core, notifier, job, price, args, resumed)
