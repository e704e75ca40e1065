"""Media checks, stage 2 for images: the real bytes on disk, read with Pillow.

`check_image` gives the verdict (format, sides, aspect, pixel budget, intact data);
`open_reduced` gives the picture itself, small, to code that needs pixels. Synchronous
and CPU-bound: callers run them in a thread. The limits, the refusal type and the
sentence helpers live in bot/media.py, shared with the metadata prechecks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from bot.i18n import OrList, Text
from bot.limits import KLING_MOTION_LIMITS, MotionLimits
from bot.media import (
    ImageInfo,
    MediaRejected,
    _check_bytes,
    _check_extension,
    _check_image_dimensions,
    _check_pixels,
)

# Signatures of the formats any provider takes, mapped to Pillow's header
# readers. Reading the header through them (rather than Image.open) skips
# Pillow's bomb check, whose error would hide the size we want to name.
_HEADER_READERS: dict[bytes, Callable[[BinaryIO], ImageFile.ImageFile]] = {
    b"\x89PNG\r\n\x1a\n": PngImagePlugin.PngImageFile,
    b"\xff\xd8\xff": JpegImagePlugin.jpeg_factory,
}


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
