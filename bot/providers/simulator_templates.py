"""The simulator's own motion templates, so a free trial can try the template option too.

Each template is a short clip of a stick figure doing one named motion ("Wave", "Spin", "Jump"),
drawn frame by frame with Pillow and encoded with PyAV. Nothing is shipped in the repository: a
clip is made the first time it is asked for and kept in DATA_DIR/simulator/templates/, named with
TEMPLATE_VERSION so that a change to the drawings makes new files instead of reusing stale ones.

Every clip is a reference video like any upload: an H.264 MP4 of 3-5 s at 540×960, which passes
the media checks for both orientations. `template_clip` blocks while it renders (about a second,
once per template): call it from async code through asyncio.to_thread.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

from bot.errors import Refusal
from bot.i18n import Text
from bot.providers.base import MotionTemplate

TEMPLATE_VERSION = 1
WIDTH, HEIGHT, FPS = 540, 960, 24
BACKGROUND = (28, 30, 40)
FLOOR = (70, 74, 90)
FIGURE = (245, 245, 245)
FACE = (255, 190, 60)
LINE = 14
HEAD_RADIUS = 44
UPPER_ARM, FOREARM, THIGH, SHIN, TORSO = 110, 100, 130, 130, 200
FLOOR_Y = 840
HIP_Y = 575  # standing: the feet just above the floor
JUMP_HEIGHT = 150  # px: head and raised hands stay inside the frame

Point = tuple[float, float]


class UnknownTemplate(Refusal):
    """The member picked a template id the simulator does not have (e.g. from an old message)."""

    def __init__(self, template_id: str) -> None:
        self.text = Text(
            "{provider} has no motion template called {template}; pick one from the list.",
            provider="simulator",
            template=template_id,
        )
        super().__init__(str(self.text))


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees from straight down (positive turns towards the right of the frame)."""

    hip: Point
    left_arm: tuple[float, float]  # upper arm, forearm
    right_arm: tuple[float, float]
    left_leg: tuple[float, float]  # thigh, shin
    right_leg: tuple[float, float]
    turn: float = 0.0  # rotation about the vertical axis, radians: 0 faces the camera


@dataclass(frozen=True)
class _Template:
    id: str
    name: Text  # shown to members in their language
    seconds: float
    pose: Callable[[float], Pose]  # time (s) -> pose


def _wave(t: float) -> Pose:
    sway = 10 * math.sin(2 * math.pi * 0.5 * t)
    return Pose(
        hip=(WIDTH / 2 + sway, HIP_Y),
        left_arm=(-15, -10),
        right_arm=(135, 165 + 35 * math.sin(2 * math.pi * 2 * t)),  # raised, the hand swinging twice a second
        left_leg=(-8, -4),
        right_leg=(8, 4),
    )


def _spin(t: float, seconds: float = 4.0) -> Pose:
    return Pose(
        hip=(WIDTH / 2, HIP_Y),
        left_arm=(-80, -90),
        right_arm=(80, 90),
        left_leg=(-10, -6),
        right_leg=(10, 6),
        turn=2 * math.pi * t / seconds,  # one full turn
    )


def _jump(t: float) -> Pose:
    phase = (t % 2.0) / 2.0  # a jump every 2 s: crouch, take off, fly, land
    if phase < 0.25:
        crouch, height = math.sin(math.pi * phase / 0.25), 0.0
    elif phase < 0.75:
        u = (phase - 0.25) / 0.5
        crouch, height = 0.0, JUMP_HEIGHT * 4 * u * (1 - u)
    else:
        crouch, height = math.sin(math.pi * (phase - 0.75) / 0.25) * 0.6, 0.0
    bend = 50 * crouch
    thigh, shin = 10 + bend, 10 - bend
    # The hip drops by what the bent legs lose in height, so the feet stay on the ground.
    legs = THIGH * math.cos(math.radians(thigh)) + SHIN * math.cos(math.radians(shin))
    standing = (THIGH + SHIN) * math.cos(math.radians(10))
    arms = 20 + 120 * (height / JUMP_HEIGHT)  # arms swing up in the air
    return Pose(
        hip=(WIDTH / 2, HIP_Y + standing - legs - height),
        left_arm=(-arms, -arms - 10),
        right_arm=(arms, arms + 10),
        left_leg=(-thigh, -shin),
        right_leg=(thigh, shin),
    )


