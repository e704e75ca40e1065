"""Media checks (bot/media.py) against every limit in bot/limits.py, at and just past its edge.

All media are generated here by tests/media_factory.py; the repo holds no binaries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from bot.limits import KLING_MOTION_LIMITS, MB, MotionLimits
from bot.media import (
    AttachmentMeta,
    ImageInfo,
    MediaRejected,
    VideoInfo,
    check_prompt,
    max_image_pixels,
    precheck_image,
    precheck_video,
    set_max_image_pixels,
)
from bot.media_image import check_image, open_reduced
from bot.media_video import check_video
from bot.models import ErrorKind
from bot.providers.simulator_render import RenderError, render_motion
from tests.media_factory import (
    faststart,
    make_black_png,
    make_image,
    make_video,
    truncate,
)

REPO = Path(__file__).resolve().parents[1]

LIM = KLING_MOTION_LIMITS


def refused(func: Callable[..., object], *args: Any, **kwargs: Any) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        func(*args, **kwargs)
    return caught.value


# Duration tests need a valid, even-sided (yuv420p) size; small keeps them fast.
def clip(path: Path, seconds: float, **kwargs: Any) -> Path:
    return make_video(path, width=340, height=340, seconds=seconds, **kwargs)


# --- MediaRejected ------------------------------------------------------------


def test_rejection_carries_field_and_sentence() -> None:
    exc = MediaRejected("video", "video is 2.9 s; the minimum is 3 s")
    assert exc.field == "video"
    assert str(exc.message) == "video is 2.9 s; the minimum is 3 s"
    assert str(exc) == str(exc.message)


# --- prompt -------------------------------------------------------------------


def test_prompt_at_limit_passes() -> None:
    check_prompt("x" * 2500)
    check_prompt("")


def test_prompt_past_limit_refused() -> None:
    exc = refused(check_prompt, "x" * 2501)
    assert exc.field == "prompt"
    assert str(exc) == "prompt is 2,501 characters; the limit is 2,500"


# --- images: bytes ------------------------------------------------------------


def test_png_passes_with_its_measurements(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 512, 768)
    info = check_image(path, "a.png")
    assert info == ImageInfo(format="PNG", width=512, height=768, size=path.stat().st_size)


def test_jpeg_passes_with_its_measurements(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.jpg", 640, 480)
    info = check_image(path, "Photo.JPG")  # the user's name, any case
    assert info == ImageInfo(format="JPEG", width=640, height=480, size=path.stat().st_size)


def test_real_format_decides_not_the_name(tmp_path: Path) -> None:
    # A JPEG named .png: allowed extension, allowed real format -> fine, reported as JPEG.
    path = make_image(tmp_path / "a.png", 400, 400, fmt="JPEG")
    assert check_image(path, "a.png").format == "JPEG"


def test_phone_multi_picture_jpeg_counts_as_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (400, 500)).save(path, format="MPO", save_all=True, append_images=[Image.new("RGB", (400, 500))])
    assert Image.open(path).format == "MPO"  # what Pillow calls it
    assert check_image(path, "phone.jpg").format == "JPEG"


def test_gif_named_png_refused_by_real_format(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 400, 400, fmt="GIF")
    exc = refused(check_image, path, "a.png")
    assert exc.field == "image"
    assert str(exc) == "image is a GIF file; it must be JPEG or PNG"


def test_wrong_extension_refused_even_if_bytes_are_fine(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 400, 400)
    assert "got a .webp file" in str(refused(check_image, path, "a.webp"))


def test_text_renamed_png_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_text("this is not a picture\n" * 20)
    exc = refused(check_image, path, "a.png")
    assert exc.field == "image"
    assert str(exc) == "image is damaged or not a real JPEG/PNG"


@pytest.mark.parametrize("name", ["a.png", "a.jpg"])
def test_truncated_image_refused(tmp_path: Path, name: str) -> None:
    path = truncate(make_image(tmp_path / name, 600, 600), 0.7)
    assert str(refused(check_image, path, name)) == "image is damaged or not a real JPEG/PNG"


def test_corrupted_png_chunk_refused(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 600, 600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside IDAT: only the CRC can tell
    path.write_bytes(bytes(data))
    assert str(refused(check_image, path, "a.png")) == "image is damaged or not a real JPEG/PNG"


# --- images: the pixel budget (MAX_IMAGE_PIXELS) ------------------------------


@pytest.fixture
def pixel_limit(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set the budget for one test; Pillow's global is put back afterwards."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    return set_max_image_pixels


def test_the_default_budget_is_pillows_limit_too() -> None:
    assert max_image_pixels() == Image.MAX_IMAGE_PIXELS == 40_000_000


def test_setting_the_budget_sets_pillows_limit(pixel_limit: Callable[[int], None]) -> None:
    pixel_limit(12_345_678)
    assert Image.MAX_IMAGE_PIXELS == 12_345_678
    with pytest.raises(ValueError):
        set_max_image_pixels(0)


def test_pixel_budget_edge(tmp_path: Path, pixel_limit: Callable[[int], None]) -> None:
    pixel_limit(600 * 500)
    assert check_image(make_image(tmp_path / "ok.png", 600, 500), "ok.png").width == 600
    exc = refused(check_image, make_image(tmp_path / "big.png", 600, 501), "big.png")
    assert exc.field == "image"
    # 300,600 px would read "0.3 megapixels" at one decimal, the very limit: more digits are shown
    assert str(exc) == "image is 600×501 px (0.301 megapixels); the limit is 0.3 megapixels"


@pytest.mark.parametrize("name", ["a.png", "a.jpg"])
def test_over_budget_is_refused_by_us_without_pillows_warning(
    tmp_path: Path, pixel_limit: Callable[[int], None], name: str
) -> None:
    """Between the limit and twice it, Pillow's Image.open would warn (and refuse above):
    the check reads the header itself, so the member gets one sentence and the log nothing."""
    path = make_image(tmp_path / name, 1500, 1500)  # 2.25 megapixels
    pixel_limit(2_000_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exc = refused(check_image, path, name)
    assert str(exc) == "image is 1500×1500 px (2.2 megapixels); the limit is 2 megapixels"
    assert [w.message for w in caught] == []


def test_far_over_budget_names_the_size_not_pillows_error(tmp_path: Path, pixel_limit: Callable[[int], None]) -> None:
    path = make_image(tmp_path / "a.png", 1500, 1500)
    pixel_limit(500_000)  # Pillow's own open would raise DecompressionBombError above 1 MP
    assert str(refused(check_image, path, "a.png")) == (
        "image is 1500×1500 px (2.2 megapixels); the limit is 0.5 megapixels"
    )


def test_precheck_refuses_by_discords_dimensions_in_the_same_words(tmp_path: Path) -> None:
    bomb = make_black_png(tmp_path / "bomb.png", 20000, 20000, rows=4)
    meta = AttachmentMeta("bomb.png", bomb.stat().st_size, "image/png", 20000, 20000)
    assert str(refused(precheck_image, meta)) == str(refused(check_image, bomb, "bomb.png")) == (
        "image is 20000×20000 px (400.0 megapixels); the limit is 40 megapixels"
    )


# Runs in a fresh interpreter: the peak resident size of a whole process is the
# only honest measure (Pillow allocates pixels outside Python's allocator, where
# tracemalloc cannot see them). It takes the path an accepted picture takes:
# the check, then the reduced copy the simulator renders from.
PEAK_PROBE = """
import json, sys
from pathlib import Path
from bot.media import MediaRejected
from bot.media_image import check_image, open_reduced

