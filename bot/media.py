"""Media checks that run before any money is spent.

Two stages, both against a provider's `MotionLimits` table (bot/limits.py):

- `precheck_image` / `precheck_video`: from what Discord tells us about an
  attachment before we download it (name, byte size, content type, and
  width/height when Discord knows them). Cheap; refuses obvious misfits early.
- `check_image` / `check_video`: from the real bytes on disk, with Pillow and
  PyAV. Synchronous and CPU-bound: callers run them in a thread. They live in
  bot/media_image.py and bot/media_video.py; this module holds what both stages
  share: the refusal type, the attachment and info types, the sentence helpers,
  the pixel budget, and stage 1.

Images are also held to a pixel budget of ours (`MAX_IMAGE_PIXELS`), a memory
limit rather than a provider's: a PNG of a few hundred KB can declare 100
megapixels and take gigabytes to decode. It is checked from the header before
anything is decoded, and Pillow's own bomb limit is kept at the same number, so
an image that passed the check never trips Pillow's warning later. Code that
needs the picture itself (the simulator, previews) uses `open_reduced`
(bot/media_image.py).

Every refusal is a `MediaRejected` whose text is one plain sentence naming the
limit and the value found. Both stages build their sentences with the same
helpers, so a user sees the same wording whichever stage caught the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from pydantic import BaseModel

from bot.errors import Refusal
from bot.i18n import OrList, Text
from bot.limits import KLING_MOTION_LIMITS, MB, MotionLimits

# Aspect ratios are compared as floats; the smallest real gap between a legal
# and an illegal ratio at 65,536 px is about 3e-6, far above this epsilon,
# which only absorbs float rounding (e.g. 300/750 vs 1/2.5).
_ASPECT_EPSILON = 1e-9

# Our default pixel budget: about what the providers' 10 MB cap lets through in
# practice (a photo-quality 10 MB JPEG holds some 30-50 MP), and small enough
# that decoding one (Pillow keeps RGB at 4 bytes a pixel) stays near 160 MB.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

# Discord (and browsers) send this when they do not know the type: it says
# nothing about the file, so it is treated like "no content type given".
_UNKNOWN_CONTENT_TYPE = "application/octet-stream"


class MediaRejected(Refusal):
    """An input breaks a limit; the message (a catalogue Text) names the limit and the value found."""

    def __init__(self, field: str, message: Text) -> None:
        super().__init__(message)
        self.field = field  # "image" | "video" | "prompt" | "options"


@dataclass(frozen=True)
class AttachmentMeta:
    """What Discord tells us about an attachment before download."""

    filename: str
    size: int
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


class ImageInfo(BaseModel):
    format: str  # Pillow's name: "JPEG" or "PNG"
    width: int
    height: int
    size: int  # bytes


class VideoInfo(BaseModel):
    container: str  # "mp4" or "mov", from the file's brand
    codec: str  # FFmpeg codec name, e.g. "h264"
    width: int  # as coded (rotation metadata is not applied)
    height: int
    seconds: float  # measured from the packets, not taken from the header
    fps: float | None
    has_audio: bool
    size: int  # bytes


# --- sentence helpers (shared by prechecks and byte checks) -------------------


def _num(value: float, limit: float, decimals: int = 1) -> str:
    """`value` with `decimals` places, or more if rounding would put it on the
    wrong side of (or onto) the limit it broke: 10,000,001 bytes must not read
    "10.0 MB; the limit is 10 MB"."""
    text = repr(value)
    for places in range(decimals, 8):
        text = f"{value:.{places}f}"
        shown = float(text)
        if shown != limit and (shown > limit) == (value > limit):
            break
    return text


def _limit(value: float) -> str:
    """A limit as people write it: 10, 2.5, 100 (no trailing .0)."""
    return f"{value:g}"


# The input names as a sentence shows them (the field name in the member's language).
FIELD_NAMES = {
    "image": Text("image", msgctxt="field"),
    "video": Text("video", msgctxt="field"),
    "prompt": Text("prompt", msgctxt="field"),
    "options": Text("options", msgctxt="field"),
}


def _extension(filename: str) -> str:
    return Path(filename).suffix.lower()


def _check_extension(field: str, filename: str, allowed: tuple[str, ...]) -> None:
    ext = _extension(filename)
    if ext not in allowed:
        found = Text("a {extension} file", extension=ext) if ext else Text("a file with no extension")
        raise MediaRejected(
            field,
            Text(
                "{field} must be a {allowed} file; got {found} ({filename})",
                field=FIELD_NAMES[field], allowed=OrList(allowed), found=found, filename=filename,
            ),
        )


def _check_content_type(field: str, content_type: str | None, allowed: tuple[str, ...], kinds: tuple[str, ...]) -> None:
    if content_type is None:
        return
    # "video/mp4; codecs=..." -> "video/mp4"
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not ctype or ctype == _UNKNOWN_CONTENT_TYPE:
        return
    if ctype not in allowed:
        raise MediaRejected(
            field,
            Text(
                "{field} must be {kinds}; Discord reports its type as {content_type}",
                field=FIELD_NAMES[field], kinds=OrList(kinds), content_type=ctype,
            ),
        )


def _check_bytes(field: str, size: int, limit: int) -> None:
    if size > limit:
        limit_mb = limit / MB
        raise MediaRejected(
            field,
            Text(
                "{field} is {size} MB; the limit is {limit} MB",
                field=FIELD_NAMES[field], size=_num(size / MB, limit_mb), limit=_limit(limit_mb),
            ),
        )


def _check_sides(field: str, width: int, height: int, min_side: int, max_side: int) -> None:
    if min(width, height) < min_side:
        raise MediaRejected(
            field,
            Text(
                "{field} is {width}×{height} px; each side must be at least {min_side} px",
                field=FIELD_NAMES[field], width=width, height=height, min_side=f"{min_side:,}",
            ),
        )
    if max(width, height) > max_side:
        raise MediaRejected(
            field,
            Text(
                "{field} is {width}×{height} px; each side must be at most {max_side} px",
                field=FIELD_NAMES[field], width=width, height=height, max_side=f"{max_side:,}",
            ),
        )


def _check_aspect(width: int, height: int, limits: MotionLimits) -> None:
    aspect = width / height
    if limits.image_min_aspect - _ASPECT_EPSILON <= aspect <= limits.image_max_aspect + _ASPECT_EPSILON:
        return
    tall_bound = round(1 / limits.image_min_aspect, 6)  # 1 / (1/2.5) -> 2.5
    wide_bound = limits.image_max_aspect
    if aspect < 1:
        shown = f"1:{_num(height / width, tall_bound, 2)}"
    else:
        shown = f"{_num(aspect, wide_bound, 2)}:1"
    raise MediaRejected(
        "image",
        Text(
            "image is {width}×{height} px (aspect {aspect}); the aspect ratio must be between 1:{tall} and {wide}:1",
            width=width, height=height, aspect=shown, tall=_limit(tall_bound), wide=_limit(wide_bound),
        ),
    )


def set_max_image_pixels(limit: int) -> None:
    """Set the pixel budget (the MAX_IMAGE_PIXELS setting) for this process.

    It is Pillow's own `Image.MAX_IMAGE_PIXELS`, so there is one number: Pillow
    warns above it and refuses above twice it, and our checks refuse above it
    first, from the header, with a sentence naming both numbers.
    """
    if limit < 1:
        raise ValueError(f"the pixel limit must be positive; got {limit}")
    Image.MAX_IMAGE_PIXELS = limit


def max_image_pixels() -> int | None:
    return Image.MAX_IMAGE_PIXELS  # None only if someone turned Pillow's check off


# Importing the checks applies our default; the entry point then applies the setting.
set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


def _check_pixels(width: int, height: int) -> None:
    limit = max_image_pixels()
    if limit is not None and width * height > limit:
        raise MediaRejected(
            "image",
            Text(
                "image is {width}×{height} px ({megapixels} megapixels); the limit is {limit} megapixels",
                width=width, height=height, megapixels=_num(width * height / 1e6, limit / 1e6), limit=_limit(limit / 1e6),
            ),
        )


def _check_image_dimensions(width: int, height: int, limits: MotionLimits) -> None:
    _check_sides("image", width, height, limits.image_min_side, limits.image_max_side)
    _check_aspect(width, height, limits)
    _check_pixels(width, height)


# --- stage 1: metadata only ---------------------------------------------------


def precheck_image(meta: AttachmentMeta, limits: MotionLimits = KLING_MOTION_LIMITS) -> None:
    """Refuse an image attachment from Discord's metadata alone, before download."""
    _check_extension("image", meta.filename, limits.image_extensions)
    _check_content_type("image", meta.content_type, limits.image_content_types, limits.image_formats)
    _check_bytes("image", meta.size, limits.image_max_bytes)
    if meta.width is not None and meta.height is not None:
        _check_image_dimensions(meta.width, meta.height, limits)


def precheck_video(meta: AttachmentMeta, limits: MotionLimits = KLING_MOTION_LIMITS) -> None:
    """Refuse a video attachment from Discord's metadata alone, before download."""
    _check_extension("video", meta.filename, limits.video_extensions)
    _check_content_type("video", meta.content_type, limits.video_content_types, ("MP4", "MOV"))
    _check_bytes("video", meta.size, limits.video_max_bytes)
    if meta.width is not None and meta.height is not None:
        _check_sides("video", meta.width, meta.height, limits.video_min_side, limits.video_max_side)


def check_prompt(prompt: str, limits: MotionLimits = KLING_MOTION_LIMITS) -> None:
    # len() counts code points; the provider's own count may differ for emoji
    # (unconfirmed), which only matters within a few characters of the limit.
    if len(prompt) > limits.prompt_max_chars:
        raise MediaRejected(
            "prompt",
            Text(
                "prompt is {length} characters; the limit is {limit}",
                length=f"{len(prompt):,}", limit=f"{limits.prompt_max_chars:,}",
            ),
        )