TEMPLATES: tuple[_Template, ...] = (
    _Template("sim-wave", Text("Wave", msgctxt="motion template"), 4.0, _wave),
    _Template("sim-spin", Text("Spin", msgctxt="motion template"), 4.0, _spin),
    _Template("sim-jump", Text("Jump", msgctxt="motion template"), 4.0, _jump),
)
_BY_ID = {template.id: template for template in TEMPLATES}
_render_lock = threading.Lock()  # one render at a time in this process; files are replaced atomically


def list_templates() -> list[MotionTemplate]:
    """The simulator's templates, as every provider lists its own (names in English)."""
    return [MotionTemplate(id=t.id, name=str(t.name), seconds=t.seconds) for t in TEMPLATES]


def template_name(template_id: str) -> Text:
    """A template's name for a member's language."""
    return _template(template_id).name


def template_clip(data_dir: Path, template_id: str) -> Path:
    """The template's clip, made on first use. Blocking; raises UnknownTemplate."""
    template = _template(template_id)
    folder = data_dir / "simulator" / "templates"
    path = folder / f"{template.id}-v{TEMPLATE_VERSION}.mp4"
    if path.is_file():
        return path
    with _render_lock:
        if path.is_file():  # made while we waited
            return path
        folder.mkdir(parents=True, exist_ok=True)
        # A unique partial name: another process (a second bot on the same DATA_DIR) may render too.
        fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{template.id}.", suffix=".part")
        os.close(fd)
        try:
            _render(template, Path(partial))
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
    return path


def _template(template_id: str) -> _Template:
    try:
        return _BY_ID[template_id]
    except KeyError:
        raise UnknownTemplate(template_id) from None


# --- drawing ------------------------------------------------------------------------------------


def _limb(start: Point, angle: float, length: float, squash: float) -> Point:
    radians = math.radians(angle)
    return start[0] + length * math.sin(radians) * squash, start[1] + length * math.cos(radians)


def _frame(pose: Pose) -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, FLOOR_Y, WIDTH, HEIGHT), fill=FLOOR)
    squash = math.cos(pose.turn)  # a turned figure is seen narrower; at 90° only its profile
    hip = pose.hip
    neck = (hip[0], hip[1] - TORSO)
    head = (neck[0], neck[1] - HEAD_RADIUS - 8)
    segments = [(hip, neck)]
    for shoulder_or_hip, (upper, lower), first, second in (
        (neck, pose.left_arm, UPPER_ARM, FOREARM),
        (neck, pose.right_arm, UPPER_ARM, FOREARM),
        (hip, pose.left_leg, THIGH, SHIN),
        (hip, pose.right_leg, THIGH, SHIN),
    ):
        joint = _limb(shoulder_or_hip, upper, first, squash)
        segments += [(shoulder_or_hip, joint), (joint, _limb(joint, lower, second, squash))]
    for a, b in segments:
        draw.line((a, b), fill=FIGURE, width=LINE, joint="curve")
        for end in (a, b):  # round ends, so joints do not show gaps
            draw.ellipse((end[0] - LINE / 2, end[1] - LINE / 2, end[0] + LINE / 2, end[1] + LINE / 2), fill=FIGURE)
    draw.ellipse((head[0] - HEAD_RADIUS, head[1] - HEAD_RADIUS, head[0] + HEAD_RADIUS, head[1] + HEAD_RADIUS), fill=FIGURE)
    if squash > 0:  # facing the camera: a face mark that slides sideways as the figure turns
        face_x = head[0] + 0.5 * HEAD_RADIUS * math.sin(pose.turn)
        draw.ellipse((face_x - 10, head[1] - 6, face_x + 10, head[1] + 14), fill=FACE)
    return img


def _render(template: _Template, dest: Path) -> None:
    frames = round(template.seconds * FPS)
    with av.open(str(dest), "w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(frames):
            frame = av.VideoFrame.from_image(_frame(template.pose(index / FPS))).reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
