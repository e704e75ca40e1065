"""The preview: one picture of what /animate will do, shown before anything is spent.

The picture with the static area shaded and hatched, each moving area tinted and outlined
in its colour with its path drawn as an arrow from start to end and a faint copy of the area
where the path ends, the camera move as a
labelled badge and a large translucent gesture, the end frame as a thumbnail beside it,
and a caption strip for the price. Sized so it stays readable as a Discord thumbnail:
the picture is drawn 960 px on its long side with lines and text scaled to match.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from bot.animate.brush import BY_NAME, MOVING, PALETTE, STATIC, UNPAINTED
from bot.animate.camera import CameraChoice
from bot.animate.paths import Point
from bot.animate.picture import load_picture, upright_size
from bot.providers.simulator_render import Box, _font

PANEL = 960  # the picture's long side in the preview
MARGIN = 24
BACKGROUND = (22, 24, 29)
CAPTION_BG = (34, 37, 45)
TEXT = (240, 242, 246)
MUTED = (170, 176, 190)
TINT = 0.45  # share of an area's colour in its tinted pixels
SHADE = 0.6  # share of darkness over the static area
SHADE_COLOUR = (8, 10, 14)
HATCH_COLOUR = (70, 76, 90)  # thin diagonal lines over the shaded static area: "held still"
SUPERSAMPLE = 2  # overlays are drawn at this scale and reduced: smooth lines and arrowheads


@dataclass(frozen=True)
class PreviewLayout:
    size: tuple[int, int]
    picture: Box  # where the picture is drawn
    scale: float  # preview pixels per picture pixel
    end_frame: Box | None
    caption: Box

    def to_canvas(self, point: Point) -> tuple[int, int]:
        """The canvas pixel showing picture pixel `point` (its centre)."""
        return (
            self.picture.left + math.floor((point[0] + 0.5) * self.scale),
            self.picture.top + math.floor((point[1] + 0.5) * self.scale),
        )


@dataclass(frozen=True)
class Preview:
    image: Image.Image
    layout: PreviewLayout


def render_preview(
    picture: Path,
    *,
    brush_index: Image.Image | None = None,
    paths: Mapping[str, Sequence[Point]] | None = None,
    camera: CameraChoice | None = None,
    end_frame: Path | None = None,
    header: str = "",
    caption: Sequence[str] = (),
) -> Preview:
    still = load_picture(picture, PANEL)
    width, height = brush_index.size if brush_index is not None else upright_size(picture)
    scale = PANEL / max(width, height)
    panel = (max(1, round(width * scale)), max(1, round(height * scale)))
    shown = still.resize(panel, Image.Resampling.LANCZOS, reducing_gap=2.0)  # box-reduce first: fast

    header_h, caption_font, sub_font = 44, _font(30), _font(20)
    column = _end_column(panel) if end_frame is not None else None
    canvas_w = MARGIN + panel[0] + (column[0] + MARGIN if column else 0) + MARGIN
    canvas_w = max(canvas_w, 560)
    caption_h = 28 + 38 + 30 * max(0, len(caption) - 1) + (44 if brush_index is not None else 0)
    canvas_h = header_h + panel[1] + MARGIN + caption_h
    layout = PreviewLayout(
        size=(canvas_w, canvas_h),
        picture=Box(MARGIN, header_h, panel[0], panel[1]),
        scale=panel[0] / width,
        end_frame=None if column is None else Box(MARGIN + panel[0] + MARGIN, header_h + 36, column[1][0], column[1][1]),
        caption=Box(0, header_h + panel[1] + MARGIN, canvas_w, caption_h),
    )
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    if brush_index is not None:
        small_index = brush_index.resize(panel, Image.Resampling.NEAREST)
        shown = _paint_areas(shown, small_index)
        shown = _draw_destinations(shown, small_index, paths or {}, layout.scale)
    overlay = Image.new("RGBA", (panel[0] * SUPERSAMPLE, panel[1] * SUPERSAMPLE), (0, 0, 0, 0))
    if camera is not None:
        _draw_camera_gesture(overlay, camera)
    for name, points in (paths or {}).items():
        _draw_path(overlay, [_to_overlay(layout, p) for p in points], BY_NAME[name].rgb)
    shown = Image.alpha_composite(shown.convert("RGBA"), _reduce(overlay, panel))
    if camera is not None:
        _draw_camera_badge(shown, camera)
    canvas.paste(shown.convert("RGB"), (layout.picture.left, layout.picture.top))

    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, header_h // 2), "PREVIEW", fill=(255, 220, 0), font=_font(22), anchor="lm")
    draw.text((canvas_w - MARGIN, header_h // 2), header, fill=MUTED, font=_font(18), anchor="rm")
    if layout.end_frame is not None and end_frame is not None:
        _draw_end_frame(canvas, layout, end_frame)
    _draw_caption(canvas, layout.caption, caption, caption_font, sub_font, brush_index)
    return Preview(image=canvas, layout=layout)


def _to_overlay(layout: PreviewLayout, point: Point) -> tuple[float, float]:
    return ((point[0] + 0.5) * layout.scale * SUPERSAMPLE, (point[1] + 0.5) * layout.scale * SUPERSAMPLE)


def _end_column(panel: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    """(column width, thumbnail size): a third of the picture's height, at least 200 px wide."""
    side = max(200, panel[1] // 3)
    return side, (side, side)


# --- areas ------------------------------------------------------------------------------------------


def _paint_areas(shown: Image.Image, index: Image.Image) -> Image.Image:
    """Shade and hatch the static area; tint and outline each moving area in its colour."""
    palette = [0] * 768
    for colour in PALETTE:
        palette[3 * colour.index : 3 * colour.index + 3] = colour.rgb
    colours = index.convert("P")
    colours.putpalette(palette)
    colours = colours.convert("RGB")
    moving = index.point([255 if 1 <= i <= len(MOVING) else 0 for i in range(256)])
    static = index.point([255 if i == STATIC.index else 0 for i in range(256)])

    shaded = Image.blend(shown, Image.new("RGB", shown.size, SHADE_COLOUR), SHADE)
    hatch = ImageDraw.Draw(shaded)
    step = max(10, shown.width // 60)
    for offset in range(-shown.height, shown.width, step):
        hatch.line([(offset, shown.height), (offset + shown.height, 0)], fill=HATCH_COLOUR, width=max(1, step // 6))
    out = Image.composite(shaded, shown, static)
    out = Image.composite(Image.blend(shown, colours, TINT), out, moving)
    # outlines: pixels of a painted area that differ from a pixel a few steps away
    painted = index.point([0 if i == UNPAINTED else 255 for i in range(256)])
    outline = ImageChops.darker(_boundary(index, max(2, shown.width // 320)), painted)
    out.paste(colours, mask=ImageChops.darker(outline, moving))
    out.paste((235, 238, 245), mask=ImageChops.darker(outline, static))
    return out


def _boundary(image: Image.Image, width: int) -> Image.Image:
    """255 where a pixel differs from the pixel `width` steps away in any of the four directions.

    Shifted copies and differences: a few cheap whole-image operations, where a rank filter
    (MaxFilter/MinFilter) costs seconds on a large preview. The picture's own border never
    counts as a boundary (the shifted copy keeps the original pixels along it)."""
    found = Image.new("L", image.size, 0)
    for dx, dy in ((width, 0), (-width, 0), (0, width), (0, -width)):
        shifted = image.copy()
        shifted.paste(image, (dx, dy))
        found = ImageChops.lighter(found, ImageChops.difference(image, shifted))
    return found.point([0] + [255] * 255)


def _draw_destinations(shown: Image.Image, index: Image.Image, paths: Mapping[str, Sequence[Point]], scale: float) -> Image.Image:
    """A faint copy of each moving area where its path ends: where the member sends it."""
    layer = Image.new("RGBA", shown.size, (0, 0, 0, 0))
    for name, points in paths.items():
        colour = BY_NAME[name]
        area = index.point([255 if i == colour.index else 0 for i in range(256)])
        box = area.getbbox()
        if box is None:
            continue
        area = area.crop(box)  # work on the area's own box, not the whole picture
        corner = (box[0] + round((points[-1][0] - points[0][0]) * scale), box[1] + round((points[-1][1] - points[0][1]) * scale))
        layer.paste(colour.rgb + (60,), corner, area)
        layer.paste(colour.rgb + (220,), corner, ImageChops.darker(_boundary(area, 2), area))
    return Image.alpha_composite(shown.convert("RGBA"), layer).convert("RGB")


def _reduce(overlay: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The supersampled overlay back to the panel: a box average, exact for a whole factor."""
    reduced = overlay.reduce(SUPERSAMPLE)
    return reduced if reduced.size == size else reduced.resize(size, Image.Resampling.BILINEAR)


# --- arrows -------------------------------------------------------------------------------------


def _line_width() -> int:
    return max(4, PANEL // 120) * SUPERSAMPLE


def _draw_path(overlay: Image.Image, points: list[tuple[float, float]], rgb: tuple[int, int, int]) -> None:
    draw = ImageDraw.Draw(overlay)
    width = _line_width()
    shadow = (10, 12, 16, 200)
    head = 4.0 * width
    direction = _last_direction(points)
    if len(points) > 1:
        draw.line(points, fill=shadow, width=width + 2 * SUPERSAMPLE * 3, joint="curve")
        draw.line(points, fill=rgb + (255,), width=width, joint="curve")
    if direction is not None:
        end = points[-1]
        tip = (end[0] + direction[0] * head * 0.35, end[1] + direction[1] * head * 0.35)
        draw.polygon(_arrowhead(tip, direction, head * 1.25), fill=shadow)
        draw.polygon(_arrowhead(tip, direction, head), fill=rgb + (255,))
    start = points[0]
    radius = 1.7 * width
    ring = 0.45 * width
    draw.ellipse(_circle(start, radius + ring + SUPERSAMPLE * 2), fill=shadow)
    draw.ellipse(_circle(start, radius + ring), fill=(255, 255, 255, 255))
    draw.ellipse(_circle(start, radius), fill=rgb + (255,))


def _last_direction(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    end = points[-1]
    for point in reversed(points[:-1]):
        dx, dy = end[0] - point[0], end[1] - point[1]
        length = math.hypot(dx, dy)
        if length > 1e-6:
            return dx / length, dy / length
    return None


def _arrowhead(tip: tuple[float, float], direction: tuple[float, float], length: float) -> list[tuple[float, float]]:
    dx, dy = direction
    base = (tip[0] - dx * length, tip[1] - dy * length)
    half = 0.6 * length
    return [tip, (base[0] - dy * half, base[1] + dx * half), (base[0] + dy * half, base[1] - dx * half)]


def _circle(centre: tuple[float, float], radius: float) -> tuple[float, float, float, float]:
    return (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius)


# --- camera -------------------------------------------------------------------------------------


def _draw_camera_gesture(overlay: Image.Image, camera: CameraChoice) -> None:
    """A large translucent sign of the move across the middle of the picture."""
    draw = ImageDraw.Draw(overlay)
    w, h = overlay.size
    centre = (w / 2, h / 2)
    reach = 0.22 * min(w, h)
    width = int(_line_width() * 1.6)
    fill, shadow = (255, 255, 255, 210), (0, 0, 0, 140)
    move = camera.move
    strokes: list[tuple[tuple[float, float], tuple[float, float]]] = []
    if move.direction != (0, 0):
        dx, dy = move.direction
        strokes.append(((centre[0] - dx * reach, centre[1] - dy * reach), (centre[0] + dx * reach, centre[1] + dy * reach)))
    if move.zoom:
        for cx, cy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            near = (centre[0] + cx * reach * 0.45, centre[1] + cy * reach * 0.45)
            far = (centre[0] + cx * reach * 1.1, centre[1] + cy * reach * 1.1)
            strokes.append((near, far) if move.zoom > 0 else (far, near))
    drop = 3 * SUPERSAMPLE  # a drop shadow, offset down-right, keeps the sign readable on light pictures
    for colour, (ox, oy) in ((shadow, (drop, drop)), (fill, (0, 0))):
        for start, end in strokes:
            direction = _last_direction([start, end])
            assert direction is not None
            head = 3.0 * width
            neck = (end[0] - direction[0] * head * 0.8 + ox, end[1] - direction[1] * head * 0.8 + oy)
            draw.line([(start[0] + ox, start[1] + oy), neck], fill=colour, width=width)
            draw.polygon(_arrowhead((end[0] + ox, end[1] + oy), direction, head), fill=colour)
        if move.roll:
            shifted = (centre[0] + ox, centre[1] + oy)
            draw.arc(_circle(shifted, reach), start=200, end=470, fill=colour, width=width)
            angle = math.radians(470 if move.roll > 0 else 200)
            tip = (shifted[0] + reach * math.cos(angle), shifted[1] + reach * math.sin(angle))
            tangent = (-math.sin(angle) * move.roll, math.cos(angle) * move.roll)
            draw.polygon(_arrowhead(tip, tangent, 3.0 * width), fill=colour)


def _draw_camera_badge(shown: Image.Image, camera: CameraChoice) -> None:
    draw = ImageDraw.Draw(shown)
    font = _font(26)
    text = f"CAMERA  {camera.label}"
    pad = 12
    text_w = draw.textlength(text, font=font)
    box = (pad, pad, pad + text_w + 2 * pad, pad + 26 + 2 * pad)
    badge = Image.new("RGBA", shown.size, (0, 0, 0, 0))
    ImageDraw.Draw(badge).rounded_rectangle(box, radius=12, fill=(12, 14, 18, 210))
    shown.alpha_composite(badge)
    draw.text((box[0] + pad, (box[1] + box[3]) / 2), text, fill=TEXT, font=font, anchor="lm")


# --- end frame and caption ---------------------------------------------------------------------------


def _draw_end_frame(canvas: Image.Image, layout: PreviewLayout, end_frame: Path) -> None:
    box = layout.end_frame
    assert box is not None
    still = load_picture(end_frame, PANEL)
    still.thumbnail((box.width - 6, box.height - 6), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(canvas)
    draw.text((box.left, box.top - 10), "ENDS ON", fill=(255, 220, 0), font=_font(22), anchor="ls")
    frame = Box(box.left, box.top, still.width + 6, still.height + 6)
    draw.rectangle((frame.left, frame.top, frame.right - 1, frame.bottom - 1), fill=(255, 255, 255))
    canvas.paste(still, (frame.left + 3, frame.top + 3))
    # a chevron from the picture towards its end frame
    mid_y = frame.top + frame.height / 2
    x0 = layout.picture.right + 4
    draw.polygon([(x0, mid_y - 10), (x0 + MARGIN - 8, mid_y), (x0, mid_y + 10)], fill=MUTED)


def _draw_caption(canvas: Image.Image, box: Box, caption: Sequence[str], big, small, brush_index: Image.Image | None) -> None:  # type: ignore[no-untyped-def]
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((box.left, box.top, box.right, box.bottom), fill=CAPTION_BG)
    y = box.top + 18
    for i, line in enumerate(caption):
        font = big if i == 0 else small
        draw.text((MARGIN, y), _fit(draw, line, font, box.width - 2 * MARGIN), fill=TEXT if i == 0 else MUTED, font=font)
        y += 38 if i == 0 else 30
    if brush_index is None:
        return
    histogram = brush_index.histogram()
    x = MARGIN
    for colour in PALETTE:
        if not histogram[colour.index]:
            continue
        label = "static" if colour == STATIC else colour.name
        draw.rectangle((x, y + 8, x + 22, y + 30), fill=colour.rgb, outline=(235, 238, 245), width=2)
        draw.text((x + 30, y + 19), label, fill=TEXT, font=small, anchor="lm")
        x += 30 + int(draw.textlength(label, font=small)) + 24


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:  # type: ignore[no-untyped-def]
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
