"""A core without Discord, for tests: store + simulator + engine + web server, and a fake
Discord channel that deduplicates posts by nonce exactly as Discord does (enforce_nonce)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import CoreApp
from bot.intake import IncomingFile
from bot.models import MotionOptions, Requester
from bot.providers.base import MotionTemplate
from bot.providers.simulator import SimulatorProvider
from bot.settings import Settings
from bot.store import JobRow
from tests.media_factory import make_image, make_video


@dataclass
class Post:
    job_id: str
    nonce: str
    content: str
    video_size: int | None
    link: str | None


@dataclass
class FakeChannel:
    """What Discord would show in the channel: one message per nonce."""

    posts: list[Post] = field(default_factory=list)
    attempts: int = 0

    def post(self, post: Post) -> int:
        self.attempts += 1
        for index, existing in enumerate(self.posts):
            if existing.nonce == post.nonce:
                return index + 1  # Discord returns the first message again
        self.posts.append(post)
        return len(self.posts)

    def for_job(self, job_id: str) -> list[Post]:
        return [p for p in self.posts if p.job_id == job_id]


class RecordingNotifier:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.progress_texts: list[tuple[str, str]] = []

    async def progress(self, job: JobRow, text: str) -> None:
        self.progress_texts.append((job.id, str(text)))  # a Text (place in line) as English

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        size = video.stat().st_size if video else None
        return self.channel.post(Post(job.id, f"job-{job.id}", "ready", size, link))

    async def notify_failure(self, job: JobRow, text: str) -> None:
        self.channel.post(Post(job.id, f"end-{job.id}", str(text), None, None))  # a Text as English


@asynccontextmanager
async def open_core(settings: Settings, channel: FakeChannel) -> AsyncIterator[CoreApp]:
    async with CoreApp.open(settings, RecordingNotifier(channel)) as app:
        yield app


def reads_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator without its in-process reports (the method set to None opts out), so
    the engine learns by reading or by HTTP callbacks, as it does with a hosted provider."""
    monkeypatch.setattr(SimulatorProvider, "add_task_listener", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def core_settings(data_dir: Path, *, callbacks: bool = False, **overrides: object) -> Settings:
    port = free_port()
    values: dict[str, object] = {
        "data_dir": data_dir,
        "web_host": "127.0.0.1",
        "web_port": port,
        "public_url": f"http://127.0.0.1:{port}" if callbacks else "",
        "simulator_delay_seconds": 0.3,
        "poll_interval_seconds": 0.05,
        "poll_max_interval_seconds": 0.1,
        # with callbacks on, the safety-net poll comes far too late to matter in a test
        "callback_fallback_poll_seconds": 60 if callbacks else 0.05,
        "user_daily_credits": 60,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Inputs:
    def __init__(self, root: Path) -> None:
        self.image_path = make_image(root / "hero.png", 512, 768)
        self.video_path = make_video(root / "dance.mp4", 360, 640, seconds=3.0)

    def image(self) -> IncomingFile:
        return IncomingFile("hero.png", self.image_path.stat().st_size, "image/png", 512, 768, path=self.image_path)

    def video(self) -> IncomingFile:
        return IncomingFile("dance.mp4", self.video_path.stat().st_size, "video/mp4", 360, 640, path=self.video_path)


def requester(user_id: int = 42) -> Requester:
    return Requester(user_id=user_id, guild_id=7, channel_id=99, upload_limit=10 * 1024 * 1024)


async def submit(app: CoreApp, inputs: Inputs, user_id: int = 42, **options: object) -> JobRow:
    job, _ = await app.submit_motion(requester(user_id), inputs.image(), inputs.video(), MotionOptions(**options))  # type: ignore[arg-type]
    return job


async def wait_state(app: CoreApp, job_id: str, *states: str, timeout: float = 10.0) -> JobRow:
    async def poll() -> JobRow:
        while True:
            job = await app.store.get_job(job_id)
            if job is not None and job.state.value in states:
                return job
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


def with_templates(app: CoreApp, templates: list[MotionTemplate]) -> None:
    """Give the simulator a provider's preset motions (as GoAPI and useapi.net have)."""
    simulator = app.providers["simulator"]
    simulator.capabilities = simulator.capabilities.model_copy(update={"motion_templates": True})  # type: ignore[misc]

    async def listed() -> list[MotionTemplate]:
        return templates

    simulator.list_motion_templates = listed  # type: ignore[method-assign]
