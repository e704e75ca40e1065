"""Paths: the typed syntax, every check at and just past its edge, resampling and Kling's flip."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.animate.brush import read_brush
from bot.animate.paths import (
    KLING_MAX_POINTS,
    check_paths,
    flip_y,
    from_kling_trajectory,
    goapi_points,
    kling_trajectory,
    parse_paths,
    point_along,
    resample,
)
from bot.animate.refusals import PathRefused
from tests.animate_factory import make_picture, save_brush

SIZE = (200, 100)
PROPERTY = settings(max_examples=150, deadline=None, database=None)


# --- parsing -------------------------------------------------------------------------------------


def test_the_issues_example_parses() -> None:
    assert parse_paths("green: 120,400 180,380 260,300; purple: 500,900 500,600") == {
        "green": [(120, 400), (180, 380), (260, 300)],
        "purple": [(500, 900), (500, 600)],
    }


def test_spacing_case_decimals_and_a_trailing_semicolon_are_fine() -> None:
    assert parse_paths("  Green :1, 2   3 ,4.5;;RED: 0,0 9,9 ; ") == {"green": [(1, 2), (3, 4.5)], "red": [(0, 0), (9, 9)]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gren: 1,2 3,4", r'"gren" is not a brush colour \(did you mean green\?\)'),
        ("orange: 1,2 3,4", r'"orange" is not a brush colour; paths use green, purple, blue, pink, yellow, red'),
        ("black: 1,2 3,4", "Black marks the static area"),
        ("green: 1,2 3,4; green: 5,6 7,8", "two green paths"),
        ("1,2 3,4", "has no colour name"),
        ("green: 1,2 3 4", r'"3" is not a point'),
        ("green: 1,2 x,4", r'"x,4" is not a point'),
        ("   ;  ", "The paths are empty"),
    ],
)
def test_bad_text_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PathRefused, match=message):
        parse_paths(text)


# --- checks against the brush --------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    picture = make_picture(tmp_path / "p.png", *SIZE)
    brush = save_brush(tmp_path / "b.png", SIZE, {"green": [(10, 10, 29, 29)], "purple": [(150, 50, 159, 59)], "black": [(0, 90, 199, 99)]})
    return picture, brush


def _check(files: tuple[Path, Path], text: str, max_points: int = KLING_MAX_POINTS):  # type: ignore[no-untyped-def]
    picture, brush = files
    return check_paths(parse_paths(text), SIZE, read_brush(brush, picture), max_points)


def test_valid_paths_come_back_in_palette_order(files: tuple[Path, Path]) -> None:
    paths, notes = _check(files, "purple: 155,55 100,20; green: 10,10 199,99")
    assert list(paths) == ["green", "purple"] and notes == []
    assert paths["green"] == [(10, 10), (199, 99)]  # the far corner of the picture is inside


@pytest.mark.parametrize(
    ("green", "message"),
    [
        ("green: 20,20", "green path has 1 point; a path needs at least 2"),
        ("green: 20,20 200,50", r"green point 200,50 is outside the picture; x must be 0–199 and y 0–99"),
        ("green: 20,20 50,100", "green point 50,100 is outside"),
        ("green: 20,20 -1,50", "green point -1,50 is outside"),
        ("green: 30,20 60,20", r"starts at 30,20, which is not painted green in the brush \(the green area spans x 10–29, y 10–29\)"),
        ("green: 20,9 60,20", "starts at 20,9, which is not painted green"),
    ],
)
def test_each_path_rule_refuses_just_past_its_edge(files: tuple[Path, Path], green: str, message: str) -> None:
    with pytest.raises(PathRefused, match=message):
        _check(files, f"{green}; purple: 150,50 10,50")


def test_every_moving_area_needs_a_path_and_every_path_an_area(files: tuple[Path, Path]) -> None:
    with pytest.raises(PathRefused, match="The purple area in the brush has no path"):
        _check(files, "green: 20,20 60,20")
    with pytest.raises(PathRefused, match="There is a blue path but nothing is painted blue"):
        _check(files, "green: 20,20 60,20; purple: 150,50 10,50; blue: 1,1 2,2")


def test_at_the_point_limit_nothing_changes_and_one_more_is_resampled(files: tuple[Path, Path]) -> None:
    at_limit = " ".join(f"{10 + i},20" for i in range(KLING_MAX_POINTS))
    paths, notes = _check(files, f"green: {at_limit}; purple: 150,50 10,50")
    assert len(paths["green"]) == KLING_MAX_POINTS and notes == []
    over = " ".join(f"{10 + i},20" for i in range(KLING_MAX_POINTS + 1))
    paths, notes = _check(files, f"green: {over}; purple: 150,50 10,50")
    assert len(paths["green"]) == KLING_MAX_POINTS
    assert paths["green"][0] == (10, 20) and paths["green"][-1] == (10 + KLING_MAX_POINTS, 20)
    assert [str(note) for note in notes] == [
        f"The green path had {KLING_MAX_POINTS + 1} points; at most {KLING_MAX_POINTS} are allowed, so it was evenly "
        f"resampled to {KLING_MAX_POINTS} points, keeping its start and end."
    ]


def test_a_providers_lower_point_cap_is_applied(files: tuple[Path, Path]) -> None:
    paths, notes = _check(files, "green: 10,10 20,20 30,30 40,40; purple: 150,50 10,50", max_points=3)
    assert paths["green"] == [(10, 10), (25, 25), (40, 40)] and "resampled to 3 points" in str(notes[0])


# --- resampling (property-based) ---------------------------------------------------------------------

WIDTH, HEIGHT = 1920, 1080
coordinates = st.tuples(st.floats(0, WIDTH - 1), st.floats(0, HEIGHT - 1))
polylines = st.lists(coordinates, min_size=2, max_size=400)


def _distance_to_polyline(point: tuple[float, float], line: list[tuple[float, float]]) -> float:
    best = math.inf
    for (ax, ay), (bx, by) in pairwise(line):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((point[0] - ax) * dx + (point[1] - ay) * dy) / length2))
        best = min(best, math.hypot(point[0] - (ax + t * dx), point[1] - (ay + t * dy)))
    return best


@PROPERTY
@given(polylines, st.integers(2, KLING_MAX_POINTS))
def test_resampling_keeps_both_ends_and_never_leaves_the_picture(line: list[tuple[float, float]], count: int) -> None:
    out = resample(line, count)
    assert len(out) == min(count, len(line))
    assert out[0] == line[0] and out[-1] == line[-1]
    assert all(0 <= x <= WIDTH - 1 and 0 <= y <= HEIGHT - 1 for x, y in out)
    assert all(_distance_to_polyline(p, line) < 1e-6 for p in out)  # on the original path


@PROPERTY
@given(st.lists(coordinates, min_size=3, max_size=400), st.data())
def test_resampled_points_are_evenly_spaced_along_the_path(line: list[tuple[float, float]], data: st.DataObject) -> None:
    count = data.draw(st.integers(2, min(KLING_MAX_POINTS, len(line) - 1)))
    total = sum(math.dist(a, b) for a, b in pairwise(line))
    assume(total > 1.0)
    out = resample(line, count)
    for i, point in enumerate(out):
        expected = point_along(line, i / (count - 1))
        assert math.dist(point, expected) < 1e-6 * max(1.0, total)


# --- the flip (property-based) ------------------------------------------------------------------------


@PROPERTY
@given(st.integers(1, 70000), st.data())
def test_the_flip_is_its_own_inverse_and_stays_inside(height: int, data: st.DataObject) -> None:
    y = data.draw(st.integers(0, height - 1))
    assert flip_y(flip_y(y, height), height) == y
    assert 0 <= flip_y(y, height) <= height - 1


@PROPERTY
@given(st.integers(1, 70000), st.integers(1, 70000))
def test_the_flip_maps_corners_to_corners(width: int, height: int) -> None:
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    kling = kling_trajectory(corners, height)
    # top-left is Kling's (0, height - 1); bottom-left is Kling's origin
    assert kling == [
        {"x": 0, "y": height - 1},
        {"x": width - 1, "y": height - 1},
        {"x": 0, "y": 0},
        {"x": width - 1, "y": 0},
    ]
    assert from_kling_trajectory(kling, height) == corners


@PROPERTY
@given(st.integers(1, 5000), st.lists(st.tuples(st.integers(0, 4999), st.integers(0, 4999)), min_size=2, max_size=77))
def test_kling_trajectories_round_trip(height: int, raw: list[tuple[int, int]]) -> None:
    points = [(float(x), float(y % height)) for x, y in raw]
    trajectory = kling_trajectory(points, height)
    assert all(isinstance(p["x"], int) and isinstance(p["y"], int) for p in trajectory)
    assert from_kling_trajectory(trajectory, height) == points


def test_goapi_points_keep_the_top_left_origin() -> None:
    assert goapi_points([(120, 400), (180.25, 380.5)]) == [{"x": 120, "y": 400}, {"x": 180.25, "y": 380.5}]


def test_refusals_are_said_in_the_members_language() -> None:
    with pytest.raises(PathRefused) as caught:
        parse_paths("gren: 1,2 3,4")
    message = caught.value.message
    assert str(message).startswith('"gren" is not a brush colour (did you mean green?)')
    chinese = message.render("zh-CN")  # type: ignore[attr-defined]
    assert "不是笔刷颜色" in chinese and "green" in chinese
