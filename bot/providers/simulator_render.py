"""The simulator's renderer: a real, clearly labelled MP4 made from the inputs.

Blocking code (PyAV + Pillow): the simulator runs it in a worker thread. The
reference video is streamed frame by frame (never whole in memory); each frame
gets the still image pasted in as a bordered card and a "SIMULATED" banner, so
whoever watches the result can tell at once that no provider was involved.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

from bot.media import MediaRejected
from bot.media_image import open_reduced
from bot.models import ErrorKind

LABEL = "SIMULATED — no provider was called"
MAX_FPS = Fraction(30)
CARD_HEIGHT_SHARE = 0.45  # the still's card is this share of the frame height
CARD_WIDTH_SHARE = 0.6  # ...and never wider than this share of the frame width
# The still is read at most this big: the card is at most 45% of a 1080p frame's height.
STILL_MAX_SIDE = 1280
BORDER = (255, 255, 255)
BANNER_BG = (0, 0, 0)
BANNER_FG = (255, 220, 0)


class RenderError(Exception):
    """Rendering failed; `kind` is what the simulator reports for the task."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class RenderStopped(Exception):
    """The stop event was set (the bot is shutting down); nothing was written."""


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


@dataclass(frozen=True)
class Layout:
    """Where things go on an output frame; tests read this to find the composite."""

    card: Box  # the still image, border included
    image: Box  # the still image inside the border
    banner: Box  # the "SIMULATED" label strip


