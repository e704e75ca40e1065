"""Camera moves, named the way people say them, mapped to Kling's `camera_control`.

Kling (providers.md §1.4; Kling's image2video page) has four preset moves with no settings,
and a `simple` move with six axes in `config` (floats in [-10, 10], exactly one non-zero).
Signs, from the same page: horizontal −left/+right, vertical −down/+up, pan −left/+right,
tilt −down/+up, roll −anticlockwise/+clockwise, zoom −closer (narrower view)/+farther.
So "zoom in" is a NEGATIVE zoom. Old and new versions of the page disagree on which of pan
and tilt turns about which axis; we follow the film meaning (pan turns sideways, tilt up and
down) and mark those four moves unconfirmed until someone has watched a result.

Each move also says what it looks like on screen (the camera's direction, zoom and roll),
which the preview draws and the simulator animates, so the three can never disagree.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from bot.animate.refusals import CameraRefused
from bot.i18n import Text

SIMPLE_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
KlingType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
MIN_STRENGTH, MAX_STRENGTH, DEFAULT_STRENGTH = 1, 10, 5
SOURCE = "https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo"


@dataclass(frozen=True)
class CameraMove:
    name: str  # what members type and see, e.g. "zoom in"
    kling_type: KlingType
    axis: str | None = None  # the simple config key, for simple moves
    sign: int = 0  # the sign of that key's value
    # what the move looks like, in screen terms (x right, y down)
    direction: tuple[int, int] = (0, 0)  # where the camera travels or turns
    zoom: int = 0  # +1 closer, -1 farther
    roll: int = 0  # +1 clockwise, -1 anticlockwise
    confirmed: bool = True
    note: str = ""

    @property
    def simple(self) -> bool:
        return self.kling_type == "simple"


_PAN_TILT = "pan/tilt axes differ between versions of Kling's page; verify by watching a result"

MOVES: tuple[CameraMove, ...] = (
    CameraMove("zoom in", "simple", "zoom", -1, zoom=1),
    CameraMove("zoom out", "simple", "zoom", +1, zoom=-1),
    CameraMove("move left", "simple", "horizontal", -1, direction=(-1, 0)),
    CameraMove("move right", "simple", "horizontal", +1, direction=(1, 0)),
    CameraMove("move up", "simple", "vertical", +1, direction=(0, -1)),
    CameraMove("move down", "simple", "vertical", -1, direction=(0, 1)),
    CameraMove("pan left", "simple", "pan", -1, direction=(-1, 0), confirmed=False, note=_PAN_TILT),
    CameraMove("pan right", "simple", "pan", +1, direction=(1, 0), confirmed=False, note=_PAN_TILT),
    CameraMove("tilt up", "simple", "tilt", +1, direction=(0, -1), confirmed=False, note=_PAN_TILT),
    CameraMove("tilt down", "simple", "tilt", -1, direction=(0, 1), confirmed=False, note=_PAN_TILT),
    CameraMove("roll clockwise", "simple", "roll", +1, roll=1),
    CameraMove("roll anticlockwise", "simple", "roll", -1, roll=-1),
    CameraMove("down and back", "down_back", direction=(0, 1), zoom=-1),
    CameraMove("forward and up", "forward_up", direction=(0, -1), zoom=1),
    CameraMove("turn right and forward", "right_turn_forward", direction=(1, 0), zoom=1),
    CameraMove("turn left and forward", "left_turn_forward", direction=(-1, 0), zoom=1),
)
BY_NAME: dict[str, CameraMove] = {move.name: move for move in MOVES}
# Other spellings people use; Kling's own type names are accepted too.
ALIASES: dict[str, str] = {
    "roll counterclockwise": "roll anticlockwise",
    "roll counter clockwise": "roll anticlockwise",
    "roll anti clockwise": "roll anticlockwise",
    "down back": "down and back",
    "forward up": "forward and up",
    "right turn forward": "turn right and forward",
    "left turn forward": "turn left and forward",
}


def _normalise(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def find_move(name: str) -> CameraMove:
    key = _normalise(name)
    move = BY_NAME.get(ALIASES.get(key, key))
    if move is not None:
        return move
    close = difflib.get_close_matches(key, list(BY_NAME), n=1)
    moves = ", ".join(BY_NAME)
    if close:
        raise CameraRefused(
            Text('"{name}" is not a camera move; did you mean {close}? the moves are: {moves}.', name=name[:40], close=close[0], moves=moves)
        )
    raise CameraRefused(Text('"{name}" is not a camera move; the moves are: {moves}.', name=name[:40], moves=moves))


@dataclass(frozen=True)
class CameraChoice:
    """A move with its strength (None for the presets, which take none)."""

    move: CameraMove
    strength: int | None

    @property
    def label(self) -> str:
        return self.move.name if self.strength is None else f"{self.move.name} · {self.strength}/10"

    def kling(self) -> dict[str, object]:
        """Kling's (and GoAPI's) `camera_control` object."""
        if not self.move.simple:
            return {"type": self.move.kling_type}
        assert self.move.axis is not None and self.strength is not None
        config = {axis: 0.0 for axis in SIMPLE_AXES}
        config[self.move.axis] = float(self.move.sign * self.strength)
        return {"type": "simple", "config": config}


def choose_camera(name: str, strength: int | None) -> CameraChoice:
    """The member's camera and camera_strength options, checked."""
    move = find_move(name)
    if not move.simple:
        if strength is not None:
            raise CameraRefused(
                Text(
                    "{move} is one of Kling's preset moves, which have no strength; drop camera_strength "
                    "or pick a simple move such as zoom in.",
                    move=move.name,
                )
            )
        return CameraChoice(move, None)
    if strength is None:
        strength = DEFAULT_STRENGTH
    if not MIN_STRENGTH <= strength <= MAX_STRENGTH:
        raise CameraRefused(
            Text("camera_strength is {strength}; it must be {low}–{high}.", strength=strength, low=MIN_STRENGTH, high=MAX_STRENGTH)
        )
    return CameraChoice(move, strength)


def strength_of(strength: int | None) -> float:
    """0..1: how far a move goes (presets count as the default strength)."""
    return (DEFAULT_STRENGTH if strength is None else strength) / MAX_STRENGTH


@dataclass(frozen=True)
class ContentMotion:
    """How the picture's content moves on screen at some point of the clip (for the simulator).

    The camera and the content move opposite ways: a camera moving left makes the picture
    slide right. Shifts are fractions of the frame; degrees are anticlockwise (Pillow's sense).
    """

    shift_x: float = 0.0
    shift_y: float = 0.0
    scale: float = 1.0
    degrees: float = 0.0


# How far a move at full strength goes over the whole clip.
_FULL_SHIFT = 0.2  # a fifth of the frame
_FULL_ZOOM = 0.5  # half as large again
_FULL_ROLL = 30.0  # degrees


def content_motion(choice: CameraChoice, progress: float) -> ContentMotion:
    amount = strength_of(choice.strength) * min(1.0, max(0.0, progress))
    move = choice.move
    zoom = 1.0 + _FULL_ZOOM * amount
    return ContentMotion(
        shift_x=-move.direction[0] * _FULL_SHIFT * amount,
        shift_y=-move.direction[1] * _FULL_SHIFT * amount,
        scale=zoom if move.zoom > 0 else 1.0 / zoom if move.zoom < 0 else 1.0,
        degrees=move.roll * _FULL_ROLL * amount,
    )
