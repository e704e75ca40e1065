"""Camera moves: the names people use, Kling's {type, config} with its documented signs, strengths."""

from __future__ import annotations

import pytest

from bot.animate.camera import (
    DEFAULT_STRENGTH,
    MOVES,
    SIMPLE_AXES,
    choose_camera,
    content_motion,
    find_move,
)
from bot.animate.refusals import CameraRefused

# Written out by hand from Kling's image2video page (providers.md §1.4): horizontal -left/+right,
# vertical -down/+up, pan -left/+right, tilt -down/+up, roll -anticlockwise/+clockwise,
# zoom -closer/+farther. Strength 7 everywhere.
SIMPLE = {
    "zoom in": ("zoom", -7.0),
    "zoom out": ("zoom", 7.0),
    "move left": ("horizontal", -7.0),
    "move right": ("horizontal", 7.0),
    "move up": ("vertical", 7.0),
    "move down": ("vertical", -7.0),
    "pan left": ("pan", -7.0),
    "pan right": ("pan", 7.0),
    "tilt up": ("tilt", 7.0),
    "tilt down": ("tilt", -7.0),
    "roll clockwise": ("roll", 7.0),
    "roll anticlockwise": ("roll", -7.0),
}
PRESETS = {
    "down and back": "down_back",
    "forward and up": "forward_up",
    "turn right and forward": "right_turn_forward",
    "turn left and forward": "left_turn_forward",
}


def test_every_move_is_named_and_mapped() -> None:
    assert sorted(move.name for move in MOVES) == sorted([*SIMPLE, *PRESETS])


@pytest.mark.parametrize(("name", "axis_value"), SIMPLE.items())
def test_simple_moves_set_exactly_their_axis(name: str, axis_value: tuple[str, float]) -> None:
    axis, value = axis_value
    expected = {key: 0.0 for key in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")}
    expected[axis] = value
    assert choose_camera(name, 7).kling() == {"type": "simple", "config": expected}


@pytest.mark.parametrize(("name", "kling_type"), PRESETS.items())
def test_presets_send_only_their_type(name: str, kling_type: str) -> None:
    assert choose_camera(name, None).kling() == {"type": kling_type}


@pytest.mark.parametrize("strength", range(1, 11))
def test_exactly_one_axis_is_non_zero_at_every_strength(strength: int) -> None:
    for move in MOVES:
        if move.simple:
            config = choose_camera(move.name, strength).kling()["config"]
            assert isinstance(config, dict) and set(config) == set(SIMPLE_AXES)
            assert [abs(v) for v in config.values() if v] == [float(strength)]


@pytest.mark.parametrize("strength", [0, 11, -3])
def test_strength_outside_one_to_ten_is_refused(strength: int) -> None:
    with pytest.raises(CameraRefused, match=f"camera_strength is {strength}; it must be 1–10"):
        choose_camera("zoom in", strength)


def test_strength_defaults_and_presets_take_none() -> None:
    assert choose_camera("zoom in", None).strength == DEFAULT_STRENGTH
    with pytest.raises(CameraRefused, match="preset moves, which have no strength"):
        choose_camera("down and back", 3)


@pytest.mark.parametrize(
    ("typed", "name"),
    [("Zoom In", "zoom in"), ("roll_counter-clockwise", "roll anticlockwise"), ("down_back", "down and back"), ("  pan   LEFT ", "pan left")],
)
def test_spellings_people_use_are_understood(typed: str, name: str) -> None:
    assert find_move(typed).name == name


def test_an_unknown_move_is_refused_with_a_suggestion_and_the_list() -> None:
    with pytest.raises(CameraRefused, match=r'"zom in" is not a camera move; did you mean zoom in\? the moves are: zoom in, zoom out'):
        find_move("zom in")


def test_what_the_simulator_shows_follows_the_move() -> None:
    start, end = content_motion(choose_camera("zoom in", 10), 0.0), content_motion(choose_camera("zoom in", 10), 1.0)
    assert start.scale == 1.0 and end.scale > 1.4
    assert content_motion(choose_camera("zoom out", 10), 1.0).scale < 0.7
    assert content_motion(choose_camera("pan left", 5), 1.0).shift_x > 0  # the camera goes left, the picture slides right
    assert content_motion(choose_camera("move up", 5), 1.0).shift_y > 0
    assert content_motion(choose_camera("roll clockwise", 5), 1.0).degrees > 0  # Pillow's anticlockwise
    weak, strong = content_motion(choose_camera("move right", 1), 1.0), content_motion(choose_camera("move right", 10), 1.0)
    assert 0 > weak.shift_x > strong.shift_x