@dataclass(frozen=True)
class RenderResult:
    width: int
    height: int
    fps: Fraction
    frames: int
    seconds: float
    audio: bool


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Fit within `max_side` on the long side, never upscale, even numbers (yuv420p needs them)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def layout(width: int, height: int, image_size: tuple[int, int]) -> Layout:
    """Banner along the top, the still as a card in the bottom-right corner."""
    margin = max(4, height // 40)
    border = max(2, height // 160)
    banner_height = max(16, height // 16)
    # the card keeps the still's aspect ratio inside a box of 45% height x 60% width
    img_w, img_h = image_size
    box_h = int(height * CARD_HEIGHT_SHARE) - 2 * border
    box_w = int(width * CARD_WIDTH_SHARE) - 2 * border
    scale = min(box_w / img_w, box_h / img_h)
    inner_w, inner_h = max(1, int(img_w * scale)), max(1, int(img_h * scale))
    card_w, card_h = inner_w + 2 * border, inner_h + 2 * border
    card = Box(width - margin - card_w, height - margin - card_h, card_w, card_h)
    image = Box(card.left + border, card.top + border, inner_w, inner_h)
    return Layout(card=card, image=image, banner=Box(0, 0, width, banner_height))


def render_motion(
    image_path: Path,
    video_path: Path,
    out_path: Path,
    *,
    max_seconds: float,
    max_side: int,
    keep_sound: bool,
    stop: threading.Event | None = None,
) -> RenderResult:
    """Write the simulated result to `out_path` (atomically: a partial file never has that name)."""
    # A name of its own: bot processes sharing DATA_DIR may render the same task at once (a takeover).
    partial = out_path.with_name(f"{out_path.name}.{os.getpid()}-{os.urandom(4).hex()}.part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = _render(image_path, video_path, partial, max_seconds, max_side, keep_sound, stop)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out_path)
    return result


def _load_still(image_path: Path) -> Image.Image:
    try:
        # the card is small: never hold the full picture longer than decoding it takes
        return open_reduced(image_path, STILL_MAX_SIDE)
    except FileNotFoundError:
        raise RenderError(ErrorKind.BAD_INPUT, f"input image is missing: {image_path.name}") from None
    except MediaRejected as exc:
        raise RenderError(ErrorKind.BAD_INPUT, f"input image is refused: {exc}") from None
    except OSError as exc:
        raise RenderError(ErrorKind.BAD_INPUT, f"input image cannot be read: {exc}") from None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu has the em dash; Pillow's bundled font is the fallback where it is not installed.
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _banner(box: Box) -> Image.Image:
    """The label strip, drawn once and pasted on every frame (pasting is much cheaper than drawing)."""
    strip = Image.new("RGB", (box.width, box.height), BANNER_BG)
    draw = ImageDraw.Draw(strip)
    size = max(8, int(box.height * 0.6))
    font = _font(size)
    # shrink until the label fits the width (portrait frames are narrow)
    while size > 8 and draw.textlength(LABEL, font=font) > box.width - 8:
        size -= 1
        font = _font(size)
    draw.text((box.width / 2, box.height / 2), LABEL, fill=BANNER_FG, font=font, anchor="mm")
    return strip


def _card(still: Image.Image, lay: Layout) -> Image.Image:
    card = Image.new("RGB", (lay.card.width, lay.card.height), BORDER)
    inner = still.resize((lay.image.width, lay.image.height), Image.Resampling.LANCZOS)
    card.paste(inner, (lay.image.left - lay.card.left, lay.image.top - lay.card.top))
    return card


def _render(
    image_path: Path,
    video_path: Path,
    partial: Path,
    max_seconds: float,
    max_side: int,
    keep_sound: bool,
    stop: threading.Event | None,
) -> RenderResult:
    still = _load_still(image_path)
    try:
        source = av.open(str(video_path))
    except FileNotFoundError:
        raise RenderError(ErrorKind.BAD_INPUT, f"input video is missing: {video_path.name}") from None
    except av.error.FFmpegError as exc:
        raise RenderError(ErrorKind.BAD_INPUT, f"input video cannot be opened: {exc}") from None
    with source:
        if not source.streams.video:
            raise RenderError(ErrorKind.BAD_INPUT, "input video has no video stream")
        vin = source.streams.video[0]
        vin.thread_type = "AUTO"
        ain = source.streams.audio[0] if keep_sound and source.streams.audio else None
        in_rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        fps = min(Fraction(in_rate), MAX_FPS)
        width, height = output_size(vin.codec_context.width, vin.codec_context.height, max_side)
        lay = layout(width, height, still.size)
        card, banner = _card(still, lay), _banner(lay.banner)

        with av.open(str(partial), "w", format="mp4", container_options={"movflags": "+faststart"}) as out:
            vout = out.add_stream("libx264", rate=fps)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            # CRF for quality, capped at ~2 Mbit/s so even 30 s stays under Discord's 10 MB upload
            # limit and the trial run can show delivery as an attachment.
            vout.options = {"preset": "veryfast", "crf": "23", "maxrate": "2M", "bufsize": "4M"}
            aout = None
            if ain is not None:
                aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 44100)
                aout.layout = "mono" if ain.codec_context.channels == 1 else "stereo"

            # the cap counted in output frames, so rounding to the frame grid never runs past it
            max_frames = int(max_seconds * float(fps) + 1e-6)
            frames = 0
            last_pts = -1
            start: float | None = None
            video_done = False
            audio_done = aout is None
            streams = [vin] + ([ain] if ain is not None else [])
            try:
                for packet in source.demux(*streams):
                    if stop is not None and stop.is_set():
                        raise RenderStopped()
                    if packet.stream is vin and not video_done:
                        for frame in packet.decode():
                            t = frame.time if frame.time is not None else frames / float(fps)
                            start = t if start is None else start
                            t -= start
                            # frame-rate cap: keep a frame only if it starts a new output slot
                            # (floor, not round: the last input frame must not spill into a slot past the end)
                            pts = math.floor(t * float(fps) + 1e-3)
                            if pts <= last_pts:
                                continue
                            if pts >= max_frames:
                                video_done = True
                                break
                            last_pts = pts
                            img = frame.to_image(width=width, height=height)
                            img.paste(card, (lay.card.left, lay.card.top))
                            img.paste(banner, (lay.banner.left, lay.banner.top))
                            vframe = av.VideoFrame.from_image(img).reformat(format="yuv420p")
                            vframe.pts = pts
                            vframe.time_base = 1 / fps
                            out.mux(vout.encode(vframe))
                            frames += 1
                    elif aout is not None and packet.stream is ain and not audio_done:
                        for aframe in packet.decode():
                            if aframe.time is not None and aframe.time - (start or 0.0) >= max_seconds:
                                audio_done = True
                                break
                            aframe.pts = None  # the encoder's resampler re-times the samples from zero
                            out.mux(aout.encode(aframe))
                    if video_done and audio_done:
                        break
            except av.error.FFmpegError as exc:
                raise RenderError(ErrorKind.BAD_INPUT, f"input video cannot be decoded: {exc}") from None
            if frames == 0:
                raise RenderError(ErrorKind.BAD_INPUT, "input video has no decodable frames")
            out.mux(vout.encode(None))
            if aout is not None:
                out.mux(aout.encode(None))
    seconds = float((last_pts + 1) / fps)
    return RenderResult(width=width, height=height, fps=fps, frames=frames, seconds=seconds, audio=aout is not None)
