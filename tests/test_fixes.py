"""bot/fixes.py: the Trim and Pad fixes, planned and applied to generated media."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from bot import trim
from bot.fixes import (
    FixFailed,
    ImageFacts,
    PadFix,
    TrimFix,
    VideoFacts,
    apply_fix,
    apply_fix_sync,
    fixed_filename,
    measure_image,
    measure_video,
    plan_fix,
)
from bot.limits import KLING_MOTION_LIMITS
from bot.media import MediaRejected, max_image_pixels
from bot.media_image import check_image
from bot.media_video import check_video
from tests.media_factory import make_image, make_video

LIMITS = KLING_MOTION_LIMITS


def make_gop_video(
    path: Path, *, fps: int, seconds: float, x264_params: str, rotation: int = 0, width: int = 360, height: int = 640
) -> Path:
    """An H.264 MP4 with a chosen frame structure (B-frames, keyframe spacing) and display rotation."""
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": x264_params}
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            pixels = np.full((height, width, 3), 30, dtype=np.uint8)
            x = int(i / max(frames - 1, 1) * (width - 20))
            pixels[:, x : x + 20] = 250
            pixels[(i * 7) % (height - 10) :][:10] = (0, 200, 0)  # changes every frame: no frame is skipped
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def first_rotation(path: Path) -> int:
    with av.open(str(path)) as container:
        return int(next(container.decode(video=0)).rotation or 0)


@pytest.fixture(scope="module")
def forty_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 40 s clip with sound for the module (making it is the slow part); tests must not change it."""
    return make_video(tmp_path_factory.mktemp("clips") / "dance.mp4", seconds=40, audio=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- planning --------------------------------------------------------------------------------


def test_a_long_clip_plans_a_trim_to_its_orientations_cap() -> None:
    assert plan_fix(VideoFacts(40.0, "video")) == TrimFix(seconds=30.0, original_seconds=40.0, orientation="video")
    assert plan_fix(VideoFacts(40.0, "image")) == TrimFix(seconds=10.0, original_seconds=40.0, orientation="image")
    assert plan_fix(VideoFacts(12.0, "image")).seconds == 10.0  # type: ignore[union-attr]
    assert plan_fix(VideoFacts(30.0, "video")) is None
    assert plan_fix(VideoFacts(10.0, "image")) is None


def test_a_misshapen_image_plans_a_pad_to_the_nearest_allowed_aspect() -> None:
    wide = plan_fix(ImageFacts(1500, 500))
    assert wide == PadFix(ratio=(5, 2), width=1500, height=600, original_width=1500, original_height=500)
    tall = plan_fix(ImageFacts(400, 1200))
    assert tall == PadFix(ratio=(2, 5), width=480, height=1200, original_width=400, original_height=1200)
    odd = plan_fix(ImageFacts(1001, 333))  # 1001 / 2.5 = 400.4: rounded up, never a hair too wide
    assert isinstance(odd, PadFix) and (odd.width, odd.height) == (1001, 401)
    assert LIMITS.image_min_aspect <= odd.width / odd.height <= LIMITS.image_max_aspect
    assert plan_fix(ImageFacts(1000, 400)) is None  # exactly 5:2 is allowed


def test_no_pad_that_would_break_the_pixel_budget() -> None:
    assert max_image_pixels() == 40_000_000  # the media checks' default budget
    # 33 MP passes the checks; padded to 5:2 it would be 48.4 MP, and refused after the click.
    assert plan_fix(ImageFacts(11000, 3000)) is None
    assert plan_fix(ImageFacts(11000, 3000), max_pixels=50_000_000) is not None
    assert plan_fix(ImageFacts(10000, 3000)) is not None  # 10000×4000 is exactly the budget
    assert plan_fix(ImageFacts(512, 768)) is None


def test_a_fix_says_what_it_does_and_costs_in_both_languages() -> None:
    trim = plan_fix(VideoFacts(40.04, "image"))
    assert isinstance(trim, TrimFix)
    assert str(trim.label()) == "Trim to the first 10 s"
    assert trim.label().render("zh-CN") == "剪取前 10 秒"
    assert str(trim.explain(10)) == (
        "Trim to the first 10 s: your video (40.0 s) is cut to its first 10 s and the job goes on. "
        "The result will be at most 10 s long and cost at most 10 credits."
    )
    assert "10 积分" in trim.explain(10).render("zh-CN")
    pad = plan_fix(ImageFacts(1500, 500))
    assert isinstance(pad, PadFix) and pad.output_seconds is None
    assert str(pad.label()) == "Pad to 5:2"
    assert "1500×600 px" in str(pad.explain(7)) and "7 credits" in str(pad.explain(7))
    assert "5:2" in pad.label().render("zh-CN")


def test_fixed_files_keep_their_extension() -> None:
    assert fixed_filename("dance.MOV", TrimFix(10.0, 40.0, "image")) == "dance-first-10s.MOV"
    assert fixed_filename("me.png", PadFix((5, 2), 1500, 600, 1500, 500)) == "me-padded-5x2.png"


# --- measuring: a fix is offered only when it is the one thing wrong -------------------------


def test_measure_video_finds_a_long_clip_and_only_that(tmp_path: Path) -> None:
    long_clip = make_video(tmp_path / "long.mp4", seconds=12)
    assert measure_video(long_clip, "long.mp4", "image") == VideoFacts(seconds=12.0, orientation="image")
    assert plan_fix(VideoFacts(12.0, "image")) is not None
    small_and_long = make_video(tmp_path / "small.mp4", width=200, height=200, seconds=12)
    assert measure_video(small_and_long, "small.mp4", "image") is None  # trimming would not help
    assert measure_video(long_clip, "long.avi", "image") is None


def test_measure_image_finds_a_bad_aspect_and_only_that(tmp_path: Path) -> None:
    wide = make_image(tmp_path / "wide.png", 900, 300)
    assert measure_image(wide, "wide.png") == ImageFacts(900, 300)
    narrow_and_small = make_image(tmp_path / "strip.png", 900, 200)  # 200 px is under the 300 px minimum
    assert measure_image(narrow_and_small, "strip.png") is None
    assert measure_image(tmp_path / "missing.png", "missing.png") is None


# --- trimming --------------------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "cap"), [("video", 30.0), ("image", 10.0)])
def test_a_40_s_clip_is_trimmed_by_copying_its_packets(
    tmp_path: Path, forty_seconds: Path, orientation: str, cap: float
) -> None:
    source = forty_seconds
    before = digest(source)
    with pytest.raises(MediaRejected):
        check_video(source, "dance.mp4", orientation)
    fix = plan_fix(measure_video(source, "dance.mp4", orientation))  # type: ignore[arg-type]
    assert isinstance(fix, TrimFix)
    dest = tmp_path / fixed_filename("dance.mp4", fix)

    result = apply_fix_sync(fix, source, dest)

    assert result.method == "copy"
    info = check_video(dest, dest.name, orientation)
    assert info == result.info
    assert cap - 0.5 <= info.seconds <= cap
    assert info.has_audio and info.codec == "h264"
    kept = video_packets(dest)
    assert kept == video_packets(source)[: len(kept)]  # the same compressed frames: nothing re-encoded
    assert len(kept) == round(info.seconds * 10)
    assert digest(source) == before


def test_b_frames_still_allow_a_copy_at_the_end_of_a_group(tmp_path: Path) -> None:
    source = make_gop_video(tmp_path / "b.mp4", fps=10, seconds=40, x264_params="bframes=3:b-adapt=0:keyint=50")
    fix = TrimFix(10.0, 40.0, "image")
    result = apply_fix_sync(fix, source, tmp_path / "b-first-10s.mp4")
    assert result.method == "copy"
    assert 9.0 <= result.info.seconds <= 10.0  # type: ignore[union-attr]
    kept = video_packets(result.path)
    assert kept == video_packets(source)[: len(kept)]


def test_without_a_clean_cut_within_the_cap_the_clip_is_re_encoded(tmp_path: Path) -> None:
    # One frame a second, 16 B-frames in a row: the only clean cuts are 1 s and 18 s in.
    source = make_gop_video(
        tmp_path / "gop.mp4", fps=1, seconds=40, x264_params="bframes=16:b-adapt=0:scenecut=0", rotation=90
    )
    assert trim._copy_cut(source, 10.0, 3.0) is None  # what forces the re-encode below
    fix = TrimFix(10.0, 40.0, "image")
    result = apply_fix_sync(fix, source, tmp_path / "gop-first-10s.mp4")
    assert result.method == "encode"
    info = check_video(result.path, result.path.name, "image")
    assert info.seconds == pytest.approx(10.0) and info.codec == "h264"
    assert not set(video_packets(result.path)) & set(video_packets(source))
    assert first_rotation(result.path) == 90  # a phone's "sideways" flag survives the re-encode


def test_a_copy_that_would_lose_too_much_is_re_encoded_instead(tmp_path: Path) -> None:
    source = make_gop_video(tmp_path / "gop.mp4", fps=1, seconds=40, x264_params="bframes=16:b-adapt=0:scenecut=0")
    assert trim._copy_cut(source, 30.0, 3.0) is not None  # 18 s could be copied...
    result = apply_fix_sync(TrimFix(30.0, 40.0, "video"), source, tmp_path / "out.mp4")
    assert result.method == "encode"  # ...but the member asked for 30 s
    assert result.info.seconds == pytest.approx(30.0)  # type: ignore[union-attr]


def test_a_copy_keeps_the_rotation(tmp_path: Path) -> None:
    source = make_gop_video(tmp_path / "r.mp4", fps=10, seconds=12, x264_params="keyint=20", rotation=90)
    result = apply_fix_sync(TrimFix(10.0, 12.0, "image"), source, tmp_path / "r-out.mp4")
    assert result.method == "copy" and first_rotation(result.path) == 90


def test_a_mov_stays_a_mov(tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mov", seconds=12, audio=True)
    result = apply_fix_sync(TrimFix(10.0, 12.0, "image"), source, tmp_path / "clip-first-10s.mov")
    assert result.info.container == "mov" and result.info.has_audio  # type: ignore[union-attr]


async def test_apply_fix_runs_off_the_event_loop_and_never_overwrites(tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4", seconds=12)
    result = await apply_fix(TrimFix(10.0, 12.0, "image"), source, tmp_path / "out.mp4")
    assert result.path.is_file() and not list(tmp_path.glob(".*part*"))
    with pytest.raises(ValueError):
        await apply_fix(TrimFix(10.0, 12.0, "image"), source, source)


def test_an_unreadable_clip_is_a_clear_refusal(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(FixFailed) as caught:
        apply_fix_sync(TrimFix(10.0, 40.0, "image"), junk, tmp_path / "out.mp4")
    assert "trim it yourself" in str(caught.value)
    assert not (tmp_path / "out.mp4").exists()


# --- padding ---------------------------------------------------------------------------------


def test_a_3_to_1_image_is_padded_to_5_to_2_around_the_original(tmp_path: Path) -> None:
    source = tmp_path / "wide.png"
    halves = Image.new("RGB", (1500, 500), (230, 200, 170))  # light left half, dark right half
    halves.paste((20, 40, 90), (750, 0, 1500, 500))
    halves.paste((250, 250, 250), (700, 200, 800, 300))  # and a mark in the middle
    halves.save(source)
    before = digest(source)
    with pytest.raises(MediaRejected):
        check_image(source, "wide.png")
    fix = plan_fix(measure_image(source, "wide.png"))  # type: ignore[arg-type]
    assert isinstance(fix, PadFix) and fix.ratio == (5, 2)
    dest = tmp_path / fixed_filename("wide.png", fix)

    result = apply_fix_sync(fix, source, dest)

    info = check_image(dest, dest.name)
    assert (info.width, info.height, info.format) == (1500, 600, "PNG") and result.info == info
    with Image.open(dest) as padded:
        pixels = np.asarray(padded.convert("RGB"), dtype=np.int16)
    assert np.array_equal(pixels[50:550], np.asarray(halves, dtype=np.int16))  # the original, untouched, centred
    # The bands are the image itself, enlarged and blurred: light left, dark right, no hard edge between.
    for band in (pixels[:50], pixels[550:]):
        row = band[25]
        assert row[:300].mean() > 150 and row[-300:].mean() < 80
        assert np.abs(np.diff(row.mean(axis=1))).max() < 20
    assert digest(source) == before


def test_a_tall_jpeg_is_padded_to_2_to_5_and_stays_a_jpeg(tmp_path: Path) -> None:
    source = make_image(tmp_path / "tall.jpg", 400, 1200)
    fix = plan_fix(measure_image(source, "tall.jpg"))  # type: ignore[arg-type]
    assert isinstance(fix, PadFix) and fix.ratio == (2, 5)
    result = apply_fix_sync(fix, source, tmp_path / fixed_filename("tall.jpg", fix))
    info = check_image(result.path, result.path.name)
    assert (info.format, info.width, info.height) == ("JPEG", 480, 1200)
    with Image.open(source) as original, Image.open(result.path) as padded:
        centre = np.asarray(padded.convert("RGB"), dtype=np.int16)[:, 40:440]
        assert np.abs(centre - np.asarray(original.convert("RGB"), dtype=np.int16)).mean() < 3  # JPEG's loss only


def test_a_sideways_photo_is_padded_as_it_is_shown(tmp_path: Path) -> None:
    source = tmp_path / "phone.jpg"
    raw = Image.new("RGB", (900, 300), (200, 50, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° to show": displayed 300 wide, 900 tall
    raw.save(source, format="JPEG", exif=exif)
    facts = measure_image(source, "phone.jpg")
    assert facts == ImageFacts(300, 900)
    fix = plan_fix(facts)  # type: ignore[arg-type]
    assert isinstance(fix, PadFix) and fix.ratio == (2, 5)
    result = apply_fix_sync(fix, source, tmp_path / "phone-padded.jpg")
    with Image.open(result.path) as padded:
        assert padded.size == (360, 900) and padded.getexif().get(0x0112) in (None, 1)  # upright pixels


def test_a_transparent_png_keeps_its_transparency_in_the_middle(tmp_path: Path) -> None:
    source = tmp_path / "cutout.png"
    cutout = Image.new("RGBA", (1500, 500), (0, 0, 0, 0))
    cutout.paste((240, 200, 170, 255), (600, 100, 900, 400))
    cutout.save(source)
    fix = plan_fix(ImageFacts(1500, 500))
    result = apply_fix_sync(fix, source, tmp_path / "cutout-padded.png")  # type: ignore[arg-type]
    with Image.open(result.path) as padded:
        assert padded.mode == "RGBA"
        assert np.array_equal(np.asarray(padded)[50:550], np.asarray(cutout))
