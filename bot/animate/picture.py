"""Loading a member's picture for drawing on it, without copies a large picture cannot afford.

A 4096×4096 RGB picture is 64 MiB in Pillow (four bytes a pixel). `ImageOps.exif_transpose`
and `convert("RGB")` each return a copy even when there is nothing to do, so this turns and
converts only when needed, lets JPEG decode at a reduced scale, and shrinks by whole factors
(`reduce`, a cheap box filter) before any finer resize.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

ORIENTATION = 0x0112


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation (1 = upright) from what opening the file read, never decoding pixels.

    Pillow's `getexif()` on a PNG decodes the whole picture first, in case an eXIf chunk follows
    the image data: 0.4 s and 64 MiB for 4096². The PNG specification (3rd edition) places eXIf
    before IDAT, where opening the file already put it in `info`; a later one is ignored here.
    """
    if img.format == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(ORIENTATION, 1) or 1)
    return int(img.getexif().get(ORIENTATION, 1) or 1)


def load_picture(path: Path, long_side: int | None = None) -> Image.Image:
    """The picture upright (EXIF applied) in RGB, at least `long_side` px on its long side if it was."""
    with Image.open(path) as img:
        if long_side is not None:
            img.draft("RGB", (long_side, long_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        img.load()
        picture: Image.Image = img
        if orientation_of(img) != 1:
            picture = ImageOps.exif_transpose(picture)
        if picture.mode != "RGB":
            picture = picture.convert("RGB")
    if long_side is not None:
        factor = max(picture.size) // long_side
        if factor >= 2:
            picture = picture.reduce(factor)
    return picture


def upright_size(path: Path) -> tuple[int, int]:
    """The picture's full size as it is shown (EXIF turns of 90° swap the sides), from its header."""
    with Image.open(path) as img:
        turned = orientation_of(img) in (5, 6, 7, 8)
        return (img.height, img.width) if turned else img.size
