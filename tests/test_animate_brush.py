"""The motion brush: the palette, both accepted forms, every refusal at its edge, and
lossless conversion between the index image, Kling's masks and GoAPI's colour-indexed PNG."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.animate import brush as brush_module
from bot.animate.brush import (
    BY_INDEX,
    BY_NAME,
    MOVING,
    PALETTE,
    STATIC,
    UNPAINTED,
    BrushForm,
    read_brush,
)
from bot.animate.masks import (
    colour_indexed,
    load_colour_indexed,
    merge_masks,
    png_bytes,
    split_masks,
)
from bot.animate.refusals import BrushRefused
from bot.errors import Refusal
from tests.animate_factory import brush_image, make_picture, save_brush

SIZE = (64, 48)
PROPERTY = settings(max_examples=60, deadline=None, database=None)


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    return make_picture(tmp_path / "picture.png", *SIZE)


def test_palette_is_the_documented_one() -> None:
    # issue 11 / providers.md §2.2: index 0 static, 1-6 moving, exact RGB
    assert [(c.name, c.rgb, c.index) for c in PALETTE] == [
        ("black", (0, 0, 0), 0),
        ("green", (114, 229, 40), 1),
        ("purple", (171, 105, 255), 2),
        ("blue", (0, 170, 255), 3),
        ("pink", (240, 38, 173), 4),
        ("yellow", (255, 225, 29), 5),
        ("red", (255, 34, 0), 6),
    ]
    assert not STATIC.moving and all(c.moving for c in MOVING)


# --- the transparent form --------------------------------------------------------------------------


def test_transparent_brush_is_read_pixel_for_pixel(tmp_path: Path, picture: Path) -> None:
    path = save_brush(tmp_path / "b.png", SIZE, {"black": [(0, 40, 63, 47)], "green": [(10, 10, 19, 19)], "red": [(40, 5, 41, 6)]})
    read = read_brush(path, picture)
    assert read.form is BrushForm.TRANSPARENT and read.forwardable
    assert read.counts == {0: 64 * 8, 1: 100, 6: 4}
    assert [c.name for c in read.moving] == ["green", "red"] and read.has_static
    assert read.colour_at(10, 10) == BY_NAME["green"] and read.colour_at(19, 19) == BY_NAME["green"]
    assert read.colour_at(20, 19) is None and read.colour_at(0, 47) == STATIC
    assert read.area_box(BY_NAME["red"]) == (40, 5, 41, 6)


def test_colour_under_full_transparency_does_not_matter(tmp_path: Path, picture: Path) -> None:
    # editors keep colours under alpha 0; more of them than getcolors lists takes the slow path
    img = Image.new("RGBA", SIZE)
    img.putdata([(x % 256, (x * 7) % 256, (x * 13) % 256, 0) for x in range(SIZE[0] * SIZE[1])])
    img.paste((114, 229, 40, 255), (5, 5, 9, 9))
    img.save(tmp_path / "b.png")
    read = read_brush(tmp_path / "b.png", picture)
    assert read.counts == {1: 16}


def test_a_single_semi_transparent_pixel_is_refused_and_located(tmp_path: Path, picture: Path) -> None:
    img = brush_image(SIZE, {"green": [(5, 5, 9, 9)]})
    img.putpixel((7, 3), (114, 229, 40, 254))
    img.save(tmp_path / "b.png")
    with pytest.raises(BrushRefused, match=r"1 semi-transparent pixels \(e\.g\. at x 7, y 3, alpha 254\)") as caught:
        read_brush(tmp_path / "b.png", picture)
    assert isinstance(caught.value, Refusal) and caught.value.field == "brush"


@pytest.mark.parametrize("bad", [(115, 229, 40), (114, 229, 41), (113, 229, 40), (1, 0, 0)])
def test_an_opaque_pixel_one_step_off_a_brush_colour_is_refused(tmp_path: Path, picture: Path, bad: tuple[int, int, int]) -> None:
    img = brush_image(SIZE, {"green": [(5, 5, 9, 9)]})
    img.putpixel((30, 20), bad + (255,))
    img.save(tmp_path / "b.png")
    with pytest.raises(BrushRefused) as caught:
        read_brush(tmp_path / "b.png", picture)
    message = str(caught.value)
    assert f"1 opaque pixels that are not a brush colour (e.g. {bad[0]},{bad[1]},{bad[2]} at x 30, y 20" in message
    assert ("green (114,229,40)" if bad[1] == 229 else "black (0,0,0)") in message


def test_an_empty_transparent_brush_is_refused(tmp_path: Path, picture: Path) -> None:
    Image.new("RGBA", SIZE, (0, 0, 0, 0)).save(tmp_path / "b.png")
    with pytest.raises(BrushRefused, match="fully transparent"):
        read_brush(tmp_path / "b.png", picture)


def test_a_paletted_png_with_transparency_is_accepted_but_rebuilt(tmp_path: Path, picture: Path) -> None:
    brush_image(SIZE, {"purple": [(1, 1, 4, 4)]}).convert("RGBA").quantize(method=Image.Quantize.FASTOCTREE).save(tmp_path / "b.png")
    paletted = Image.open(tmp_path / "b.png")
    assert paletted.mode == "P" and "transparency" in paletted.info
    read = read_brush(tmp_path / "b.png", picture)
    assert read.counts == {2: 16} and not read.forwardable


# --- size, format, orientation ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [(65, 48), (64, 47), (48, 64)])
def test_a_brush_of_another_size_is_refused_naming_both(tmp_path: Path, picture: Path, size: tuple[int, int]) -> None:
    path = save_brush(tmp_path / "b.png", size, {"green": [(1, 1, 3, 3)]})
    with pytest.raises(BrushRefused, match=rf"brush is {size[0]}×{size[1]} px but the picture is 64×48 px"):
        read_brush(path, picture)


def test_the_pixel_cap_is_inclusive(tmp_path: Path, picture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_brush(tmp_path / "b.png", SIZE, {"green": [(1, 1, 3, 3)]})
    monkeypatch.setattr(brush_module, "MAX_BRUSH_PIXELS", SIZE[0] * SIZE[1])
    assert read_brush(path, picture).counts == {1: 9}
    monkeypatch.setattr(brush_module, "MAX_BRUSH_PIXELS", SIZE[0] * SIZE[1] - 1)
    with pytest.raises(BrushRefused, match="megapixels"):
        read_brush(path, picture)


def test_a_jpeg_brush_is_refused(tmp_path: Path, picture: Path) -> None:
    brush_image(SIZE, {"green": [(1, 1, 30, 30)]}).convert("RGB").save(tmp_path / "b.jpg")
    with pytest.raises(BrushRefused, match="JPEG file; it must be a PNG"):
        read_brush(tmp_path / "b.jpg", picture)


def test_a_damaged_brush_is_refused(tmp_path: Path, picture: Path) -> None:
    data = png_bytes(brush_image(SIZE, {"green": [(1, 1, 30, 30)]}))
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BrushRefused, match="damaged"):
        read_brush(tmp_path / "b.png", picture)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])  # a PNG's eXIf chunk is read from its header, without decoding
def test_a_picture_with_an_exif_rotation_is_refused_with_a_brush(tmp_path: Path, suffix: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", SIZE, (128, 128, 128)).save(tmp_path / f"p{suffix}", exif=exif)
    path = save_brush(tmp_path / "b.png", SIZE, {"green": [(1, 1, 3, 3)]})
    with pytest.raises(BrushRefused, match="EXIF rotation tag \\(orientation 6\\)"):
        read_brush(path, tmp_path / f"p{suffix}")


# --- the painted-over form -------------------------------------------------------------------------


def _photo(path: Path) -> Image.Image:
    """A picture with varied pixels and a few pure black ones (as shadows in photos are)."""
    img = Image.new("RGB", SIZE)
    img.putdata([((x * 5) % 250 + 3, (x * 3) % 250 + 3, 90) for x in range(SIZE[0] * SIZE[1])])
    img.paste((0, 0, 0), (50, 0, 54, 2))  # 8 pure black pixels the member did not paint
    img.save(path)
    return img


def test_paint_over_the_picture_counts_only_exact_colours_that_changed(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    over = brush_image(SIZE, {"green": [(10, 10, 19, 19)], "black": [(0, 40, 9, 47)]}, painted_over=photo)
    over.putpixel((30, 30), (115, 229, 40))  # an anti-aliased edge pixel: ignored, not refused
    over.save(tmp_path / "b.png")
    read = read_brush(tmp_path / "b.png", tmp_path / "p.png")
    assert read.form is BrushForm.PAINTED_OVER and not read.forwardable
    assert read.counts == {1: 100, 0: 80}
    assert read.colour_at(51, 1) is None  # the picture's own black is not paint...
    assert read.notes and str(read.notes[0]).startswith("8 pixels of the picture already had exactly a brush colour")


def test_an_opaque_rgba_brush_is_the_painted_over_form(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    brush_image(SIZE, {"blue": [(2, 2, 3, 3)]}, painted_over=photo).convert("RGBA").save(tmp_path / "b.png")
    read = read_brush(tmp_path / "b.png", tmp_path / "p.png")
    assert read.form is BrushForm.PAINTED_OVER and read.counts == {3: 4}


def test_painted_over_without_any_exact_colour_is_refused(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    photo.copy().save(tmp_path / "b.png")
    Image.open(tmp_path / "b.png").convert("RGB").point(lambda v: min(255, v + 1)).save(tmp_path / "b.png")
    with pytest.raises(BrushRefused, match="no pixel in exactly a brush colour"):
        read_brush(tmp_path / "b.png", tmp_path / "p.png")


def test_painted_over_that_only_repeats_the_pictures_own_colours_is_refused(tmp_path: Path) -> None:
    _photo(tmp_path / "p.png").save(tmp_path / "b.png")  # the picture unchanged: its black is not paint
    with pytest.raises(BrushRefused, match="same colour in the picture itself"):
        read_brush(tmp_path / "b.png", tmp_path / "p.png")


# --- conversion (property-based) ---------------------------------------------------------------------

VALUES = st.sampled_from([c.index for c in PALETTE] + [UNPAINTED])


@st.composite
def index_images(draw: st.DrawFn) -> Image.Image:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    pixels = draw(st.lists(VALUES, min_size=width * height, max_size=width * height))
    image = Image.new("L", (width, height))
    image.frombytes(bytes(pixels))
    return image


def _reload(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(png_bytes(image)))


@PROPERTY
@given(index_images())
def test_splitting_into_kling_masks_and_merging_back_is_lossless(index: Image.Image) -> None:
    masks = split_masks(index)
    histogram = index.histogram()
    assert [c.index for c, _ in masks] == [c.index for c in PALETTE if histogram[c.index]]
    for colour, mask in masks:
        assert mask.size == index.size and mask.mode == "1"
        assert mask.convert("L").histogram()[255] == histogram[colour.index]
    # through the PNG files Kling receives, too
    merged = merge_masks(index.size, [(colour, _reload(mask)) for colour, mask in masks])
    assert merged.tobytes() == index.tobytes()


@PROPERTY
@given(index_images())
def test_the_colour_indexed_png_round_trips(index: Image.Image) -> None:
    rgba = _reload(colour_indexed(index))
    assert rgba.mode == "RGBA"
    for (r, g, b, a), value in zip(_pixels(rgba), index.tobytes()):
        assert (a == 0 and value == UNPAINTED) or (a == 255 and BY_INDEX[value].rgb == (r, g, b))
    buffer = io.BytesIO(png_bytes(colour_indexed(index)))
    assert load_colour_indexed(buffer).tobytes() == index.tobytes()


def _pixels(rgba: Image.Image) -> list[tuple[int, int, int, int]]:
    data = rgba.tobytes()
    return [tuple(data[i : i + 4]) for i in range(0, len(data), 4)]  # type: ignore[misc]


@PROPERTY
@given(index_images())
def test_reading_our_own_colour_indexed_png_gives_the_same_brush(index: Image.Image) -> None:
    if not any(index.histogram()[: len(PALETTE)]):
        return  # an all-unpainted brush is refused (tested above)
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        picture = make_picture(Path(root) / "p.png", *index.size)
        path = Path(root) / "b.png"
        colour_indexed(index).save(path)
        assert read_brush(path, picture).index.tobytes() == index.tobytes()


def test_merging_refuses_overlaps_and_wrong_sizes() -> None:
    a = Image.new("1", (4, 4), 0)
    a.putpixel((1, 1), 255)
    with pytest.raises(ValueError, match="purple mask overlaps"):
        merge_masks((4, 4), [(BY_NAME["green"], a), (BY_NAME["purple"], a)])
    with pytest.raises(ValueError, match="is 4×4, not 5×4"):
        merge_masks((5, 4), [(BY_NAME["green"], a)])


def test_a_decompression_bomb_brush_is_refused_as_too_large(tmp_path: Path, picture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_brush(tmp_path / "b.png", SIZE, {"green": [(1, 1, 3, 3)]})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses to open past twice this
    with pytest.raises(BrushRefused, match="far more pixels than a brush can cover"):
        read_brush(path, picture)
