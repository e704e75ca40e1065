"""The brush in each provider's form, and back: per-area masks (Kling), the colour-indexed PNG
(GoAPI, the simulator), both made from `bot.animate.brush`'s index image without loss.

Kling's masks are cut when a job is sent to Kling (`kling_masks`), not while the member waits
for the preview. Pillow only: every step is a whole-image C operation.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageChops

from bot.animate.brush import (
    _G_TO_INDEX,
    _IS_ZERO,
    MOVING,
    PALETTE,
    UNPAINTED,
    BrushColour,
    _only,
)


def split_masks(index: Image.Image) -> list[tuple[BrushColour, Image.Image]]:
    """One bilevel mask (mode "1", white = the area) per colour present, static first.

    Kling's `static_mask` and `dynamic_masks[].mask`: each the index's (the picture's) size.
    """
    histogram = index.histogram()
    return [(colour, index.point(_only(colour.index), "1")) for colour in PALETTE if histogram[colour.index]]


def merge_masks(size: tuple[int, int], masks: Sequence[tuple[BrushColour, Image.Image]]) -> Image.Image:
    """The index image back from per-area masks. Raises ValueError on a size mismatch or overlap."""
    index = Image.new("L", size, UNPAINTED)
    painted = Image.new("1", size, 0)
    for colour, mask in masks:
        if mask.size != size:
            raise ValueError(f"the {colour.name} mask is {mask.size[0]}×{mask.size[1]}, not {size[0]}×{size[1]}")
        bilevel = mask if mask.mode == "1" else mask.convert("L").point(lambda v: 255 if v >= 128 else 0, "1")
        if ImageChops.logical_and(painted, bilevel).getbbox() is not None:
            raise ValueError(f"the {colour.name} mask overlaps another area")
        index.paste(colour.index, mask=bilevel)
        painted = ImageChops.logical_or(painted, bilevel)
    return index


def colour_indexed(index: Image.Image) -> Image.Image:
    """GoAPI's `mask_url` image: RGBA, brush colours fully opaque, everything else (0,0,0,0)."""
    paletted = index.convert("P")  # keeps the values; only the palette is replaced below
    palette = [0] * 768
    for colour in PALETTE:
        palette[3 * colour.index : 3 * colour.index + 3] = colour.rgb
    paletted.putpalette(palette)
    paletted.info["transparency"] = UNPAINTED
    return paletted.convert("RGBA")


def load_colour_indexed(path: Path | BinaryIO) -> Image.Image:
    """The index image back from a colour-indexed PNG this module wrote (or forwarded after checking)."""
    with Image.open(path) as img:
        img.load()
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")  # no 64 MiB copy of a 4096² RGBA brush
        index = rgba.getchannel("G").point(_G_TO_INDEX)
        return ImageChops.lighter(index, rgba.getchannel("A").point(_IS_ZERO))


def png_bytes(image: Image.Image) -> bytes:
    """PNG-encode a mask. Level 1: masks are flat areas, so they stay small and encode fast."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def kling_masks(indexed_png: Path) -> dict[str, bytes]:
    """Kling's `static_mask` / `dynamic_masks[].mask` PNGs by colour name, from a colour-indexed PNG."""
    return {colour.name: png_bytes(mask) for colour, mask in split_masks(load_colour_indexed(indexed_png))}


def compact_moving(index: Image.Image) -> Image.Image | None:
    """The index with its moving areas renumbered 1..k in palette order, or None when they already are.

    GoAPI ties `dynamic_masks[i]` to colour index i + 1 (providers.md §2.2), so a brush with
    green and blue but no purple must reach it with blue repainted as purple."""
    histogram = index.histogram()
    present = [colour.index for colour in MOVING if histogram[colour.index]]
    if present == list(range(1, len(present) + 1)):
        return None
    table = list(range(256))
    for new, old in enumerate(present, start=1):
        table[old] = new
    return index.point(table)
