"""The preview picture: tints, shading, arrows where the paths say, the camera sign, the end frame."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from bot.animate.brush import BY_NAME, read_brush
from bot.animate.camera import choose_camera
from bot.animate.paths import check_paths, parse_paths
from bot.animate.preview import (
    BACKGROUND,
    CAPTION_BG,
    HATCH_COLOUR,
    SHADE,
    SHADE_COLOUR,
    TINT,
    render_preview,
)
from tests.animate_factory import make_picture, save_brush

GREY = (128, 128, 128)
SIZE = (400, 300)
GREEN = BY_NAME["green"].rgb
PURPLE = BY_NAME["purple"].rgb


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 3) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


@pytest.fixture
def brushed(tmp_path: Path):  # type: ignore[no-untyped-def]
    picture = make_picture(tmp_path / "p.png", *SIZE, colour=GREY)
    brush_path = save_brush(
        tmp_path / "b.png", SIZE,
        {"green": [(40, 40, 139, 139)], "purple": [(300, 200, 339, 239)], "black": [(0, 260, 399, 299)]},
    )
    brush = read_brush(brush_path, picture)
    paths, _ = check_paths(parse_paths("green: 60,60 200,80 330,60; purple: 320,220 320,150 250,120"), SIZE, brush)
    preview = render_preview(picture, brush_index=brush.index, paths=paths, header="kling-v1 · std · 5 s", caption=("Make it: 5 credits", "two areas"))
    return preview, paths


def test_a_tinted_area_carries_its_colour(brushed) -> None:  # type: ignore[no-untyped-def]
    preview, _ = brushed
    layout, image = preview.layout, preview.image
    expected = tuple(round(g * (1 - TINT) + c * TINT) for g, c in zip(GREY, GREEN))
    inside = image.getpixel(layout.to_canvas((120, 120)))  # inside green, away from the path and the outline
    assert close(inside, expected), (inside, expected)
    purple_inside = image.getpixel(layout.to_canvas((335, 235)))
    assert close(purple_inside, tuple(round(g * (1 - TINT) + c * TINT) for g, c in zip(GREY, PURPLE)))
    untouched = image.getpixel(layout.to_canvas((250, 200)))
    assert untouched == GREY


def test_the_static_area_is_shaded(brushed) -> None:  # type: ignore[no-untyped-def]
    preview, _ = brushed
    pixels = {preview.image.getpixel(preview.layout.to_canvas((x, 280))) for x in range(10, 390, 3)}
    shaded = tuple(int(g * (1 - SHADE) + c * SHADE) for g, c in zip(GREY, SHADE_COLOUR))
    assert {tuple(p) for p in pixels} == {shaded, HATCH_COLOUR}  # darkened, with hatching


def test_arrows_start_and_end_where_the_paths_say(brushed) -> None:  # type: ignore[no-untyped-def]
    preview, paths = brushed
    layout, image = preview.layout, preview.image
    for name, rgb in (("green", GREEN), ("purple", PURPLE)):
        start, end = paths[name][0], paths[name][-1]
        assert close(image.getpixel(layout.to_canvas(start)), rgb, 8), name
        assert close(image.getpixel(layout.to_canvas(end)), rgb, 8), name
        # well past the end, along the last segment, the arrow is over
        before = paths[name][-2]
        length = math.dist(before, end)
        beyond = (end[0] + (end[0] - before[0]) / length * 25, end[1] + (end[1] - before[1]) / length * 25)
        assert not close(image.getpixel(layout.to_canvas(beyond)), rgb, 40), name


def test_the_caption_and_header_are_drawn(brushed) -> None:  # type: ignore[no-untyped-def]
    preview, _ = brushed
    box = preview.layout.caption
    caption = preview.image.crop((box.left, box.top, box.right, box.bottom))
    colours = {colour for _, colour in caption.getcolors(100000) or []}
    assert CAPTION_BG in colours and len(colours) > 10  # text and legend swatches on it
    assert GREEN in colours and PURPLE in colours  # the legend
    header = preview.image.crop((0, 0, preview.layout.size[0], preview.layout.picture.top))
    assert len({c for _, c in header.getcolors(100000) or []}) > 5 and header.getpixel((2, 2)) == BACKGROUND


def test_the_end_frame_is_a_thumbnail_beside_the_picture(tmp_path: Path) -> None:
    picture = make_picture(tmp_path / "p.png", *SIZE, colour=GREY)
    end = make_picture(tmp_path / "e.png", *SIZE, colour=(200, 40, 40))
    preview = render_preview(picture, end_frame=end, caption=("Make it: 10 credits",))
    box = preview.layout.end_frame
    assert box is not None and box.left > preview.layout.picture.right
    assert close(preview.image.getpixel((box.left + box.width // 2, box.top + 20)), (200, 40, 40))
    assert preview.image.getpixel((preview.layout.picture.left + 5, preview.layout.picture.top + 5)) == GREY


@pytest.mark.parametrize(("move", "side"), [("move right", 1), ("move left", -1)])
def test_the_camera_gesture_points_the_way_the_camera_goes(tmp_path: Path, move: str, side: int) -> None:
    picture = make_picture(tmp_path / "p.png", 600, 600, colour=GREY)
    preview = render_preview(picture, camera=choose_camera(move, 5))
    box = preview.layout.picture
    centre = (box.left + box.width // 2, box.top + box.height // 2)

    def whiteness(dx: int) -> int:
        """How many near-white pixels in a small column at centre + dx (the arrowhead is wide there)."""
        return sum(1 for dy in range(-12, 13) if min(preview.image.getpixel((centre[0] + dx, centre[1] + dy))) > 200)

    reach = round(0.22 * box.width)
    assert whiteness(side * (reach - 15)) > whiteness(-side * (reach - 15))  # the head is on the side it goes to
    badge = preview.image.crop((box.left, box.top, box.left + 300, box.top + 70))
    assert sum(1 for _, c in badge.getcolors(100000) or [] if max(c) < 40) > 0  # the dark label badge


def test_a_large_picture_is_drawn_at_the_preview_size(tmp_path: Path) -> None:
    picture = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000), GREY).save(picture)
    preview = render_preview(picture)
    assert (preview.layout.picture.width, preview.layout.picture.height) == (960, 640)
    assert preview.layout.to_canvas((2999, 1999)) == (preview.layout.picture.right - 1, preview.layout.picture.bottom - 1)


def test_a_picture_with_an_exif_turn_is_shown_upright(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers turn it 90° clockwise
    stored = Image.new("RGB", (600, 300), GREY)
    stored.paste((200, 40, 40), (0, 0, 100, 300))  # the stored left edge is red...
    stored.save(tmp_path / "p.jpg", exif=exif, quality=95)
    preview = render_preview(tmp_path / "p.jpg")
    box = preview.layout.picture
    assert (box.width, box.height) == (480, 960)  # portrait, as a viewer shows it
    top = preview.image.getpixel((box.left + box.width // 2, box.top + 5))
    assert close(top, (200, 40, 40), 20)  # ...and ends up on top after the turn
