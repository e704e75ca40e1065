"""Media checks that run before any money is spent.

Two stages, both against a provider's `MotionLimits` table (bot/limits.py):

- `precheck_image` / `precheck_video`: from what Discord tells us about an
  attachment before we download it (name, byte size, content type, and
  width/height when Discord knows them). Cheap; refuses obvious misfits early.
- `check_image` / `check_video`: from the real bytes on disk, with Pillow and
  PyAV. Synchronous and CPU-bound: callers run them in a thread.

Images are also held to a pixel budget of ours (`MAX_IMAGE_PIXELS`), a memory
limit rather than a provider's: a PNG of a few hundred KB can declare 100
megapixels and take gigabytes to decode. It is checked from the header before
anything is decoded, and Pillow's own bomb limit is kept at the same number, so
an image that passed the check never trips Pillow's warning later. Code that
needs the picture itself (the simulator, previews) uses `open_reduced`.

Every refusal is a `MediaRejected` whose text is one plain sentence naming the
limit and the value found. Both stages build their sentences with the same
helpers, so a user sees the same wording whichever stage caught the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin
from pydantic import BaseModel

from bot.errors import Refusal
from bot.i18n import OrList, Text
from bot.limits import KLING_MOTION_LIMITS, MB, SECONDS_TOLERANCE, MotionLimits

# PyAV's name for the demuxer that reads the whole QuickTime/ISO-BMFF family.
MOV_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"

# Box types that can open a QuickTime/MP4 file. We sniff these before handing
# the file to FFmpeg so that "not an MP4 at all" and "a damaged MP4" get
# different, accurate sentences.
_MOV_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})

# A cut-off upload loses seconds, not milliseconds; this slack keeps honest files
# whose header and packet timings disagree by a frame or two (edit lists,
# rounding) from being called damaged.
_DAMAGE_SLACK_SECONDS = 0.5

# Proving the codec works needs one decoded frame; a broken stream must not
# make us decode the whole file looking for it.
_FIRST_FRAME_MAX_PACKETS = 64

# Aspect ratios are compared as floats; the smallest real gap between a legal
# and an illegal ratio at 65,536 px is about 3e-6, far above this epsilon,
# which only absorbs float rounding (e.g. 300/750 vs 1/2.5).
_ASPECT_EPSILON = 1e-9

# Our default pixel budget: about what the providers' 10 MB cap lets through in
# practice (a photo-quality 10 MB JPEG holds some 30-50 MP), and small enough
# that decoding one (Pillow keeps RGB at 4 bytes a pixel) stays near 160 MB.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

# Signatures of the formats any provider takes, mapped to Pillow's header
# readers. Reading the header through them (rather than Image.open) skips
# Pillow's bomb check, whose error would hide the size we want to name.
_HEADER_READERS: dict[bytes, Callable[[BinaryIO], ImageFile.ImageFile]] = {
    b"\x89PNG\r\n\x1a\n": PngImagePlugin.PngImageFile,
    b"\xff\xd8\xff": JpegImagePlugin.jpeg_factory,
}

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


# --- stage 2: the real bytes --------------------------------------------------

_DAMAGED_IMAGE = Text("image is damaged or not a real JPEG/PNG")


def check_image(path: Path, filename: str, limits: MotionLimits = KLING_MOTION_LIMITS) -> ImageInfo:
    """Check an image on disk. The real format decides; the name must still carry
    an allowed extension (a JPEG named .png is fine, a GIF named .png is not).
    Sizes come from the header; nothing is decoded past it until they pass."""
    _check_extension("image", filename, limits.image_extensions)
    size = path.stat().st_size
    _check_bytes("image", size, limits.image_max_bytes)
    with path.open("rb") as fp:
        try:
            img = _read_header(fp)
        except Exception:
            # Anything Pillow trips on (unknown format, truncation, bad checksums)
            # is the same answer for the user.
            raise MediaRejected("image", _DAMAGED_IMAGE) from None
        with img:
            # Phone cameras save multi-picture JPEGs, which Pillow names "MPO";
            # the first picture is an ordinary JPEG and every decoder reads it.
            fmt = "JPEG" if img.format == "MPO" else (img.format or "unknown")
            if fmt not in limits.image_formats:
                raise MediaRejected(
                    "image", Text("image is a {format} file; it must be {allowed}", format=fmt, allowed=OrList(limits.image_formats))
                )
            width, height = img.size
            _check_image_dimensions(width, height, limits)
            try:
                _prove_image_intact(img, fmt)
            except Exception:
                raise MediaRejected("image", _DAMAGED_IMAGE) from None
    return ImageInfo(format=fmt, width=width, height=height, size=size)


def _read_header(fp: BinaryIO) -> ImageFile.ImageFile:
    """The image with its header read and no pixel decoded."""
    prefix = fp.read(16)
    fp.seek(0)
    for signature, reader in _HEADER_READERS.items():
        if prefix.startswith(signature):
            return reader(fp)
    # Not a format any provider takes: Image.open only has to name it for the
    # refusal. Its own bomb check may refuse a huge one first, as damaged: fine.
    return Image.open(fp)


def _prove_image_intact(img: Image.Image, fmt: str) -> None:
    """Find truncation or corruption without decoding a possibly huge image."""
    if fmt == "PNG":
        # Walks every chunk and checks its CRC, without inflating pixels.
        img.verify()
    else:
        # JPEG can decode at 1/2..1/8 scale; decoding the small version still
        # reads every byte, so a cut-off file raises "image file is truncated".
        img.draft("RGB", (256, 256))
        img.load()


def open_reduced(path: Path, max_side: int) -> Image.Image:
    """The picture as RGB, upright (EXIF orientation applied), at most `max_side`
    on its long side: for code that needs pixels, not a verdict (the simulator, previews).

    A JPEG is decoded at a reduced scale straight away (Image.draft: 1/2 to 1/8); a
    PNG has no such mode, so it is decoded once at full size, which the pixel budget
    bounds, and reduced in place before any copy is made.
    """
    with path.open("rb") as fp, _read_header(fp) as img:
        width, height = img.size
        _check_pixels(width, height)
        scale = min(1.0, max_side / max(width, height))
        # the smallest JPEG scale that still covers the target (thumbnail's own draft asks for twice it)
        img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        img.thumbnail((max_side, max_side))
        return ImageOps.exif_transpose(img).convert("RGB")


def check_video(path: Path, filename: str, orientation: str, limits: MotionLimits = KLING_MOTION_LIMITS) -> VideoInfo:
    """Check a video on disk: container, stream, sides, real duration, and that
    the first frame decodes. Never reads the whole file into memory."""
    if orientation not in ("image", "video"):
        raise MediaRejected("options", Text("orientation must be image or video; got {orientation}", orientation=repr(orientation)))
    _check_extension("video", filename, limits.video_extensions)
    size = path.stat().st_size
    _check_bytes("video", size, limits.video_max_bytes)

    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 8 or head[4:8] not in _MOV_FIRST_BOXES:
            raise MediaRejected("video", Text("video is not an MP4/MOV video (its contents are some other kind of file)"))
        f.seek(0)
        # An old QuickTime file has no ftyp box; a modern one says "qt  ".
        container_name = "mov" if head[4:8] != b"ftyp" or head[8:12] == b"qt  " else "mp4"
        try:
            # Forcing the mov demuxer (rather than letting FFmpeg guess) keeps
            # other demuxers, such as playlists that open further files, out of
            # reach; reading through our file object keeps FFmpeg's protocols out too.
            with av.open(f, format="mov") as container:
                info = _inspect_video(container, container_name, size, limits)
        except MediaRejected:
            raise
        except Exception:
            # Typically "moov atom not found": an upload cut off before the index.
            raise MediaRejected("video", Text("video is damaged or incomplete (it could not be read); upload it again")) from None

    _check_duration(info.seconds, orientation, limits)
    return info


def _inspect_video(container: av.container.InputContainer, container_name: str, size: int, limits: MotionLimits) -> VideoInfo:
    # PyAV names the demuxer as it was asked for ("mov" here, since we force
    # it) or by its full name when FFmpeg guessed; either must be of the family.
    if container.format.name not in (MOV_FAMILY, *MOV_FAMILY.split(",")):
        raise MediaRejected("video", Text("video is not an MP4/MOV video"))
    if not container.streams.video:
        raise MediaRejected("video", Text("video has no video track"))
    stream = container.streams.video[0]
    ctx = stream.codec_context
    _check_sides("video", ctx.width, ctx.height, limits.video_min_side, limits.video_max_side)

    first_pts: int | None = None
    end_pts: int | None = None
    fed = 0
    decoded = False
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue  # demux ends with an empty flush packet
        # B-frames arrive out of presentation order, hence min/max.
        first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
        end = packet.pts + (packet.duration or 0)
        end_pts = end if end_pts is None else max(end_pts, end)
        if not decoded and fed < _FIRST_FRAME_MAX_PACKETS:
            fed += 1
            decoded = bool(ctx.decode(packet))
    if not decoded and fed:
        # Decoders with delay (threads, B-frames) hold frames until flushed.
        decoded = bool(ctx.decode(None))
    if first_pts is None or end_pts is None or stream.time_base is None:
        raise MediaRejected("video", Text("video is damaged or incomplete (it has no frames); upload it again"))
    if not decoded:
        raise MediaRejected(
            "video", Text("video could not be decoded (codec {codec}); re-export it as an H.264 MP4 and try again", codec=ctx.name)
        )

    seconds = float((end_pts - first_pts) * stream.time_base)
    # The header's duration comes from the index at the start or end of the
    # file; if the packets stop well short of it, the data was cut off.
    if stream.duration:
        header_seconds = float(stream.duration * stream.time_base)
        if seconds < header_seconds - _DAMAGE_SLACK_SECONDS:
            raise MediaRejected(
                "video",
                Text(
                    "video is damaged or incomplete: its data ends at {data_seconds} s but its header says "
                    "{header_seconds} s; upload it again",
                    data_seconds=f"{seconds:.1f}", header_seconds=f"{header_seconds:.1f}",
                ),
            )
    rate = stream.average_rate
    return VideoInfo(
        container=container_name,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        seconds=seconds,
        fps=float(rate) if rate else None,
        has_audio=bool(container.streams.audio),
        size=size,
    )


def _check_duration(seconds: float, orientation: str, limits: MotionLimits) -> None:
    low = limits.video_min_seconds
    if seconds < low - SECONDS_TOLERANCE:
        raise MediaRejected("video", Text("video is {seconds} s; the minimum is {minimum} s", seconds=_num(seconds, low), minimum=_limit(low)))
    high = limits.video_max_for(orientation)
    if seconds > high + SECONDS_TOLERANCE:
        if orientation == "image" and seconds <= limits.video_max_seconds + SECONDS_TOLERANCE:
            advice = Text("use orientation=video or trim it")
        else:
            advice = Text("trim it")
        raise MediaRejected(
            "video",
            Text(
                "video is {seconds} s; with orientation={orientation} the limit is {limit} s — {advice}",
                seconds=_num(seconds, high), orientation=orientation, limit=_limit(high), advice=advice,
            ),
        )
