"""Pictures, brushes and paths for the /animate tests, and the documentation's example.

    python -m tests.animate_factory docs/     # regenerate the example images in docs/

The example (a lake at sunset: the mountains held still, the boat sailing right, a cloud
drifting left, the sun going down) is drawn with plain shapes, so it regenerates
pixel for pixel; tests/test_animate_docs.py checks the committed copies are current.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from bot.animate.brush import BY_NAME

Rect = tuple[int, int, int, int]  # left, top, right, bottom (inclusive, as ImageDraw takes them)


def make_picture(path: Path, width: int = 640, height: int = 480, colour: tuple[int, int, int] = (128, 128, 128)) -> Path:
    """A plain picture (PNG or JPEG by suffix): uniform colour, so tints are easy to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)
    return path


def brush_image(size: tuple[int, int], areas: Mapping[str, Sequence[Rect]], *, painted_over: Image.Image | None = None) -> Image.Image:
    """A brush with `areas` (colour name -> rectangles) painted in exact palette colours.

    Transparent form by default; over a copy of `painted_over` (no transparency) if given.
    """
    image = painted_over.convert("RGB").copy() if painted_over is not None else Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for name, rects in areas.items():
        rgb = BY_NAME[name].rgb
        for rect in rects:
            draw.rectangle(rect, fill=rgb if painted_over is not None else rgb + (255,))
    return image


def save_brush(path: Path, size: tuple[int, int], areas: Mapping[str, Sequence[Rect]], **kwargs: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    brush_image(size, areas, **kwargs).save(path)
    return path


# --- the documentation's example -----------------------------------------------------------------

EXAMPLE_SIZE = (768, 512)
EXAMPLE_PATHS = "green: 190,392 300,388 420,396 540,390; purple: 560,96 470,88 360,100; yellow: 612,228 616,300"


def example_picture() -> Image.Image:
    w, h = EXAMPLE_SIZE
    image = Image.new("RGB", EXAMPLE_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(341):  # evening sky, deep blue to orange
        t = y / 340
        draw.line([(0, y), (w, y)], fill=(int(40 + 210 * t), int(60 + 90 * t), int(140 - 60 * t)))
    draw.ellipse((572, 188, 652, 268), fill=(255, 200, 80))  # the sun
    for box in ((500, 70, 620, 120), (530, 55, 600, 100), (120, 120, 230, 160)):  # clouds
        draw.ellipse(box, fill=(245, 235, 230))
    draw.polygon([(0, 330), (130, 200), (260, 310), (380, 170), (520, 300), (640, 230), (768, 320), (768, 340), (0, 340)], fill=(52, 58, 84))
    draw.rectangle((0, 340, w, h), fill=(30, 70, 120))  # the lake
    for y in range(350, h, 14):
        draw.line([(0, y), (w, y)], fill=(45, 90, 145), width=2)
    draw.polygon([(150, 400), (235, 400), (220, 420), (165, 420)], fill=(120, 70, 40))  # hull
    draw.polygon([(192, 325), (192, 398), (240, 398)], fill=(250, 250, 245))  # sail
    draw.line([(191, 320), (191, 400)], fill=(60, 40, 30), width=3)  # mast
    return image


def _example_strokes(draw: ImageDraw.ImageDraw, alpha: bool) -> None:
    def fill(name: str) -> tuple[int, ...]:
        rgb = BY_NAME[name].rgb
        return rgb + (255,) if alpha else rgb

    draw.polygon([(0, 330), (130, 200), (260, 310), (380, 170), (520, 300), (640, 230), (768, 320), (768, 340), (0, 340)], fill=fill("black"))
    draw.rectangle((145, 318, 245, 424), fill=fill("green"))  # the boat
    draw.ellipse((496, 52, 624, 124), fill=fill("purple"))  # the big cloud
    draw.ellipse((568, 184, 656, 272), fill=fill("yellow"))  # the sun


def example_brush() -> Image.Image:
    """The transparent form: only paint, everything else fully transparent."""
    image = Image.new("RGBA", EXAMPLE_SIZE, (0, 0, 0, 0))
    _example_strokes(ImageDraw.Draw(image), alpha=True)
    return image


def example_painted_over() -> Image.Image:
    """The painted-over form: a copy of the picture with the same strokes on it."""
    image = example_picture()
    _example_strokes(ImageDraw.Draw(image), alpha=False)
    return image


def write_docs_examples(docs: Path) -> list[Path]:
    """Write the example picture, both brush forms and the preview they give."""
    from bot.animate.brush import read_brush
    from bot.animate.paths import check_paths, parse_paths
    from bot.animate.preview import render_preview

    docs.mkdir(parents=True, exist_ok=True)
    picture = docs / "brush-example-picture.png"
    brush = docs / "brush-example.png"
    painted = docs / "brush-example-painted.png"
    preview = docs / "brush-example-preview.png"
    example_picture().save(picture, optimize=True)
    example_brush().save(brush, optimize=True)
    example_painted_over().save(painted, optimize=True)
    read = read_brush(brush, picture)
    paths, _ = check_paths(parse_paths(EXAMPLE_PATHS), EXAMPLE_SIZE, read)
    render_preview(
        picture, brush_index=read.index, paths=paths, header="kling-v1 · std · 5 s",
        caption=("Make it: 5 credits", "Mountains held still; boat, cloud and sun follow their arrows."),
    ).image.save(preview, optimize=True)
    return [picture, brush, painted, preview]


if __name__ == "__main__":
    for written in write_docs_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(written)
