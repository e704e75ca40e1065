"""The motion brush: a PNG the member paints in seven fixed colours.

Colours (GoAPI's colour-indexed convention, providers.md §2.2): black is the static area,
six colours are moving areas 1-6. Two forms are accepted (docs/animate.md says the same):

- transparent: the PNG has fully transparent pixels; every other pixel must be fully
  opaque and exactly a brush colour. Anything else is refused, never guessed.
- painted over: the PNG has no transparent pixel (a copy of the picture with paint on it,
  or paint on a plain canvas). A pixel is paint when it is exactly a brush colour AND differs
  from the picture at that place; every other pixel is ignored. A pixel the picture itself
  already has in exactly a brush colour is not paint (we cannot tell), and we say how many.

Semi-transparent pixels are refused in both forms (they are neither paint nor nothing).

Inside the bot a brush is one 8-bit index image ("L"): per pixel the palette index
(0 static, 1-6 moving) or UNPAINTED. Kling wants one mask per area and GoAPI the
colour-indexed RGBA PNG; `bot.animate.masks` makes both from the index and back without loss.

Pillow only (no numpy in production): every step is a whole-image C operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image, ImageChops

from bot.animate.picture import load_picture, orientation_of
from bot.animate.refusals import BrushRefused
from bot.i18n import Text


@dataclass(frozen=True)
class BrushColour:
    name: str
    rgb: tuple[int, int, int]
    index: int  # 0 = the static area; n = moving area n = GoAPI dynamic_masks[n - 1]

    @property
    def moving(self) -> bool:
        return self.index > 0

    def describe(self) -> str:
        return f"{self.name} ({self.rgb[0]},{self.rgb[1]},{self.rgb[2]})"


STATIC = BrushColour("black", (0, 0, 0), 0)
MOVING: tuple[BrushColour, ...] = (
    BrushColour("green", (114, 229, 40), 1),
    BrushColour("purple", (171, 105, 255), 2),
    BrushColour("blue", (0, 170, 255), 3),
    BrushColour("pink", (240, 38, 173), 4),
    BrushColour("yellow", (255, 225, 29), 5),
    BrushColour("red", (255, 34, 0), 6),
)
PALETTE: tuple[BrushColour, ...] = (STATIC, *MOVING)
BY_NAME: dict[str, BrushColour] = {colour.name: colour for colour in PALETTE}
BY_INDEX: dict[int, BrushColour] = {colour.index: colour for colour in PALETTE}
BY_RGB: dict[tuple[int, int, int], BrushColour] = {colour.rgb: colour for colour in PALETTE}
UNPAINTED = 255

# A brush is decoded whole (RGBA: 4 bytes a pixel); this caps one brush at 64 MiB decoded.
MAX_BRUSH_PIXELS = 4096 * 4096
DOCS = "docs/animate.md"
_TOO_MANY_PIXELS = Text(
    "The picture has far more pixels than a brush can cover ({limit} megapixels at most).", limit=f"{MAX_BRUSH_PIXELS / 1e6:.1f}"
)

# Every palette colour has a different green value, so the green band alone names the one
# colour a pixel can be; red and blue then confirm it. Checked at import, not assumed.
assert len({colour.rgb[1] for colour in PALETTE}) == len(PALETTE)
_G_TO_INDEX = [UNPAINTED] * 256
for _colour in PALETTE:
    _G_TO_INDEX[_colour.rgb[1]] = _colour.index
_INDEX_TO_BAND = tuple([BY_INDEX[i].rgb[band] if i in BY_INDEX else 0 for i in range(256)] for band in range(3))
_IS_ZERO = [255] + [0] * 255  # L lookup: 255 where the value is 0
_NONZERO = [0] + [255] * 255
_IS_PAINT = [255 if i in BY_INDEX else 0 for i in range(256)]
_IS_UNPAINTED = [255 if i == UNPAINTED else 0 for i in range(256)]
_PARTIAL_ALPHA = [0] + [255] * 254 + [0]
_MAX_LISTED_COLOURS = 4096  # getcolors() gives up (returns None) past this many distinct colours
# Whole-image steps over a 4096² brush make 16-64 MiB temporaries each; done in strips of this many
# rows they make a few MiB, so the peak is the decoded images themselves (bench/bench_animate.py).
_STRIP_ROWS = 256


class BrushForm(StrEnum):
    TRANSPARENT = "transparent"
    PAINTED_OVER = "painted over"


@dataclass(frozen=True)
class Brush:
    index: Image.Image  # mode "L", the picture's size: a palette index or UNPAINTED per pixel
    form: BrushForm
    counts: dict[int, int]  # painted pixels per palette index, only indices present
    notes: tuple[Text, ...] = ()
    forwardable: bool = False  # the upload is already a plain colour-indexed RGBA PNG

    @property
    def size(self) -> tuple[int, int]:
        return self.index.size

    @property
    def colours(self) -> tuple[BrushColour, ...]:
        return tuple(colour for colour in PALETTE if self.counts.get(colour.index))

    @property
    def moving(self) -> tuple[BrushColour, ...]:
        return tuple(colour for colour in self.colours if colour.moving)

    @property
    def has_static(self) -> bool:
        return bool(self.counts.get(STATIC.index))

    def colour_at(self, x: int, y: int) -> BrushColour | None:
        value = self.index.getpixel((x, y))
        return BY_INDEX.get(value) if isinstance(value, int) else None

    def area_box(self, colour: BrushColour) -> tuple[int, int, int, int] | None:
        """(left, top, right, bottom) of the colour's pixels, right and bottom inclusive."""
        box = self.index.point(_only(colour.index)).getbbox()
        return None if box is None else (box[0], box[1], box[2] - 1, box[3] - 1)


