"""Paths for the motion brush: parsing, checks, resampling, and Kling's flipped y axis.

Members write paths in the picture's own pixel coordinates, origin at the top-left and
y growing downwards (the way image editors show them):

    green: 120,400 180,380 260,300; purple: 500,900 500,600

A point is inside the picture when 0 <= x <= width - 1 and 0 <= y <= height - 1: the
coordinates name pixels, so the last column is width - 1.

Kling's trajectories use the bottom-left pixel as (0, 0) with y growing upwards, integers
(providers.md §1.4; Kling's image2video page: "pixel coordinate system with the bottom-left
corner of the input image as the origin"). We convert with y_kling = height - 1 - y:

- both systems number the same pixels 0 .. height - 1, so the top row (y = 0) is Kling's
  row height - 1 and the bottom row (y = height - 1) is Kling's row 0: corners map to
  corners and every point inside the picture stays inside;
- height - y (providers.md §5's note) treats coordinates as continuous edges; on integer
  pixel indices it sends the top row to y = height, one past Kling's last row, and never
  reaches row 0. The two differ by one pixel, but only height - 1 - y is its own inverse
  on the pixel grid and keeps both ends of a path inside the picture.

GoAPI takes the member's own orientation (origin top-left, floats allowed): no flip.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from itertools import pairwise

from bot.animate.brush import BY_NAME, MOVING, Brush, BrushColour
from bot.animate.refusals import PathRefused
from bot.i18n import Text

Point = tuple[float, float]

MIN_POINTS = 2
# Kling: "2-77 points" for a 5 s video (providers.md §1.4). Providers may set a lower cap.
KLING_MAX_POINTS = 77

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_POINT = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s*")
_MOVING_NAMES = tuple(colour.name for colour in MOVING)


def parse_paths(text: str) -> dict[str, list[Point]]:
    """`"green: 1,2 3,4; purple: ..."` -> {"green": [(1, 2), (3, 4)], ...}, in the order written."""
    paths: dict[str, list[Point]] = {}
    for part in (piece.strip() for piece in text.split(";")):
        if not part:
            continue
        name, colon, rest = part.partition(":")
        name = name.strip().lower()
        if not colon:
            raise PathRefused(
                Text(
                    '"{text}" has no colour name; write each path as "colour: x,y x,y ...", '
                    'paths separated by ";" (e.g. "green: 120,400 260,300").',
                    text=_clip(part),
                )
            )
        colour = _moving_colour(name)
        if colour.name in paths:
            raise PathRefused(Text("There are two {colour} paths; each moving area takes exactly one path.", colour=colour.name))
        paths[colour.name] = _parse_points(colour.name, rest)
    if not paths:
        raise PathRefused(Text('The paths are empty; write e.g. "green: 120,400 260,300".'))
    return paths


def _moving_colour(name: str) -> BrushColour:
    colour = BY_NAME.get(name)
    if colour is not None and colour.moving:
        return colour
    if colour is not None:
        raise PathRefused(Text("Black marks the static area, which stays still, so it cannot have a path."))
    close = difflib.get_close_matches(name, _MOVING_NAMES, n=1)
    colours = ", ".join(_MOVING_NAMES)
    if close:
        raise PathRefused(
            Text('"{name}" is not a brush colour (did you mean {close}?); paths use {colours}.', name=_clip(name), close=close[0], colours=colours)
        )
    raise PathRefused(Text('"{name}" is not a brush colour; paths use {colours}.', name=_clip(name), colours=colours))


def _parse_points(name: str, text: str) -> list[Point]:
    points: list[Point] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _POINT.match(text, position)
        if match is None:
            bad = text[position:].split()[0] if text[position:].split() else text[position:]
            raise PathRefused(
                Text(
                    'In the {colour} path, "{text}" is not a point; write points as x,y pixel numbers '
                    'separated by spaces (e.g. "120,400 180,380").',
                    colour=name, text=_clip(bad),
                )
            )
        points.append((float(match.group(1)), float(match.group(2))))
        position = match.end()
    return points


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_point(point: Point) -> str:
    return f"{point[0]:g},{point[1]:g}"


# --- checks -------------------------------------------------------------------------------------


def check_paths(
    paths: Mapping[str, Sequence[Point]], size: tuple[int, int], brush: Brush, max_points: int = KLING_MAX_POINTS
) -> tuple[dict[str, list[Point]], list[Text]]:
    """Every rule of issue 11 for paths against their brush; longer paths resampled.

    Returns the paths to send (palette order) and the notes to show the member.
    """
    moving = {colour.name for colour in brush.moving}
    for name in paths:
        if name not in moving:
            raise PathRefused(
                Text("There is a {colour} path but nothing is painted {colour} in the brush; paint the area or drop the path.", colour=name)
            )
    for colour in brush.moving:
        if colour.name not in paths:
            raise PathRefused(
                Text(
                    "The {colour} area in the brush has no path; every moving area needs one "
                    '(e.g. "{colour}: x,y x,y" from where it starts to where it goes).',
                    colour=colour.name,
                )
            )
    checked: dict[str, list[Point]] = {}
    notes: list[Text] = []
    for colour in brush.moving:
        points = list(paths[colour.name])
        if len(points) < MIN_POINTS:
            raise PathRefused(
                Text(
                    "The {colour} path has {count} point; a path needs at least {minimum} (where it starts and where it ends).",
                    plural="The {colour} path has {count} points; a path needs at least {minimum} (where it starts and where it ends).",
                    count=len(points), colour=colour.name, minimum=MIN_POINTS,
                )
            )
        for point in points:
            _check_inside(colour.name, point, size)
        _check_starts_in_area(colour, points[0], brush)
        if len(points) > max_points:
            notes.append(
                Text(
                    "The {colour} path had {number} points; at most {limit} are allowed, so it was evenly "
                    "resampled to {limit} points, keeping its start and end.",
                    colour=colour.name, number=len(points), limit=max_points,
                )
            )
            points = resample(points, max_points)
        checked[colour.name] = points
    return checked, notes


def _check_inside(name: str, point: Point, size: tuple[int, int]) -> None:
    width, height = size
    if not (0 <= point[0] <= width - 1 and 0 <= point[1] <= height - 1):
        raise PathRefused(
            Text(
                "The {colour} point {point} is outside the picture; x must be 0–{max_x} and y 0–{max_y} "
                "(pixels from the top-left corner).",
                colour=name, point=fmt_point(point), max_x=width - 1, max_y=height - 1,
            )
        )


def _check_starts_in_area(colour: BrushColour, start: Point, brush: Brush) -> None:
    x, y = round(start[0]), round(start[1])
    if brush.colour_at(x, y) == colour:
        return
    box = brush.area_box(colour)
    if box is None:
        raise PathRefused(
            Text(
                "The {colour} path starts at {point}, which is not painted {colour} in the brush; a path must start inside its own area.",
                colour=colour.name, point=fmt_point(start),
            )
        )
    raise PathRefused(
        Text(
            "The {colour} path starts at {point}, which is not painted {colour} in the brush "
            "(the {colour} area spans x {left}–{right}, y {top}–{bottom}); a path must start inside its own area.",
            colour=colour.name, point=fmt_point(start), left=box[0], right=box[2], top=box[1], bottom=box[3],
        )
    )


# --- geometry -------------------------------------------------------------------------------------


def resample(points: Sequence[Point], count: int) -> list[Point]:
    """`count` points evenly spaced along the polyline, the first and last kept exactly.

    Every new point lies on a segment of the original path (clamped to the segment's box
    against rounding), so a path inside the picture stays inside it.
    """
    if count < 2:
        raise ValueError("resampling needs at least 2 points")
    if len(points) <= count:
        return list(points)
    lengths = [math.dist(a, b) for a, b in pairwise(points)]
    total = sum(lengths)
    if total == 0:
        return [points[0]] * (count - 1) + [points[-1]]
    result = [points[0]]
    segment, walked = 0, 0.0  # walked = path length before `segment`
    for i in range(1, count - 1):
        target = total * i / (count - 1)
        while segment < len(lengths) - 1 and walked + lengths[segment] < target:
            walked += lengths[segment]
            segment += 1
        (ax, ay), (bx, by) = points[segment], points[segment + 1]
        t = 0.0 if lengths[segment] == 0 else min(1.0, max(0.0, (target - walked) / lengths[segment]))
        x = min(max(ax + t * (bx - ax), min(ax, bx)), max(ax, bx))
        y = min(max(ay + t * (by - ay), min(ay, by)), max(ay, by))
        result.append((x, y))
    result.append(points[-1])
    return result


def point_along(points: Sequence[Point], fraction: float) -> Point:
    """The point `fraction` (0..1) of the way along the polyline, by length."""
    lengths = [math.dist(a, b) for a, b in pairwise(points)]
    total = sum(lengths)
    if total == 0 or fraction <= 0:
        return points[0]
    target = min(1.0, fraction) * total
    for (a, b), length in zip(pairwise(points), lengths):
        if target <= length and length > 0:
            t = target / length
            return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        target -= length
    return points[-1]


def flip_y(y: int, height: int) -> int:
    """Top-left <-> bottom-left pixel rows; its own inverse (see the module docstring)."""
    return height - 1 - y


def kling_trajectory(points: Sequence[Point], height: int) -> list[dict[str, int]]:
    """Kling's `trajectories`: integers, origin bottom-left. Rounded first, then flipped,
    so the flip stays exact (and its own inverse) on whole pixels."""
    return [{"x": round(x), "y": flip_y(round(y), height)} for x, y in points]


def from_kling_trajectory(trajectory: Sequence[Mapping[str, int]], height: int) -> list[Point]:
    """The inverse of `kling_trajectory` (for emulators and tests)."""
    return [(float(p["x"]), float(flip_y(int(p["y"]), height))) for p in trajectory]


def goapi_points(points: Sequence[Point]) -> list[dict[str, float | int]]:
    """GoAPI's `dynamic_masks[].points`: origin top-left like ours; whole numbers sent as ints."""
    return [{"x": _number(x), "y": _number(y)} for x, y in points]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)
