"""When the input is almost right: offer to fix the two most common refusals instead of refusing.

- A reference clip longer than the cap for its orientation -> **Trim to the first N s**.
- An image whose aspect ratio is outside the allowed range -> **Pad to W:H** (the image centred
  on a blurred, enlarged copy of itself).

Two steps, so the member can be told exactly what will happen (and what it costs) before it does:

1. `measure_video` / `measure_image` (blocking; run in a thread) run the normal media checks with
   only the fixable limit relaxed. They return the facts when that limit is the ONLY problem, and
   None otherwise: a fix is never offered for a file that would still be refused afterwards.
   `plan_fix(facts)` (no I/O) turns the facts into a `TrimFix` or `PadFix`, or None when nothing is
   wrong. A fix carries its button label and the sentence saying what it does and costs.
2. `apply_fix(fix, source, dest)` writes the fixed file in a worker thread (never touching the
   original), then runs the same check_image/check_video on the result and returns its info.

Trimming (bot/trim.py) copies the compressed packets when it can (no quality loss, fast) and
re-encodes H.264 only when no clean cut lies close enough before the cap.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from PIL import Image, ImageFilter, ImageOps

from bot.errors import Refusal
from bot.i18n import Text
from bot.limits import KLING_MOTION_LIMITS, MotionLimits
from bot.media import ImageInfo, MediaRejected, VideoInfo, max_image_pixels
from bot.media_image import check_image
from bot.media_video import check_video
from bot.models import Orientation
from bot.trim import TrimMethod, trim_video

# The blurred background is made at this size and enlarged: a blur hides the lost detail, and
# blurring a 65,536 px canvas at full size would take seconds and gigabytes.
BACKGROUND_WORK_SIDE = 256
BACKGROUND_BLUR_SHARE = 1 / 25  # blur radius as a share of the working size's long side
JPEG_QUALITY = 95
_EXIF_ORIENTATION = 0x0112
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90° or 270°


class FixFailed(Refusal):
    """The fix could not be made (e.g. the file cannot be decoded past its first frames)."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


@dataclass(frozen=True)
class VideoFacts:
    seconds: float  # measured from the packets, as check_video measures it
    orientation: Orientation


@dataclass(frozen=True)
class ImageFacts:
    width: int  # as displayed (EXIF rotation applied): what the fixed file will contain
    height: int


@dataclass(frozen=True)
class TrimFix:
    """Keep the first `seconds` of the reference video."""

    seconds: float
    original_seconds: float
    orientation: Orientation

    @property
    def output_seconds(self) -> float:
        """An upper bound of the new length, which sets the price (a copy may cut a little earlier)."""
        return self.seconds

    def label(self) -> Text:
        return Text("Trim to the first {seconds} s", msgctxt="button", seconds=_number(self.seconds))

    def explain(self, credits: int) -> Text:
        """What the button does and costs; `credits` is the price of `output_seconds`."""
        return Text(
            "Trim to the first {limit} s: your video ({seconds} s) is cut to its first {limit} s and the job "
            "goes on. The result will be at most {limit} s long and cost at most {credits} credits.",
            limit=_number(self.seconds),
            seconds=f"{self.original_seconds:.1f}",
            credits=credits,
        )


@dataclass(frozen=True)
class PadFix:
    """Enlarge the canvas to `width`×`height` (aspect `ratio`), the image in its middle."""

    ratio: tuple[int, int]  # W:H, e.g. (5, 2)
    width: int
    height: int
    original_width: int
    original_height: int

    @property
    def output_seconds(self) -> None:
        """The image does not change the video's length, so the price stays as it was."""
        return None

    @property
    def ratio_text(self) -> str:
        return f"{self.ratio[0]}:{self.ratio[1]}"

    def label(self) -> Text:
        return Text("Pad to {ratio}", msgctxt="button", ratio=self.ratio_text)

    def explain(self, credits: int) -> Text:
        return Text(
            "Pad to {ratio}: your image ({width}×{height} px) is placed in the middle of a blurred, enlarged "
            "copy of itself, making it {new_width}×{new_height} px, and the job goes on. "
            "The price does not change: {credits} credits.",
            ratio=self.ratio_text,
            width=self.original_width,
            height=self.original_height,
            new_width=self.width,
            new_height=self.height,
            credits=credits,
        )


