"""How bot/app.py wires the edges: one Downloader for every download, allowed hosts from settings
(never a loopback exemption), and the HTTP client's Retry-After cap from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from aiohttp import web

from bot.app import CoreApp
from bot.downloads import Downloader
from bot.errors import DownloadRefused, ProviderError, RateLimited
from bot.http import Response
from bot.intake import IncomingFile
from bot.media import MediaRejected
from bot.models import MotionOptions
from tests.core_harness import (
    FakeChannel,
    Inputs,
    RecordingNotifier,
    core_settings,
    requester,
)
from tests.test_downloads import record_connects


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _folder_app(folder: Path) -> web.Application:
    app = web.Application()
    app.router.add_static("/attachments", folder)
    return app


@pytest.fixture
async def standin_cdn(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """Discord's CDN as a stand-in serves it: on 127.0.0.1, named by DISCORD_API_BASE_URL."""
    folder = tmp_path / "cdn"
    folder.mkdir()
    async for base in _serve(_folder_app(folder)):
        yield base, folder


@pytest.fixture
async def unnamed_server(standin_cdn: tuple[str, Path]) -> AsyncIterator[str]:
    """The same files on another loopback port that no setting names."""
    async for base in _serve(_folder_app(standin_cdn[1])):
        yield base


def _attachment(base: str, path: Path, content_type: str, width: int, height: int) -> IncomingFile:
    return IncomingFile(path.name, path.stat().st_size, content_type, width, height, url=f"{base}/attachments/{path.name}")


async def test_intake_downloads_through_the_apps_downloader_from_what_settings_name_only(
    tmp_path: Path, standin_cdn: tuple[str, Path], unnamed_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdn, folder = standin_cdn
    inputs = Inputs(folder)
    connects = record_connects(monkeypatch)
    settings = core_settings(tmp_path / "data", discord_api_base_url=cdn)
    async with CoreApp.open(settings, RecordingNotifier(FakeChannel())) as core:
        assert isinstance(core.downloader, Downloader) and core.engine.ctx.downloader is core.downloader
        image = _attachment(cdn, inputs.image_path, "image/png", 512, 768)
        video = _attachment(cdn, inputs.video_path, "video/mp4", 360, 640)
        job, _ = await core.submit_motion(requester(), image, video, MotionOptions())
        assert job.state.value == "queued"

        # Another loopback server is just another private address: refused before connecting.
        elsewhere = _attachment(unnamed_server, inputs.image_path, "image/png", 512, 768)
        with pytest.raises(MediaRejected, match="refused to connect to 127.0.0.1"):
            await core.submit_motion(requester(43), elsewhere, video, MotionOptions())
        # The bot's own address joins once its server listens (the simulator serves results there).
        assert await core.downloader.download(f"{core.web.base_url}/healthz", tmp_path / "health.json") > 0
    assert len(await _jobs(settings.db_path)) == 1  # the refused request left no job behind
    assert set(connects) == {"127.0.0.1"}


async def _jobs(db_path: Path) -> list[str]:
    async with aiosqlite.connect(db_path) as db, db.execute("SELECT id FROM jobs") as cur:
        return [row[0] for row in await cur.fetchall()]


async def test_a_result_url_on_an_unnamed_loopback_port_is_refused(tmp_path: Path, unnamed_server: str) -> None:
    settings = core_settings(tmp_path / "data")
    async with CoreApp.open(settings, RecordingNotifier(FakeChannel())) as core:
        with pytest.raises(DownloadRefused, match="refused to connect to 127.0.0.1"):
            await core.downloader.download_video(f"{unnamed_server}/attachments/x.mp4", tmp_path / "x.mp4")


@pytest.mark.parametrize(("cap", "answered"), [(0.2, False), (5.0, True)])
async def test_the_retry_after_cap_comes_from_settings(tmp_path: Path, cap: float, answered: bool) -> None:
    """A 429 asking for 1 s: under a 0.2 s cap it is raised at once (the engine schedules the
    job); under a 5 s cap it is slept on and the second try succeeds."""
    hits: list[int] = []

    async def limited_once(_: web.Request) -> web.Response:
        hits.append(1)
        return web.Response(status=429, headers={"Retry-After": "1"}) if len(hits) == 1 else web.Response(text="ok")

    def classify(response: Response) -> ProviderError | None:
        return RateLimited("busy") if response.status == 429 else None

    app = web.Application()
    app.router.add_get("/", limited_once)
    settings = core_settings(tmp_path / "data", retry_after_max_sleep_seconds=cap)
    async for base in _serve(app):
        async with CoreApp.open(settings, RecordingNotifier(FakeChannel())) as core:
            if answered:
                response = await core.http.request("GET", base, provider="test", classify=classify, idempotent=True)
                assert response.status == 200
            else:
                with pytest.raises(RateLimited) as caught:
                    await core.http.request("GET", base, provider="test", classify=classify, idempotent=True)
                assert caught.value.retry_after == 1
    assert len(hits) == (2 if answered else 1)
