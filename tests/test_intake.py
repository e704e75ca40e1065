"""Intake's file step: attachments come in through the Downloader with their own caps, and one
path (take_file) brings in an image or a video, typed by what its bytes are."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.downloads import Downloader
from bot.intake import IncomingFile, fetch, take_file
from bot.limits import KLING_MOTION_LIMITS
from bot.media import ImageInfo, MediaRejected, VideoInfo
from bot.media_image import check_image
from bot.media_video import check_video
from tests.media_factory import make_image, make_video
from tests.test_downloads import record_connects


@pytest.fixture
async def cdn(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A stand-in for Discord's CDN on 127.0.0.1, serving a folder."""
    files = tmp_path / "cdn"
    files.mkdir()
    app = web.Application()
    app.router.add_static("/attachments", files)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", files
    await runner.cleanup()


@pytest.fixture
async def downloader(cdn: tuple[str, Path]) -> AsyncIterator[Downloader]:
    async with Downloader(allowed_hosts=[cdn[0]], max_retries=0) as made:
        yield made


@pytest.fixture
async def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_connects(monkeypatch)  # a broken address check fails here, never sends a packet


def incoming(name: str, path: Path, url: str | None = None) -> IncomingFile:
    return IncomingFile(name, path.stat().st_size, url=url, path=None if url else path)


async def test_an_attachment_over_its_own_cap_is_refused_while_reading(
    downloader: Downloader, cdn: tuple[str, Path], tmp_path: Path
) -> None:
    base, files = cdn
    big = make_image(files / "big.png", pad_to=600_000)
    dest = tmp_path / "job" / "image.png"
    dest.parent.mkdir()
    with pytest.raises(MediaRejected, match=r"image is larger than the 0\.5 MB limit") as caught:
        await fetch(downloader, incoming("big.png", big, f"{base}/attachments/big.png"), dest, 500_000, "image")
    assert caught.value.field == "image"
    assert list(dest.parent.iterdir()) == []


async def test_an_attachment_on_a_private_address_is_refused_as_a_download_failure(
    downloader: Downloader, connects: list[str], tmp_path: Path
) -> None:
    with pytest.raises(MediaRejected, match="could not download the video from Discord") as caught:
        await fetch(downloader, IncomingFile("a.mp4", 10, url="http://10.0.0.7/a.mp4"), tmp_path / "video.mp4",
                    100, "video")
    assert "refused to connect to 10.0.0.7" in str(caught.value)
    assert connects == []


async def test_take_file_types_an_image_and_a_video_by_their_bytes(
    downloader: Downloader, cdn: tuple[str, Path], tmp_path: Path
) -> None:
    base, files = cdn
    # A JPEG named .png is fine for the check; its content type follows the bytes.
    make_image(files / "hero.png", fmt="JPEG")
    clip = make_video(files / "dance.mov", seconds=3.5)
    folder = tmp_path / "job"
    folder.mkdir()
    limits = KLING_MOTION_LIMITS
    image, image_info = await take_file(
        downloader, incoming("hero.png", files / "hero.png", f"{base}/attachments/hero.png"), folder, "image",
        limits.image_max_bytes, functools.partial(check_image, filename="hero.png", limits=limits),
    )
    video, video_info = await take_file(
        downloader, incoming("dance.mov", clip), folder, "video", limits.video_max_bytes,
        functools.partial(check_video, filename="dance.mov", orientation="video", limits=limits),
    )
    assert isinstance(image_info, ImageInfo) and isinstance(video_info, VideoInfo)
    assert (image.path.name, image.content_type, image.url) == ("image.png", "image/jpeg", f"{base}/attachments/hero.png")
    assert image.size == image.path.stat().st_size == (files / "hero.png").stat().st_size
    expected_video_type = "video/quicktime" if video_info.container == "mov" else "video/mp4"
    assert (video.path.name, video.content_type, video.url) == ("video.mov", expected_video_type, None)
    assert video.path.read_bytes() == clip.read_bytes()
    assert video_info.seconds == pytest.approx(3.5, abs=0.1)
