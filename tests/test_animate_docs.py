"""docs/animate.md and its example images stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from bot.animate.brush import PALETTE
from bot.animate.camera import MOVES
from tests.animate_factory import example_brush, example_painted_over, example_picture

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_committed_example_images_are_what_the_factory_draws() -> None:
    # regenerate with: python -m tests.animate_factory docs
    for name, image in (
        ("brush-example-picture.png", example_picture()),
        ("brush-example.png", example_brush()),
        ("brush-example-painted.png", example_painted_over()),
    ):
        committed = Image.open(DOCS / name)
        assert committed.mode == image.mode and committed.size == image.size, name
        assert committed.tobytes() == image.tobytes(), f"{name} is stale: python -m tests.animate_factory docs"
    assert (DOCS / "brush-example-preview.png").is_file()


def test_the_page_lists_the_palette_and_every_camera_move_as_the_code_has_them() -> None:
    page = (DOCS / "animate.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d+), (\d+), (\d+) \|", page, flags=re.MULTILINE)
    assert [(name, (int(r), int(g), int(b))) for name, r, g, b in rows] == [(c.name, c.rgb) for c in PALETTE]
    for move in MOVES:
        assert f"`{move.name}`" in page, move.name
    for image in ("brush-example.png", "brush-example-painted.png", "brush-example-preview.png"):
        assert f"]({image})" in page