def _only(value: int) -> list[int]:
    return [255 if i == value else 0 for i in range(256)]


# --- reading -----------------------------------------------------------------------------------


def picture_header(picture_path: Path) -> tuple[tuple[int, int], int]:
    """The picture's stored size and EXIF orientation (1 = upright), without decoding it."""
    with Image.open(picture_path) as img:
        return img.size, orientation_of(img)


def read_brush(brush_path: Path, picture_path: Path) -> Brush:
    """Read and check a brush against its picture. Raises BrushRefused with one sentence."""
    try:
        picture_size, orientation = picture_header(picture_path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BrushRefused(_TOO_MANY_PIXELS) from None
    if orientation != 1:
        raise BrushRefused(
            Text(
                "The picture carries an EXIF rotation tag (orientation {orientation}), so a brush could land on "
                "different pixels depending on who applies it; save the picture upright without the tag and paint over that copy.",
                orientation=orientation,
            )
        )
    try:
        with Image.open(brush_path) as img:
            if img.format != "PNG":
                raise BrushRefused(
                    Text(
                        "The brush is a {format} file; it must be a PNG, because other formats "
                        "change colours slightly and the brush colours must be exact.",
                        format=img.format or "unknown",
                    )
                )
            _check_size(img.size, picture_size)
            img.load()
            plain_rgba = img.mode == "RGBA" and not ({"icc_profile", "gamma"} & set(img.info))
            image = _normalise(img)
    except BrushRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BrushRefused(_TOO_MANY_PIXELS) from None
    except Exception:  # truncated, bad checksums, not an image at all: the same answer for the member
        raise BrushRefused(Text("The brush file is damaged or not an image.")) from None
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        histogram = alpha.histogram()
        if any(histogram[1:255]):
            x, y = _first_marked(alpha.point(_PARTIAL_ALPHA))
            raise BrushRefused(
                Text(
                    "The brush has {number} semi-transparent pixels (e.g. at x {x}, y {y}, "
                    "alpha {alpha}); paint with a hard-edged brush without anti-aliasing, "
                    "so every pixel is either a brush colour or fully transparent.",
                    number=f"{sum(histogram[1:255]):,}", x=x, y=y, alpha=alpha.getpixel((x, y)),
                )
            )
        if histogram[0]:
            transparent = alpha.point(_IS_ZERO)
            del alpha  # peak memory: a 4096² brush holds 64 MiB of RGBA already
            return _read_transparent(image, transparent, forwardable=plain_rgba)
        del alpha
    index = _exact_index(image if image.mode == "RGB" else image.convert("RGB"))
    del image, img  # the brush's pixels are no longer needed: `index` says which palette colour each is
    return _read_painted_over(index, picture_path)


def _check_size(brush_size: tuple[int, int], picture_size: tuple[int, int]) -> None:
    if brush_size != picture_size:
        raise BrushRefused(
            Text(
                "The brush is {brush_width}×{brush_height} px but the picture is "
                "{width}×{height} px; they must be the same size (paint over a copy of the picture).",
                brush_width=brush_size[0], brush_height=brush_size[1], width=picture_size[0], height=picture_size[1],
            )
        )
    pixels = brush_size[0] * brush_size[1]
    if pixels > MAX_BRUSH_PIXELS:
        raise BrushRefused(
            Text(
                "The picture has {megapixels} megapixels; a brush works on pictures of at most "
                "{limit} megapixels (e.g. 4096×4096), so scale the picture down first.",
                megapixels=f"{pixels / 1e6:.1f}", limit=f"{MAX_BRUSH_PIXELS / 1e6:.1f}",
            )
        )


def _normalise(img: Image.Image) -> Image.Image:
    """RGBA when the PNG can be transparent, RGB otherwise."""
    transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    target = "RGBA" if transparent else "RGB"
    if img.mode == target and "transparency" not in img.info:
        return img  # convert() would copy it: 64 MiB more for a 4096² brush
    try:
        return img.convert(target)
    except ValueError:
        raise BrushRefused(
            Text("The brush is a PNG of type {mode}, which cannot carry the brush colours; save it as an 8-bit RGBA PNG.", mode=img.mode)
        ) from None


def _read_transparent(rgba: Image.Image, transparent: Image.Image, *, forwardable: bool) -> Brush:
    colours = rgba.getcolors(_MAX_LISTED_COLOURS)
    if colours is None:
        # Editors may keep any colour under alpha 0; blank those and count again.
        blank = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
        blank.paste(rgba, mask=transparent.point(_IS_ZERO))
        colours = blank.getcolors(_MAX_LISTED_COLOURS)
        del blank
    if colours is None or any(rgba_[3] == 255 and rgba_[:3] not in BY_RGB for _, rgba_ in colours):
        raise _off_palette(rgba, transparent.point(_IS_ZERO))
    counts: dict[int, int] = {}
    for count, (r, g, b, a) in colours:
        if a == 255:
            index = BY_RGB[(r, g, b)].index
            counts[index] = counts.get(index, 0) + count
    if not counts:
        raise BrushRefused(Text("The brush is fully transparent: nothing is painted."))
    index = ImageChops.lighter(rgba.getchannel("G").point(_G_TO_INDEX), transparent)
    return Brush(index=index, form=BrushForm.TRANSPARENT, counts=counts, forwardable=forwardable)


def _strips(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    return [(0, top, size[0], min(size[1], top + _STRIP_ROWS)) for top in range(0, size[1], _STRIP_ROWS)]


def _exact_index(rgb: Image.Image) -> Image.Image:
    """Per pixel: the index of the palette colour it is exactly, or UNPAINTED (strip by strip)."""
    index = Image.new("L", rgb.size, UNPAINTED)
    for box in _strips(rgb.size):
        index.paste(_exact_index_whole(rgb.crop(box)), box[:2])
    return index


def _exact_index_whole(rgb: Image.Image) -> Image.Image:
    index = rgb.getchannel("G").point(_G_TO_INDEX)
    for band in (0, 2):
        mismatch = ImageChops.difference(index.point(_INDEX_TO_BAND[band]), rgb.getchannel(band)).point(_NONZERO)
        index = ImageChops.lighter(index, mismatch)
    return index


def _off_palette(rgba: Image.Image, opaque: Image.Image) -> BrushRefused:
    bad = ImageChops.darker(_exact_index(rgba.convert("RGB")).point(_IS_UNPAINTED), opaque)
    count = bad.histogram()[255]
    x, y = _first_marked(bad)
    rgb = rgba.getpixel((x, y))[:3]  # type: ignore[index]
    near = nearest(rgb)
    return BrushRefused(
        Text(
            "The brush has {number} opaque pixels that are not a brush colour (e.g. {rgb} "
            "at x {x}, y {y}; the nearest is {nearest}); a transparent brush may hold only the exact "
            "colours in {docs} and fully transparent pixels.",
            number=f"{count:,}", rgb=f"{rgb[0]},{rgb[1]},{rgb[2]}", x=x, y=y, nearest=near.describe(), docs=DOCS,
        )
    )


def nearest(rgb: tuple[int, int, int]) -> BrushColour:
    return min(PALETTE, key=lambda colour: sum((a - b) ** 2 for a, b in zip(colour.rgb, rgb)))


def _read_painted_over(index: Image.Image, picture_path: Path) -> Brush:
    """`index`: the brush's exact palette index per pixel (UNPAINTED elsewhere). A painted pixel is
    exactly its palette colour, so it equals the picture there when the picture has that colour:
    the comparison needs the index and the picture, not the brush's own pixels (48 MiB less)."""
    if not any(index.point(_IS_PAINT).histogram()[255:]):
        raise BrushRefused(
            Text(
                "The brush has no transparent pixels and no pixel in exactly a brush colour, so nothing is painted; "
                "colours must match exactly (e.g. green is 114,229,40, see {docs}) and the file must be a PNG.",
                docs=DOCS,
            )
        )
    picture = load_picture(picture_path)  # full size; read_brush refused EXIF-rotated pictures already
    unchanged = Image.new("L", index.size)  # 255 where the brush shows the picture as it was
    for box in _strips(index.size):
        strip, shown = index.crop(box), picture.crop(box)
        same: Image.Image | None = None
        for band in range(3):
            diff = ImageChops.difference(strip.point(_INDEX_TO_BAND[band]), shown.getchannel(band))
            same = diff if same is None else ImageChops.lighter(same, diff)
        assert same is not None
        unchanged.paste(same.point(_IS_ZERO), box[:2])
    del picture
    already = ImageChops.darker(index.point(_IS_PAINT), unchanged).histogram()[255]
    index = ImageChops.lighter(index, unchanged)
    histogram = index.histogram()
    counts = {i: histogram[i] for i in BY_INDEX if histogram[i]}
    if not counts:
        raise BrushRefused(
            Text(
                "Every pixel of a brush colour in the brush is that same colour in the picture itself, so nothing was painted; "
                "paint on a transparent layer and upload that layer alone (see {docs}).",
                docs=DOCS,
            )
        )
    notes: tuple[Text, ...] = ()
    if already:
        note = Text(
            "{number} pixels of the picture already had exactly a brush colour and were not counted as paint "
            "(a transparent brush avoids this).",
            number=f"{already:,}",
        )
        notes = (note,)
    return Brush(index=index, form=BrushForm.PAINTED_OVER, counts=counts, notes=notes)


def _first_marked(mask: Image.Image) -> tuple[int, int]:
    """The first non-zero pixel of an L mask in reading order (the mask must have one)."""
    box = mask.getbbox()
    assert box is not None
    row = mask.crop((0, box[1], mask.width, box[1] + 1)).tobytes()
    return next(x for x, value in enumerate(row) if value), box[1]
