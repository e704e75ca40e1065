"""Kling's image-to-video create body, field by field against docs/providers.md §1.4."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.animate.paths import from_kling_trajectory
from bot.http import HttpClient
from bot.providers.base import SubmitRequest
from bot.providers.kling_animate import image_to_video_body
from tests.animate_requests import SIZE, planned
from tests.contract.case_kling import make_emulator, make_provider
from tests.emulators.kling_animate import validate_image2video


def png(value: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(value, validate=True)))
    image.load()
    return image


async def test_a_brush_body(tmp_path: Path) -> None:
    request = planned(tmp_path, "kling", brush=True, prompt="sea", negative_prompt="blur", creativity=0.3)
    body = await image_to_video_body(request, "https://x.test/still.png", None, "https://bot.test/cb", "abc123")
    assert set(body) == {
        "model_name", "image", "prompt", "negative_prompt", "cfg_scale", "mode", "duration",
        "static_mask", "dynamic_masks", "callback_url", "external_task_id",
    }
    assert body["model_name"] == "kling-v1" and body["mode"] == "std"
    assert body["duration"] == "5" and isinstance(body["duration"], str)
    assert body["cfg_scale"] == 0.3 and body["prompt"] == "sea" and body["negative_prompt"] == "blur"
    assert body["external_task_id"] == "i2v-abc123"
    static = png(body["static_mask"])
    assert static.size == SIZE and static.getpixel((50, 50)) != static.getpixel((300, 50))
    assert len(body["dynamic_masks"]) == 2
    green, purple = body["dynamic_masks"]
    assert png(green["mask"]).size == SIZE
    # origin bottom-left, integers: the first green point (230, 230) is row 480 - 1 - 230
    assert green["trajectories"][0] == {"x": 230, "y": SIZE[1] - 1 - 230}
    assert from_kling_trajectory(purple["trajectories"], SIZE[1])[-1] == (520.0, 400.0)
    assert validate_image2video({**body, "image": base64.b64encode((tmp_path / "still.png").read_bytes()).decode()}) is None


async def test_a_camera_body_and_an_end_frame_body(tmp_path: Path) -> None:
    camera = planned(tmp_path / "a", "kling", camera="zoom in", camera_strength=7, mode="pro", model="kling-v1-5")
    body = await image_to_video_body(camera, "https://x.test/a.png", None, None, "j1")
    assert body["camera_control"] == {
        "type": "simple", "config": {"horizontal": 0.0, "vertical": 0.0, "pan": 0.0, "tilt": 0.0, "roll": 0.0, "zoom": -7.0},
    }
    assert "static_mask" not in body and "image_tail" not in body and "callback_url" not in body
    preset = planned(tmp_path / "b", "kling", camera="down and back")
    assert (await image_to_video_body(preset, "https://x.test/a.png", None, None, "j2"))["camera_control"] == {"type": "down_back"}
    end = planned(tmp_path / "c", "kling", end=True, base_url="https://cdn.test")
    body = await image_to_video_body(end, "https://cdn.test/still.png", "https://cdn.test/end.png", None, "j3")
    assert body["image_tail"] == "https://cdn.test/end.png" and "camera_control" not in body


async def test_sound_is_sent_only_when_asked(tmp_path: Path) -> None:
    request = planned(tmp_path, "kling", sound=True, mode="pro", model="kling-v2-6")
    body = await image_to_video_body(request, "https://x.test/a.png", None, None, "j")
    assert body["sound"] == "on" and body["model_name"] == "kling-v2-6" and "cfg_scale" not in body


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"duration": 5}, "duration must be a string"),
        ({"cfg_scale": "0.5"}, "cfg_scale must be a number"),
        ({"camera_control": {"type": "down_back"}}, "cannot be used together"),
        ({"colour": "x"}, "unknown field colour"),
    ],
)
async def test_the_emulator_refuses_what_kling_refuses(tmp_path: Path, change: dict[str, object], problem: str) -> None:
    request = planned(tmp_path, "kling", brush=True)
    body = await image_to_video_body(request, "https://x.test/a.png", None, None, "j")
    found = validate_image2video({**body, **change})
    assert found is not None and problem in found


async def test_too_many_points_are_refused_by_the_emulator(tmp_path: Path) -> None:
    request = planned(tmp_path, "kling", brush=True)
    body = await image_to_video_body(request, "https://x.test/a.png", None, None, "j")
    body["dynamic_masks"][0]["trajectories"] = [{"x": 1, "y": 1}] * 78
    assert validate_image2video(body) == "trajectories takes 2 to 77 points"


async def test_submit_then_find_the_task_after_a_crash(tmp_path: Path) -> None:
    emulator = make_emulator(tmp_path / "emu")
    base = await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            provider = make_provider(HttpClient(session, timeout_seconds=2, max_retries=0), base)
            request = planned(tmp_path / "in", "kling", brush=True)
            task = await provider.submit(SubmitRequest(job_id="crash1", request=request))
            assert task.task_id.startswith("i2v:")
            found = await provider.find_task("crash1")
            assert found is not None and found.task_id == task.task_id
            assert await provider.find_task("never") is None
            sent = next(iter(emulator.tasks.values())).body
            assert sent["external_task_id"] == "i2v-crash1" and "static_mask" in sent
    finally:
        await emulator.stop()