def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))

*warm_ups, target = map(Path, sys.argv[1:])
for warm in warm_ups:  # load every plugin and code path before measuring
    check_image(warm, warm.name)
    open_reduced(warm, 64)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak starts again from here
before = kib("VmRSS:")
try:
    check_image(target, target.name)
    open_reduced(target, 1280)
    outcome = "accepted"
except MediaRejected as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "peak_growth_mib": (kib("VmHWM:") - before) / 1024}))
"""
PEAK_GROWTH_LIMIT_MIB = 50


def peak_growth(tmp_path: Path, target: Path) -> tuple[str, float]:
    """(what happened to `target`, how far the process's peak memory rose while it happened)."""
    warm_ups = [make_image(tmp_path / "warm" / "w.png", 400, 400), make_image(tmp_path / "warm" / "w.jpg", 400, 400)]
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, *map(str, warm_ups), str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    if proc.returncode != 0 and "clear_refs" in proc.stderr:
        pytest.skip("this kernel cannot reset a process's peak memory")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return result["outcome"], result["peak_growth_mib"]


@pytest.mark.parametrize(
    ("what", "rows", "megapixels"),
    [
        # the bomb: an 89-byte file whose header declares 20000×20000 (400 MB to decode)
        ("decompression bomb", 4, "400.0"),
        # a complete, valid 10000×10000 picture of 12 KB (100 MB to decode)
        ("100 megapixel PNG", None, "100.0"),
    ],
)
def test_huge_png_refused_from_the_header_with_flat_memory(
    tmp_path: Path, what: str, rows: int | None, megapixels: str
) -> None:
    side = 20000 if rows is not None else 10000
    path = make_black_png(tmp_path / "big.png", side, side, rows=rows)
    assert path.stat().st_size < 64_000, f"{what}: the premise is a small file"
    outcome, growth = peak_growth(tmp_path, path)
    assert outcome == f"image is {side}×{side} px ({megapixels} megapixels); the limit is 40 megapixels", what
    assert growth < PEAK_GROWTH_LIMIT_MIB, f"{what}: peak memory rose {growth:.0f} MiB"


def test_the_probe_sees_a_full_decode(tmp_path: Path) -> None:
    """The memory bound above can fail: a 36 MP PNG under the budget is accepted and,
    PNG having no reduced decoding, costs its full size once."""
    path = make_image(tmp_path / "a.png", 6000, 6000, mode="L")  # 36 MB decoded
    outcome, growth = peak_growth(tmp_path, path)
    assert outcome == "accepted"
    assert growth > 30


def test_a_big_jpeg_is_decoded_reduced(tmp_path: Path) -> None:
    """36 MP, within the budget: decoded at reduced scale, never at full size (36 MB, 108 MB in RGB)."""
    path = make_image(tmp_path / "a.jpg", 6000, 6000, mode="L")
    outcome, growth = peak_growth(tmp_path, path)
    assert outcome == "accepted"
    assert growth < 20, f"peak memory rose {growth:.0f} MiB"


@pytest.mark.parametrize("name", ["a.png", "a.jpg"])
def test_reduced_copy_is_small_rgb_and_upright(tmp_path: Path, name: str) -> None:
    # orientation 6: the camera was turned; the stored 2000×1000 picture is shown 1000×2000
    path = make_image(tmp_path / name, 2000, 1000, exif_orientation=6)
    still = open_reduced(path, 500)
    assert (still.mode, still.size) == ("RGB", (250, 500))
    small = open_reduced(make_image(tmp_path / "small" / name, 400, 300), 500)
    assert small.size == (400, 300)  # never enlarged


def test_reduced_copy_refuses_over_budget(tmp_path: Path) -> None:
    bomb = make_black_png(tmp_path / "bomb.png", 20000, 20000, rows=4)
    assert "the limit is 40 megapixels" in str(refused(open_reduced, bomb, 1280))


def test_simulator_refuses_an_over_budget_still_as_bad_input(tmp_path: Path) -> None:
    bomb = make_black_png(tmp_path / "bomb.png", 20000, 20000, rows=4)
    video = make_video(tmp_path / "v.mp4", 340, 340, seconds=3.0, fps=5)
    out = tmp_path / "out.mp4"
    with pytest.raises(RenderError) as caught:
        render_motion(bomb, video, out, max_seconds=10.0, max_side=640, keep_sound=False)
    assert caught.value.kind is ErrorKind.BAD_INPUT
    assert "40 megapixels" in str(caught.value.message)
    assert not out.exists() and not list(tmp_path.glob("out.mp4*"))


@pytest.mark.parametrize(("width", "height"), [(300, 400), (400, 300)])
def test_image_min_side_edge_passes(tmp_path: Path, width: int, height: int) -> None:
    assert check_image(make_image(tmp_path / "a.png", width, height), "a.png").width == width


@pytest.mark.parametrize(("width", "height"), [(299, 400), (400, 299)])
def test_image_min_side_past_edge_refused(tmp_path: Path, width: int, height: int) -> None:
    exc = refused(check_image, make_image(tmp_path / "a.png", width, height), "a.png")
    assert str(exc) == f"image is {width}×{height} px; each side must be at least 300 px"


def test_image_max_side_edge(tmp_path: Path) -> None:
    # The real limit (65,536 px) can't be generated cheaply, so the same rule is
    # exercised through a table with a small max_side.
    small = MotionLimits(image_max_side=500)
    assert check_image(make_image(tmp_path / "ok.png", 500, 400), "ok.png", small).width == 500
    exc = refused(check_image, make_image(tmp_path / "big.png", 400, 501), "big.png", small)
    assert str(exc) == "image is 400×501 px; each side must be at most 500 px"


@pytest.mark.parametrize(("width", "height"), [(750, 300), (300, 750)])
def test_image_aspect_exactly_2_5_passes(tmp_path: Path, width: int, height: int) -> None:
    assert check_image(make_image(tmp_path / "a.png", width, height), "a.png").height == height


@pytest.mark.parametrize(
    ("width", "height", "shown"),
    [(751, 300, "2.503:1"), (300, 751, "1:2.503"), (200, 800, "1:4.00")],
)
def test_image_aspect_past_edge_refused(tmp_path: Path, width: int, height: int, shown: str) -> None:
    # 751/300 = 2.5033 would print as "2.50" at two decimals, the very limit; we show enough digits.
    limits = MotionLimits(image_min_side=100)  # lets 200×800 reach the aspect rule
    exc = refused(check_image, make_image(tmp_path / "a.png", width, height), "a.png", limits)
    assert str(exc) == (
        f"image is {width}×{height} px (aspect {shown}); the aspect ratio must be between 1:2.5 and 2.5:1"
    )


@pytest.mark.parametrize("name", ["a.png", "a.jpg"])
def test_image_bytes_at_limit_pass_and_one_more_refused(tmp_path: Path, name: str) -> None:
    ok = make_image(tmp_path / "ok" / name, 400, 400, pad_to=10 * MB)
    assert check_image(ok, name).size == 10_000_000
    big = make_image(tmp_path / "big" / name, 400, 400, pad_to=10 * MB + 1)
    exc = refused(check_image, big, name)
    # one decimal would read "10.0 MB", which looks allowed; the sentence shows the real excess
    assert str(exc) == "image is 10.000001 MB; the limit is 10 MB"


def test_image_megabytes_shown_with_one_decimal(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 400, 400, pad_to=12_345_678)
    assert str(refused(check_image, path, "a.png")) == "image is 12.3 MB; the limit is 10 MB"


# --- videos: bytes ------------------------------------------------------------


def test_mp4_passes_with_its_measurements(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mp4", 360, 640, seconds=4.0, fps=10, audio=True)
    info = check_video(path, "a.mp4", "video")
    assert info == VideoInfo(
        container="mp4",
        codec="h264",
        width=360,
        height=640,
        seconds=4.0,
        fps=10.0,
        has_audio=True,
        size=path.stat().st_size,
    )


def test_mov_passes_and_is_named_mov(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mov", 340, 340, seconds=3.0, fps=5)
    info = check_video(path, "a.MOV", "image")
    assert (info.container, info.has_audio, info.seconds) == ("mov", False, 3.0)


@pytest.mark.parametrize(("width", "height"), [(340, 341), (341, 340)])
def test_video_min_side_edge_passes(tmp_path: Path, width: int, height: int) -> None:
    path = make_video(tmp_path / "a.mov", width, height, seconds=3.0, fps=1, codec="png")
    assert check_video(path, "a.mov", "video").width == width


@pytest.mark.parametrize(("width", "height"), [(339, 340), (340, 339)])
def test_video_min_side_past_edge_refused(tmp_path: Path, width: int, height: int) -> None:
    path = make_video(tmp_path / "a.mov", width, height, seconds=3.0, fps=1, codec="png")
    exc = refused(check_video, path, "a.mov", "video")
    assert exc.field == "video"
    assert str(exc) == f"video is {width}×{height} px; each side must be at least 340 px"


def test_video_max_side_edge_passes(tmp_path: Path) -> None:
    # long and thin, three frames at 1 fps: a valid 3 s clip that encodes fast
    path = make_video(tmp_path / "a.mov", 3850, 340, seconds=3.0, fps=1, codec="png")
    assert check_video(path, "a.mov", "video").width == 3850


def test_video_max_side_past_edge_refused(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mov", 340, 3851, seconds=3.0, fps=1, codec="png")
    assert str(refused(check_video, path, "a.mov", "video")) == "video is 340×3851 px; each side must be at most 3,850 px"


def test_video_min_seconds_edge(tmp_path: Path) -> None:
    assert check_video(clip(tmp_path / "ok.mp4", 3.0), "ok.mp4", "image").seconds == pytest.approx(3.0)
    exc = refused(check_video, clip(tmp_path / "short.mp4", 2.9), "short.mp4", "image")
    assert str(exc) == "video is 2.9 s; the minimum is 3 s"


def test_video_max_seconds_with_image_orientation(tmp_path: Path) -> None:
    assert check_video(clip(tmp_path / "ok.mp4", 10.0), "ok.mp4", "image").seconds == pytest.approx(10.0)
    long = clip(tmp_path / "long.mp4", 10.1)
    exc = refused(check_video, long, "long.mp4", "image")
    assert str(exc) == "video is 10.1 s; with orientation=image the limit is 10 s — use orientation=video or trim it"
    # the same clip is fine once the user follows the advice
    assert check_video(long, "long.mp4", "video").seconds == pytest.approx(10.1)


def test_video_max_seconds_with_video_orientation(tmp_path: Path) -> None:
    assert check_video(clip(tmp_path / "ok.mp4", 30.0), "ok.mp4", "video").seconds == pytest.approx(30.0)
    long = clip(tmp_path / "long.mp4", 30.1)
    exc = refused(check_video, long, "long.mp4", "video")
    assert str(exc) == "video is 30.1 s; with orientation=video the limit is 30 s — trim it"
    # too long for either orientation: switching would not help, so we don't suggest it
    exc = refused(check_video, long, "long.mp4", "image")
    assert str(exc) == "video is 30.1 s; with orientation=image the limit is 10 s — trim it"


def test_video_bytes_at_limit_pass_and_one_more_refused(tmp_path: Path) -> None:
    ok = clip(tmp_path / "ok.mp4", 3.0, pad_to=100 * MB)
    big = clip(tmp_path / "big.mp4", 3.0, pad_to=100 * MB + 1)
    assert check_video(ok, "ok.mp4", "video").size == 100_000_000
    exc = refused(check_video, big, "big.mp4", "video")
    assert str(exc) == "video is 100.000001 MB; the limit is 100 MB"


def test_truncated_mp4_with_intact_header_refused_as_damaged(tmp_path: Path) -> None:
    # Index at the front (as phones write it), data cut at half: the header still says 10 s.
    path = truncate(faststart(clip(tmp_path / "a.mp4", 10.0)), 0.5)
    with av.open(str(path)) as container:  # the premise: FFmpeg opens it and trusts the header
        assert container.streams.video[0].duration is not None
    exc = refused(check_video, path, "a.mp4", "video")
    assert exc.field == "video"
    assert str(exc).startswith("video is damaged or incomplete: its data ends at ")
    assert "its header says 10.0 s" in str(exc)


def test_mp4_with_moov_cut_off_refused_as_damaged(tmp_path: Path) -> None:
    # Index at the end (FFmpeg's default): cutting the file loses it entirely.
    path = clip(tmp_path / "a.mp4", 4.0)
    assert path.read_bytes().rfind(b"moov") > path.stat().st_size // 2  # the premise
    truncate(path, 0.9)
    exc = refused(check_video, path, "a.mp4", "video")
    assert str(exc) == "video is damaged or incomplete (it could not be read); upload it again"


@pytest.mark.parametrize(("codec", "name"), [("libx264", "a.mp4"), ("png", "a.mov")])
def test_video_whose_frames_do_not_decode_refused(tmp_path: Path, codec: str, name: str) -> None:
    # Container and index intact, frame data overwritten: only decoding a frame finds it.
    path = make_video(tmp_path / name, 340, 340, seconds=3.0, fps=5, codec=codec)
    data = bytearray(path.read_bytes())
    start, end = data.find(b"mdat") + 4, data.find(b"moov")
    assert 4 < start < end  # the premise: frame data sits between mdat and the index
    data[start:end] = b"\x55" * (end - start)
    path.write_bytes(bytes(data))
    assert str(refused(check_video, path, name, "video")).startswith("video is damaged")


def test_png_renamed_mp4_refused(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png", 400, 400)
    renamed = path.rename(tmp_path / "a.mp4")
    exc = refused(check_video, renamed, "a.mp4", "video")
    assert exc.field == "video"
    assert str(exc).startswith("video is not an MP4/MOV video")


@pytest.mark.parametrize("content", [b"", b"abc", b"hello, this is a text file\n" * 10])
def test_non_video_bytes_refused_without_crashing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(content)
    assert str(refused(check_video, path, "a.mp4", "video")).startswith("video is not an MP4/MOV video")


def test_audio_only_mp4_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 16000
        for i in range(20):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert str(refused(check_video, path, "a.mp4", "video")) == "video has no video track"


def test_video_wrong_extension_refused(tmp_path: Path) -> None:
    path = clip(tmp_path / "a.mp4", 3.0)
    assert str(refused(check_video, path, "a.webm", "video")) == "video must be a .mp4 or .mov file; got a .webm file (a.webm)"


def test_unknown_orientation_refused_as_an_option(tmp_path: Path) -> None:
    path = clip(tmp_path / "a.mp4", 3.0)
    exc = refused(check_video, path, "a.mp4", "sideways")
    assert exc.field == "options"
    assert "sideways" in str(exc)


# --- prechecks (Discord metadata only) ----------------------------------------


def test_image_precheck_passes_good_metadata() -> None:
    precheck_image(AttachmentMeta("a.png", 10 * MB, "image/png", 300, 750))
    precheck_image(AttachmentMeta("a.JPEG", 1000, "image/jpeg; charset=binary"))
    precheck_image(AttachmentMeta("a.jpg", 1000, None))  # no type, no size: only what we know is checked
    precheck_image(AttachmentMeta("a.jpg", 1000, "application/octet-stream"))  # Discord's "unknown"


def test_image_precheck_wrong_extension() -> None:
    exc = refused(precheck_image, AttachmentMeta("cat.gif", 1000, "image/png"))
    assert exc.field == "image"
    assert str(exc) == "image must be a .jpg, .jpeg, or .png file; got a .gif file (cat.gif)"
    assert "no extension" in str(refused(precheck_image, AttachmentMeta("cat", 1000)))


def test_image_precheck_wrong_content_type() -> None:
    exc = refused(precheck_image, AttachmentMeta("cat.png", 1000, "image/webp"))
    assert str(exc) == "image must be JPEG or PNG; Discord reports its type as image/webp"


def test_image_precheck_too_big() -> None:
    exc = refused(precheck_image, AttachmentMeta("a.png", 12_300_000, "image/png"))
    assert str(exc) == "image is 12.3 MB; the limit is 10 MB"


def test_image_precheck_dimensions() -> None:
    small = refused(precheck_image, AttachmentMeta("a.png", 1000, "image/png", 299, 400))
    assert str(small) == "image is 299×400 px; each side must be at least 300 px"
    tall = refused(precheck_image, AttachmentMeta("a.png", 1000, "image/png", 300, 751))
    assert "aspect 1:2.503" in str(tall)


def test_video_precheck() -> None:
    precheck_video(AttachmentMeta("a.mp4", 100 * MB, "video/mp4", 340, 3850))
    precheck_video(AttachmentMeta("a.MOV", 1000, "video/quicktime"))
    assert "got a .mkv file" in str(refused(precheck_video, AttachmentMeta("a.mkv", 1000, "video/x-matroska")))
    assert str(refused(precheck_video, AttachmentMeta("a.mp4", 1000, "video/webm"))) == (
        "video must be MP4 or MOV; Discord reports its type as video/webm"
    )
    assert str(refused(precheck_video, AttachmentMeta("a.mp4", 123_400_000))) == "video is 123.4 MB; the limit is 100 MB"
    assert str(refused(precheck_video, AttachmentMeta("a.mp4", 1000, "video/mp4", 339, 640))) == (
        "video is 339×640 px; each side must be at least 340 px"
    )
    assert str(refused(precheck_video, AttachmentMeta("a.mp4", 1000, "video/mp4", 640, 3851))) == (
        "video is 640×3851 px; each side must be at most 3,850 px"
    )


def test_precheck_and_byte_check_say_the_same_thing(tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", 299, 400, pad_to=10 * MB + 1)
    meta = AttachmentMeta("a.png", image.stat().st_size, "image/png", 299, 400)
    assert str(refused(precheck_image, meta)) == str(refused(check_image, image, "a.png"))
    video = make_video(tmp_path / "a.mov", 339, 340, seconds=3.0, fps=1, codec="png")
    vmeta = AttachmentMeta("a.mov", video.stat().st_size, "video/quicktime", 339, 340)
    assert str(refused(precheck_video, vmeta)) == str(refused(check_video, video, "a.mov", "video"))


def test_limits_table_is_read_not_hard_coded(tmp_path: Path) -> None:
    # A provider with different limits gets its own table; the checks must follow it.
    longer = MotionLimits(video_min_seconds=5.0)
    exc = refused(check_video, clip(tmp_path / "a.mp4", 4.0), "a.mp4", "video", longer)
    assert str(exc) == "video is 4.0 s; the minimum is 5 s"
    tiny = MotionLimits(image_max_bytes=1_000)
    image = make_image(tmp_path / "a.png", 400, 400)
    assert image.stat().st_size > 1_000  # the premise
    # a size under 0.1 MB still prints as more than the limit, never as "0.0 MB"
    exc = refused(check_image, image, "a.png", tiny)
    assert str(exc).startswith("image is 0.00")
    assert str(exc).endswith("MB; the limit is 0.001 MB")
    assert LIM.video_min_seconds == 3.0  # the default table is untouched
