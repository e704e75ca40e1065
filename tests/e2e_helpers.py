"""Helpers for the end-to-end tests and the interaction benchmark: OUR bot, built the way
`python -m bot` builds it, against the Discord stand-in.

In-process: `running_bot` does what `bot.discord_bot.run_bot` does (point_discord_at
from the one DISCORD_API_BASE_URL setting, then MotionBot), without the test helper
`connect_client`, so the bot's own redirection (REST base + GET /gateway/bot) is what
is exercised. As a real OS process: `BotProcess` runs `python -m bot` with a clean
environment in a temporary working directory (no stray .env).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.discord_bot import MotionBot, point_discord_at
from bot.settings import Settings
from tests.discord_standin import (
    Channel,
    InteractionHandle,
    Message,
    StandIn,
    Upload,
    User,
)
from tests.discord_standin.connect import check_compression, restoring_targets, started
from tests.media_factory import make_image, make_video

REPO = Path(__file__).resolve().parents[1]
# Every setting the bot reads: none may leak from the parent's environment into a child bot.
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Media:
    """Tiny, valid inputs: a 512x768 PNG and a 360x640, 3 s, 10 fps MP4 (made, never stored)."""

    image: Path
    video: Path

    def options(self, **extra: Any) -> dict[str, Any]:
        """/motion options as a member fills them in. Type and size are given as Discord reports
        them, so the stand-in need not probe the files on every invocation (bursts stay cheap)."""
        image = Upload(self.image.read_bytes(), self.image.name, "image/png", 512, 768)
        video = Upload(self.video.read_bytes(), self.video.name, "video/mp4", 360, 640)
        return {"image": image, "video": video, **extra}


def make_media(root: Path) -> Media:
    return Media(make_image(root / "hero.png", 512, 768), make_video(root / "dance.mp4", 360, 640, seconds=3.0, fps=10))


def bot_env(standin: StandIn, data_dir: Path, **overrides: object) -> dict[str, str]:
    """The environment of a bot aimed at the stand-in, as an operator would write it in .env.

    Fast polling and a short simulator delay keep the scenarios quick; credits are plenty
    unless a test overrides USER_DAILY_CREDITS.
    """
    values: dict[str, object] = {
        "DISCORD_TOKEN": standin.token,
        "DISCORD_API_BASE_URL": standin.base_url,
        "DATA_DIR": data_dir,
        "WEB_PORT": free_port(),
        "DEFAULT_PROVIDER": "simulator",  # even if a provider key happens to be in the environment
        "SIMULATOR_DELAY_SECONDS": 0.3,
        "POLL_INTERVAL_SECONDS": 0.1,
        "POLL_MAX_INTERVAL_SECONDS": 0.3,
        "USER_DAILY_CREDITS": 600,
        "LOG_LEVEL": "INFO",
    }
    values.update({key.upper(): value for key, value in overrides.items()})
    return {key: str(value) for key, value in values.items()}


def bot_settings(standin: StandIn, data_dir: Path, **overrides: object) -> Settings:
    """The same settings `bot_env` gives a subprocess, read by the bot's own Settings class."""
    env = bot_env(standin, data_dir, **overrides)
    return Settings(_env_file=None, **{key.lower(): value for key, value in env.items()})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_bot(
    standin: StandIn, settings: Settings, *, force_sync: bool = False, timeout: float = 15.0
) -> AsyncIterator[MotionBot]:
    """Our bot in this process, started as `run_bot` starts it, until the block ends.

    Unlike the stand-in's `run_client`, the test does not aim discord.py: the bot
    does it itself from DISCORD_API_BASE_URL, which is what is under test."""
    check_compression()
    restore = restoring_targets()
    try:
        point_discord_at(settings.discord_api_base_url)
        bot = MotionBot(settings, force_sync=force_sync)
        # discord.py waits guild_ready_timeout (2 s) after the last GUILD_CREATE before on_ready;
        # MotionBot takes no client options, so shorten it on the connection state to keep tests quick.
        bot._connection.guild_ready_timeout = 0.1
        assert settings.discord_token is not None
        async with started(bot, settings.discord_token.get_secret_value(), timeout=timeout):
            yield bot
    finally:
        restore()


class BotProcess:
    """`python -m bot [args]` as a real OS process; stdout+stderr go to a log file for failures."""

    def __init__(self, env: dict[str, str], workdir: Path, args: tuple[str, ...] = (), name: str = "bot") -> None:
        self.env = env
        self.workdir = workdir
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        clean = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
        env = clean | self.env | {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        try:
            # cwd is a temporary folder, so no .env but ours can be read.
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *self.args, cwd=self.workdir, env=env, stdout=log, stderr=log
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def kill(self) -> int:
        """SIGKILL: no clean-up code of the bot runs, as after a power cut or an OOM kill."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        return await self.proc.wait()

    async def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (as systemd or Docker stop), then SIGKILL if it hangs."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                return await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                return await self.kill()
        return self.proc.returncode


async def wait_for_new_session(standin: StandIn, known: set[str], timeout: float = 30.0) -> str:
    """The id of a live gateway session that is not in `known` (a freshly started bot identified)."""

    def fresh() -> str | None:
        return next((s.id for s in standin.gateway.live_sessions if s.id not in known), None)

    return await standin.wait_until(fresh, timeout, "a new bot session")


# --- what the bot did -------------------------------------------------------------------


def status_edits(handle: InteractionHandle) -> list[str]:
    """Texts of the accepted edits of the (private) original response, in order."""
    return [str((s.body or {}).get("content")) for s in handle.of_kind("edit_original") if s.accepted]


def results_for(standin: StandIn, channel: Channel, user: User) -> list[Message]:
    """Visible channel messages by the bot that mention `user` (result posts and failure notices)."""
    return [
        m
        for m in standin.channel_messages(channel)
        if m.author.id == standin.bot_user.id and m.mentions_user(user.id)
    ]


def query(db_path: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    """Read the bot's SQLite database directly (read-only), as an operator would."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(sql, params))


def jobs(data_dir: Path) -> list[sqlite3.Row]:
    return query(data_dir / "bot.sqlite3", "SELECT * FROM jobs ORDER BY created_at")


def ledger(data_dir: Path) -> list[sqlite3.Row]:
    return query(data_dir / "bot.sqlite3", "SELECT * FROM ledger ORDER BY id")


@contextlib.asynccontextmanager
async def bot_processes(*processes: BotProcess) -> AsyncIterator[None]:
    """Bot processes a test starts and kills: their logs are printed when the test fails, and every
    one still running is killed at the end, whatever happened."""
    try:
        yield
    except BaseException:
        for process in processes:
            print(f"--- {process.log_path.name} ---\n{process.log()[-4000:]}")
        raise
    finally:
        for process in processes:
            if process.proc is not None:
                await process.kill()
