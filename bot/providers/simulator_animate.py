"""The simulator's image-to-video renderer: a real MP4 of the requested length from the still.

What it shows is what was asked for, so a member trying the bot for free can check that
their choices did what they meant:

- a camera move: the picture panned, zoomed or rolled (bot.animate.camera says how much);
- a motion brush: each moving area's pixels carried along its path, the hole it leaves
  filled from the colours around it, the static area and the rest left where they are;
- an end frame: a cross-fade from the picture into it;
- nothing chosen: a slow, slight push in, so the clip is visibly a video.

Every frame carries the simulator's "SIMULATED" banner and a strip naming the choices.
Large pictures are reduced to the output size first; work per frame is on that copy.
Blocking (Pillow + PyAV): run it in a worker thread, as render_motion is.
"""

from __future__ import annotations

import math
import os
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from bot.animate.brush import BY_NAME
from bot.animate.camera import (
    CameraChoice,
    ContentMotion,
    choose_camera,
    content_motion,
)
from bot.animate.masks import load_colour_indexed
from bot.animate.models import AnimateRequest
from bot.animate.paths import Point, point_along
from bot.animate.picture import load_picture
from bot.models import ErrorKind
from bot.providers.simulator_render import (
    BANNER_BG,
    Box,
    RenderError,
    RenderResult,
    RenderStopped,
    _banner,
    _font,
    output_size,
)

FPS = Fraction(24)
IDLE_PUSH = ContentMotion(scale=1.04)  # with no camera, brush or end frame: a slight push in
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class _Area:
    cutout: Image.Image  # the area's pixels (RGB), cropped to its box
    mask: Image.Image  # L, same box
    origin: tuple[int, int]  # the box's top-left corner in the frame
    path: list[Point]  # in frame pixels