Fix = TrimFix | PadFix


@dataclass(frozen=True)
class FixResult:
    path: Path
    info: ImageInfo | VideoInfo  # the checks' answer for the fixed file
    method: TrimMethod | Literal["pad"]


# --- planning (pure) ------------------------------------------------------------------------------


def plan_fix(
    facts: VideoFacts | ImageFacts, limits: MotionLimits = KLING_MOTION_LIMITS, *, max_pixels: int | None = None
) -> Fix | None:
    """The fix for these facts, or None when they break no fixable limit (or the fix would break
    another: a padded image must stay within `max_pixels`, by default the media checks' budget)."""
    if isinstance(facts, VideoFacts):
        cap = limits.video_max_for(facts.orientation)
        if facts.seconds <= cap:
            return None
        return TrimFix(seconds=cap, original_seconds=facts.seconds, orientation=facts.orientation)
    return _plan_pad(facts.width, facts.height, limits, max_image_pixels() if max_pixels is None else max_pixels)


def _plan_pad(width: int, height: int, limits: MotionLimits, max_pixels: int | None) -> PadFix | None:
    aspect = Fraction(width, height)
    widest, tallest = _ratio(limits.image_max_aspect), _ratio(limits.image_min_aspect)
    if aspect > widest:  # too wide: add height
        bound, new_width, new_height = widest, width, math.ceil(width / widest)
    elif aspect < tallest:  # too tall: add width
        bound, new_width, new_height = tallest, math.ceil(height * tallest), height
    else:
        return None
    if max(new_width, new_height) > limits.image_max_side:
        return None
    if max_pixels is not None and new_width * new_height > max_pixels:
        return None
    return PadFix(
        ratio=(bound.numerator, bound.denominator),
        width=new_width,
        height=new_height,
        original_width=width,
        original_height=height,
    )


def _ratio(limit: float) -> Fraction:
    """A float aspect limit as the ratio people write (0.4 -> 2/5), when the float IS that ratio.

    Sizes are computed from this fraction exactly and rounded outwards, so their float aspect
    (correctly rounded) never falls outside the float limit the media checks compare with.
    """
    shown = Fraction(limit).limit_denominator(100)
    return shown if float(shown) == limit else Fraction(limit)


def fixed_filename(filename: str, fix: Fix) -> str:
    """"clip.mp4" -> "clip-first-10s.mp4"; "me.png" -> "me-padded-5x2.png" (the extension is kept)."""
    path = Path(filename)
    tag = f"first-{_number(fix.seconds)}s" if isinstance(fix, TrimFix) else f"padded-{fix.ratio[0]}x{fix.ratio[1]}"
    return f"{path.stem}-{tag}{path.suffix}"


def _number(value: float) -> str:
    return f"{value:g}"


# --- measuring (blocking: run in a thread) -------------------------------------------------------


def measure_video(path: Path, filename: str, orientation: Orientation, limits: MotionLimits = KLING_MOTION_LIMITS) -> VideoFacts | None:
    """The clip's facts when its length is its only problem (or it has none); None otherwise."""
    relaxed = limits.model_copy(update={"video_max_seconds": math.inf, "video_max_seconds_image_orientation": math.inf})
    try:
        info = check_video(path, filename, orientation, relaxed)
    except MediaRejected:
        return None
    return VideoFacts(seconds=info.seconds, orientation=orientation)


