"""plan_animate: every check in one call, and the brush written in each provider's form."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from bot.animate.brush import read_brush
from bot.animate.masks import kling_masks, merge_masks
from bot.animate.models import AnimateOptions, AnimateRequest, CameraSpec
from bot.animate.plan import PROMPT_MAX_CHARS, AnimateInputs, plan_animate
from bot.animate.refusals import BrushRefused, CameraRefused, OptionRefused, PathRefused
from bot.models import MediaFile
from tests.animate_factory import (
    EXAMPLE_PATHS,
    example_brush,
    example_painted_over,
    example_picture,
    make_picture,
)


def media(path: Path) -> MediaFile:
    return MediaFile(path=path, filename=path.name, content_type="image/png", size=path.stat().st_size)


@pytest.fixture
def example(tmp_path: Path) -> dict[str, MediaFile]:
    example_picture().save(tmp_path / "picture.png")
    example_brush().save(tmp_path / "brush.png")
    example_painted_over().save(tmp_path / "painted.png")
    make_picture(tmp_path / "end.png", 768, 512, (200, 40, 40))
    return {name: media(tmp_path / f"{name}.png") for name in ("picture", "brush", "painted", "end")}


def plan(example: dict[str, MediaFile], tmp_path: Path, provider: str = "kling", public_url: bool = False, **kwargs):  # type: ignore[no-untyped-def]
    options = AnimateOptions(**{k: v for k, v in kwargs.items() if k not in ("brush", "end_image")})
    inputs = AnimateInputs(image=example["picture"], options=options, brush=kwargs.get("brush"), end_image=kwargs.get("end_image"))
    return plan_animate(inputs, provider, tmp_path / "job", public_url=public_url)


def test_a_brush_plan_forwards_the_goapi_png_and_kling_masks_come_from_it(example: dict[str, MediaFile], tmp_path: Path) -> None:
    result = plan(example, tmp_path, brush=example["brush"], paths=EXAMPLE_PATHS)
    request = result.request
    assert (request.model, request.model_wire, request.mode, request.seconds) == ("kling-v1", "kling-v1", "std", 5)
    assert (request.image_width, request.image_height) == (768, 512)
    assert list(request.paths) == ["green", "purple", "yellow"] and request.paths["yellow"] == [(612, 228), (616, 300)]
    files = request.brush_files
    assert files is not None and files.form == "transparent"
    # the member's file already is GoAPI's form: forwarded byte for byte
    assert files.colour_indexed.read_bytes() == example["brush"].path.read_bytes()
    assert files.moving == ["green", "purple", "yellow"] and files.static
    made = kling_masks(files.colour_indexed)  # Kling's, cut when a job is sent there
    masks = [(colour, Image.open(io.BytesIO(made[colour.name]))) for colour in result.brush.colours]  # type: ignore[union-attr]
    assert all(mask.size == (768, 512) for _, mask in masks)
    assert merge_masks((768, 512), masks).tobytes() == result.brush.index.tobytes()  # type: ignore[union-attr]


def test_the_painted_over_example_makes_the_same_brush(example: dict[str, MediaFile], tmp_path: Path) -> None:
    painted = plan(example, tmp_path, brush=example["painted"], paths=EXAMPLE_PATHS)
    transparent = read_brush(example["brush"].path, example["picture"].path)
    assert painted.brush is not None and painted.brush.index.tobytes() == transparent.index.tobytes()
    files = painted.request.brush_files
    assert files is not None and files.form == "painted over"
    rebuilt = read_brush(files.colour_indexed, example["picture"].path)  # our own GoAPI file reads back the same
    assert rebuilt.index.tobytes() == transparent.index.tobytes()


def test_goapi_needs_a_public_url_for_the_brush_kling_does_not(example: dict[str, MediaFile], tmp_path: Path) -> None:
    with pytest.raises(BrushRefused, match="goapi fetches the brush from a web address"):
        plan(example, tmp_path, provider="goapi", brush=example["brush"], paths=EXAMPLE_PATHS)
    assert plan(example, tmp_path, provider="goapi", public_url=True, brush=example["brush"], paths=EXAMPLE_PATHS).request.model_wire == "1.0"
    assert plan(example, tmp_path, provider="kling", public_url=False, brush=example["brush"], paths=EXAMPLE_PATHS).request.brush_files


def test_camera_and_end_frame_plans(example: dict[str, MediaFile], tmp_path: Path) -> None:
    camera = plan(example, tmp_path, camera="Zoom In", camera_strength=10, mode="pro")
    assert camera.request.camera == CameraSpec(move="zoom in", strength=10) and camera.request.model == "kling-v1-5"
    end = plan(example, tmp_path, end_image=example["end"], mode="pro", duration=10)
    assert end.request.end_image == example["end"] and end.request.model == "kling-v1-6"


@pytest.mark.parametrize(
    ("kwargs", "refusal", "message"),
    [
        ({"camera_strength": 5}, CameraRefused, "no camera move is chosen"),
        ({"paths": "green: 1,1 2,2"}, PathRefused, "need a brush"),
        ({"prompt": "x" * (PROMPT_MAX_CHARS + 1)}, OptionRefused, "prompt is 2,501 characters; the limit is 2,500"),
        ({"negative_prompt": "x" * (PROMPT_MAX_CHARS + 1)}, OptionRefused, "negative_prompt is 2,501 characters"),
        ({"creativity": 1.01}, OptionRefused, "creativity is 1.01; it must be between 0 and 1"),
        ({"creativity": -0.01}, OptionRefused, "creativity is -0.01"),
        ({"duration": 0}, OptionRefused, "duration is 0 s"),
        ({"camera": "zoom in", "end_image": "end"}, OptionRefused, "you chose an end frame and a camera move"),
    ],
)
def test_option_refusals(example: dict[str, MediaFile], tmp_path: Path, kwargs: dict, refusal: type, message: str) -> None:  # type: ignore[type-arg]
    if kwargs.get("end_image") == "end":
        kwargs["end_image"] = example["end"]
    with pytest.raises(refusal, match=message):
        plan(example, tmp_path, **kwargs)


def test_limits_themselves_are_accepted(example: dict[str, MediaFile], tmp_path: Path) -> None:
    result = plan(example, tmp_path, prompt="x" * PROMPT_MAX_CHARS, negative_prompt="y" * PROMPT_MAX_CHARS, creativity=1.0)
    assert result.request.model == "kling-v1-6"
    assert plan(example, tmp_path, creativity=0.0).request.options.creativity == 0.0


def test_a_brush_with_moving_areas_needs_paths(example: dict[str, MediaFile], tmp_path: Path) -> None:
    with pytest.raises(PathRefused, match="The green area in the brush has no path"):
        plan(example, tmp_path, brush=example["brush"])


def test_the_request_model_keeps_the_exclusivity_rule(example: dict[str, MediaFile]) -> None:
    with pytest.raises(ValidationError, match="end frame and camera are mutually exclusive"):
        AnimateRequest(
            image=example["picture"], end_image=example["end"], camera=CameraSpec(move="zoom in", strength=3),
            options=AnimateOptions(), provider="kling", model="kling-v1", model_wire="kling-v1", mode="std",
            seconds=5, image_width=768, image_height=512,
        )


def test_a_request_stored_with_mask_file_names_still_loads(example: dict[str, MediaFile], tmp_path: Path) -> None:
    """Jobs queued before Kling's masks were cut at send time listed the mask files; they still load."""
    request = plan(example, tmp_path, brush=example["brush"], paths=EXAMPLE_PATHS).request
    stored = request.model_dump(mode="json")
    files = stored["brush_files"]
    del files["static"], files["moving"]
    files["static_mask"] = str(tmp_path / "brush-mask-black.png")
    files["moving_masks"] = {name: str(tmp_path / f"brush-mask-{name}.png") for name in ("green", "purple", "yellow")}
    loaded = AnimateRequest.model_validate(stored)
    assert loaded.brush_files is not None and loaded.brush_files.static and loaded.brush_files.moving == ["green", "purple", "yellow"]