def render_animate(
    request: AnimateRequest, out_path: Path, *, max_side: int, stop: threading.Event | None = None
) -> RenderResult:
    """Write the simulated clip to `out_path` (atomically: a partial file never has that name)."""
    # A name of its own: bot processes sharing DATA_DIR may render the same task at once (a takeover).
    partial = out_path.with_name(f"{out_path.name}.{os.getpid()}-{os.urandom(4).hex()}.part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = _render(request, partial, max_side, stop)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out_path)
    return result


def smooth(progress: float) -> float:
    """Ease in and out, so moves start and stop gently (ends at exactly 0 and 1)."""
    p = min(1.0, max(0.0, progress))
    return p * p * (3 - 2 * p)


def _render(request: AnimateRequest, partial: Path, max_side: int, stop: threading.Event | None) -> RenderResult:
    still = _picture(request.image.path, max_side)
    width, height = output_size(still.width, still.height, max_side)
    still = still.resize((width, height), Image.Resampling.LANCZOS)
    camera = None if request.camera is None else choose_camera(request.camera.move, request.camera.strength)
    areas, background = _areas(request, still) if request.brush_files else ([], still)
    end = _fit(_picture(request.end_image.path, max_side), (width, height)) if request.end_image else None
    backdrop = ImageOps.fit(still, (width, height)).filter(ImageFilter.GaussianBlur(max(4, width // 40)))
    banner_box = Box(0, 0, width, max(16, height // 16))
    banner = _banner(banner_box)
    strip = _strip(_describe(request, camera), width, banner_box.height)

    frames = int(request.seconds * FPS)
    with av.open(str(partial), "w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        vout = out.add_stream("libx264", rate=FPS)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "23", "maxrate": "2M", "bufsize": "4M"}
        aout = None
        if request.options.sound:
            aout = out.add_stream("aac", rate=SAMPLE_RATE)
            aout.layout = "mono"
        for i in range(frames):
            if stop is not None and stop.is_set():
                raise RenderStopped()
            progress = i / max(1, frames - 1)
            if areas:
                frame = _brushed(background, areas, smooth(progress))
            elif end is not None:
                frame = Image.blend(still, end, smooth((progress - 0.15) / 0.7))
            else:
                motion = content_motion(camera, smooth(progress)) if camera else _idle(progress)
                frame = _moved(still, backdrop, motion)
            frame.paste(banner, (0, 0))
            frame.paste(strip, (0, height - strip.height))
            vframe = av.VideoFrame.from_image(frame).reformat(format="yuv420p")
            vframe.pts = i
            vframe.time_base = 1 / FPS
            out.mux(vout.encode(vframe))
        out.mux(vout.encode(None))
        if aout is not None:
            _chime(out, aout, float(request.seconds))
    return RenderResult(width=width, height=height, fps=FPS, frames=frames, seconds=float(frames / FPS), audio=aout is not None)


def _picture(path: Path, max_side: int) -> Image.Image:
    try:
        return load_picture(path, max_side)
    except FileNotFoundError:
        raise RenderError(ErrorKind.BAD_INPUT, f"input image is missing: {path.name}") from None
    except OSError as exc:
        raise RenderError(ErrorKind.BAD_INPUT, f"input image cannot be read: {exc}") from None


def _idle(progress: float) -> ContentMotion:
    return ContentMotion(scale=1.0 + (IDLE_PUSH.scale - 1.0) * smooth(progress))


def _moved(still: Image.Image, backdrop: Image.Image, motion: ContentMotion) -> Image.Image:
    """The still scaled, rotated and shifted about the frame's centre, over a blurred backdrop."""
    if motion.degrees:
        return _turned(still, backdrop, motion)
    # Scale and shift only: resize the visible part of the still straight into place
    # (a separable resize is several times cheaper than a general affine transform).
    w, h = still.size
    s = motion.scale
    shift = (motion.shift_x * w, motion.shift_y * h)
    box: list[float] = []
    place: list[int] = []
    for size, move in ((w, shift[0]), (h, shift[1])):
        centre = size / 2
        lo = max(0.0, centre + (0 - centre - move) / s)  # the source span the frame shows...
        hi = min(float(size), centre + (size - centre - move) / s)
        box.append(lo)
        box.append(hi)
        place.append(round(centre + s * (lo - centre) + move))  # ...and where it lands
        place.append(round(centre + s * (hi - centre) + move))
    dest = (place[1] - place[0], place[3] - place[2])
    if dest[0] <= 0 or dest[1] <= 0 or box[1] <= box[0] or box[3] <= box[2]:
        return backdrop.copy()
    part = still.resize(dest, Image.Resampling.BILINEAR, box=(box[0], box[2], box[1], box[3]))
    if dest == (w, h):
        return part
    frame = backdrop.copy()
    frame.paste(part, (place[0], place[2]))
    return frame


def _turned(still: Image.Image, backdrop: Image.Image, motion: ContentMotion) -> Image.Image:
    w, h = still.size
    cx, cy = w / 2, h / 2
    tx, ty = motion.shift_x * w, motion.shift_y * h
    angle = math.radians(motion.degrees)
    cos, sin, s = math.cos(angle), math.sin(angle), motion.scale
    # Output pixel -> source pixel: the inverse of "scale, turn anticlockwise, shift" about the centre.
    a, b, d, e = cos / s, -sin / s, sin / s, cos / s
    c = cx - a * (cx + tx) - b * (cy + ty)
    f = cy - d * (cx + tx) - e * (cy + ty)
    coefficients = (a, b, c, d, e, f)
    moved = still.transform((w, h), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR)
    covered = Image.new("L", (w, h), 255).transform((w, h), Image.Transform.AFFINE, coefficients)
    frame = backdrop.copy()
    frame.paste(moved, (0, 0), covered)
    return frame


def _areas(request: AnimateRequest, still: Image.Image) -> tuple[list[_Area], Image.Image]:
    """Cut each moving area out of the still; the background is filled in where they were."""
    assert request.brush_files is not None
    size = still.size
    index = load_colour_indexed(request.brush_files.colour_indexed).resize(size, Image.Resampling.NEAREST)
    sx, sy = size[0] / request.image_width, size[1] / request.image_height
    areas: list[_Area] = []
    holes = Image.new("L", size, 0)
    for name, points in request.paths.items():
        value = BY_NAME[name].index
        mask = index.point([255 if i == value else 0 for i in range(256)])
        box = mask.getbbox()
        if box is None:  # an area too thin to survive the reduction
            continue
        holes.paste(255, mask=mask)
        path = [((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5) for x, y in points]
        areas.append(_Area(still.crop(box), mask.crop(box), (box[0], box[1]), path))
    background = still.copy()
    background.paste(_fill_holes(still, holes), (0, 0), holes)
    return areas, background


def _fill_holes(still: Image.Image, holes: Image.Image) -> Image.Image:
    """Colours from around the holes, smoothed into them ("push-pull": Pillow resizes RGBA with
    premultiplied alpha, so hidden pixels add nothing to the averages)."""
    visible = still.convert("RGBA")
    visible.putalpha(ImageOps.invert(holes))
    filled = visible.resize((1, 1), Image.Resampling.BOX).convert("RGB").resize(still.size).convert("RGBA")
    for factor in (64, 16, 4):
        small = (max(1, still.width // factor), max(1, still.height // factor))
        layer = visible.resize(small, Image.Resampling.BOX).resize(still.size, Image.Resampling.BILINEAR)
        filled.alpha_composite(layer)
    return filled.convert("RGB")


def _brushed(background: Image.Image, areas: Sequence[_Area], progress: float) -> Image.Image:
    frame = background.copy()
    for area in areas:
        x, y = point_along(area.path, progress)
        dx, dy = round(x - area.path[0][0]), round(y - area.path[0][1])
        frame.paste(area.cutout, (area.origin[0] + dx, area.origin[1] + dy), area.mask)
    return frame


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The whole image inside `size`, on a blurred, filled copy of itself (no black bars)."""
    framed = ImageOps.fit(image, size).filter(ImageFilter.GaussianBlur(max(4, size[0] // 40)))
    inner = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    framed.paste(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    return framed


def _describe(request: AnimateRequest, camera: CameraChoice | None) -> str:
    if camera is not None:
        return f"camera: {camera.label}"
    if request.paths:
        return "brush: " + ", ".join(request.paths) + " follow their paths"
    if request.end_image is not None:
        return "cross-fade into the end frame"
    return "no camera, brush or end frame chosen"


def _strip(text: str, width: int, height: int) -> Image.Image:
    strip = Image.new("RGB", (width, height), BANNER_BG)
    draw = ImageDraw.Draw(strip)
    size = max(8, int(height * 0.55))
    font = _font(size)
    while size > 8 and draw.textlength(text, font=font) > width - 8:
        size -= 1
        font = _font(size)
    draw.text((width / 2, height / 2), text, fill=(235, 235, 235), font=font, anchor="mm")
    return strip


def _chime(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    """A quiet two-tone hum standing in for generated sound (PCM built without numpy)."""
    samples = int(seconds * SAMPLE_RATE)
    pcm = array("h", (int(2500 * (math.sin(2 * math.pi * 330 * t / SAMPLE_RATE) + math.sin(2 * math.pi * 495 * t / SAMPLE_RATE)))
                      for t in range(samples)))
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    frame.planes[0].update(pcm.tobytes())
    frame.sample_rate = SAMPLE_RATE
    frame.pts = 0
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