def measure_image(path: Path, filename: str, limits: MotionLimits = KLING_MOTION_LIMITS) -> ImageFacts | None:
    """The image's displayed size when its aspect ratio is its only problem (or it has none)."""
    relaxed = limits.model_copy(update={"image_min_aspect": 0.0, "image_max_aspect": math.inf})
    try:
        info = check_image(path, filename, relaxed)
        with Image.open(path) as img:
            turned = img.getexif().get(_EXIF_ORIENTATION) in _SWAPS_SIDES
    except (MediaRejected, OSError):
        return None
    if turned:
        return ImageFacts(width=info.height, height=info.width)
    return ImageFacts(width=info.width, height=info.height)


# --- applying (the work runs in a thread) --------------------------------------------------------


async def apply_fix(fix: Fix, source: Path, dest: Path, *, limits: MotionLimits = KLING_MOTION_LIMITS) -> FixResult:
    """Write the fixed copy of `source` to `dest`, check it like any upload, and return the checks' answer.

    `dest` keeps an allowed extension (see `fixed_filename`). The original is never modified.
    Raises FixFailed when the file cannot be fixed, MediaRejected when the result breaks a limit.
    """
    return await asyncio.to_thread(apply_fix_sync, fix, source, dest, limits)


def apply_fix_sync(fix: Fix, source: Path, dest: Path, limits: MotionLimits = KLING_MOTION_LIMITS) -> FixResult:
    if source.resolve() == dest.resolve():
        raise ValueError("a fix writes a new file; dest must not be the original")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.stem}.part{dest.suffix}")
    try:
        if isinstance(fix, TrimFix):
            method: TrimMethod | Literal["pad"] = _trim(source, partial, fix.seconds, limits.video_min_seconds)
        else:
            pad_image(source, partial, fix)
            method = "pad"
        os.replace(partial, dest)  # a partial file never has the final name
    finally:
        partial.unlink(missing_ok=True)
    try:
        if isinstance(fix, TrimFix):
            info: ImageInfo | VideoInfo = check_video(dest, dest.name, fix.orientation, limits)
        else:
            info = check_image(dest, dest.name, limits)
    except MediaRejected:
        dest.unlink(missing_ok=True)
        raise
    return FixResult(path=dest, info=info, method=method)


def _trim(source: Path, dest: Path, seconds: float, min_seconds: float) -> TrimMethod:
    try:
        return trim_video(source, dest, seconds, min_seconds)
    except av.error.FFmpegError:
        raise FixFailed(Text("The video could not be read to trim it; trim it yourself and try again.")) from None


def pad_image(source: Path, dest: Path, fix: PadFix) -> None:
    """The image, upright, centred on a blurred, enlarged copy of itself, saved in its own format."""
    try:
        with Image.open(source) as opened:
            fmt = "JPEG" if opened.format in ("JPEG", "MPO") else "PNG"
            img = ImageOps.exif_transpose(opened)
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            img = img.convert("RGBA" if has_alpha and fmt == "PNG" else "RGB")
    except OSError:
        raise FixFailed(Text("The image could not be read to pad it; crop it yourself and try again.")) from None
    if img.size != (fix.original_width, fix.original_height):
        raise ValueError(f"the fix was planned for {fix.original_width}×{fix.original_height}, the image is {img.size}")
    scale = BACKGROUND_WORK_SIDE / max(fix.width, fix.height)
    small = (max(1, round(fix.width * scale)), max(1, round(fix.height * scale)))
    background = ImageOps.fit(img, small, Image.Resampling.BILINEAR)
    background = background.filter(ImageFilter.GaussianBlur(max(small) * BACKGROUND_BLUR_SHARE))
    canvas = background.resize((fix.width, fix.height), Image.Resampling.BICUBIC)
    canvas.paste(img, ((fix.width - img.width) // 2, (fix.height - img.height) // 2))
    if fmt == "JPEG":
        canvas.save(dest, format=fmt, quality=JPEG_QUALITY)
    else:
        canvas.save(dest, format=fmt)
