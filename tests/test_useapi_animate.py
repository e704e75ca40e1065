"""useapi.net's image-to-video (`POST /videos/image2video-frames`): the create body field by field against
providers.md §3.3, and what it does not take (brush, camera, sound) refused before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.animate.models import CameraSpec
from bot.animate.refusals import BrushRefused, OptionRefused
from bot.errors import InputRejected
from bot.http import HttpClient
from bot.providers.base import SubmitRequest, TaskStatus
from bot.providers.useapi import UseApiProvider
from tests.animate_requests import planned
from tests.emulators.useapi import PREFIX, TOKEN, UseApiEmulator
from tests.emulators.useapi_animate import validate_image2video


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[UseApiEmulator, UseApiProvider]]:
    emulator = UseApiEmulator(tmp_path / "emu", token=TOKEN, polls_to_finish=1)
    base = await emulator.start()
    async with aiohttp.ClientSession() as session:
        yield emulator, UseApiProvider(HttpClient(session, timeout_seconds=2, max_retries=0), token=TOKEN, base_url=base + PREFIX)
    await emulator.stop()


async def test_an_end_frame_body_field_by_field(world, tmp_path: Path) -> None:
    emulator, provider = world
    request = planned(
        tmp_path, "useapi", end=True, model="kling-v1-6", mode="pro", duration=10, prompt="dusk", negative_prompt="text", creativity=0.7,
    )
    task = await provider.submit(SubmitRequest(job_id="u1", request=request, callback_url="https://bot.test/cb/useapi/u1"))
    [create] = emulator.requests_to("POST", f"{PREFIX}/videos/image2video-frames")
    body = create.json()
    assert set(body) == {
        "model_name", "image", "image_tail", "duration", "mode", "prompt", "negative_prompt", "cfg_scale", "replyRef", "replyUrl",
    }
    assert body["model_name"] == "kling-v1-6" and body["mode"] == "pro"
    assert body["duration"] == "10"  # a string, as at Kling (GoAPI wants an integer)
    assert body["cfg_scale"] == 0.7 and body["prompt"] == "dusk" and body["negative_prompt"] == "text"
    # both frames were uploaded as bytes first; the body names the Kling-hosted URLs the uploads returned
    assert [u["content_type"] for u in emulator.uploads] == ["image/png", "image/png"]
    assert emulator.assets[body["image"]] == "image" and emulator.assets[body["image_tail"]] == "image"
    assert body["image"] != body["image_tail"]
    assert body["replyRef"] == "u1" and body["replyUrl"] == "https://bot.test/cb/useapi/u1"
    assert validate_image2video(body, emulator.assets) is None
    final = task
    while final.status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        final = await provider.get_task(final.task_id)
    assert final.status is TaskStatus.SUCCEEDED and final.result_url


async def test_v3_goes_by_useapis_own_name_and_plain_jobs_carry_no_optional_fields(world, tmp_path: Path) -> None:
    emulator, provider = world
    await provider.submit(SubmitRequest(job_id="u2", request=planned(tmp_path, "useapi", model="kling-v3", duration=7)))
    body = emulator.requests_to("POST", f"{PREFIX}/videos/image2video-frames")[0].json()
    assert body["model_name"] == "kling-v3-0" and body["duration"] == "7"
    assert set(body) == {"model_name", "image", "duration", "mode", "replyRef"}


@pytest.mark.parametrize("option", ["brush", "camera", "sound"])
async def test_what_useapi_lacks_is_refused_before_anything_is_sent(world, tmp_path: Path, option: str) -> None:
    emulator, provider = world
    request = planned(tmp_path, "kling", end=False, **({"brush": True} if option == "brush" else {}))
    if option == "camera":
        request = request.model_copy(update={"camera": CameraSpec(move="zoom in", strength=5)})
    if option == "sound":
        request = request.model_copy(update={"options": request.options.model_copy(update={"sound": True})})
    with pytest.raises(InputRejected, match="image2video-frames takes no"):
        await provider.submit(SubmitRequest(job_id="u3", request=request))
    assert emulator.requests == []  # not even an upload


def test_the_plan_refuses_brush_and_camera_for_useapi_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(OptionRefused, match="useapi does not take a simple camera move"):
        planned(tmp_path / "a", "useapi", camera="zoom in")
    with pytest.raises((OptionRefused, BrushRefused), match="motion brush"):
        planned(tmp_path / "b", "useapi", brush=True)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"duration": 5}, "duration must be a string"),
        ({"cfg_scale": "0.5"}, "cfg_scale must be a number"),
        ({"model_name": "kling-v2-6", "cfg_scale": 0.5}, "not supported by kling-v2.x"),
        ({"static_mask": "x"}, "Unknown parameter(s): static_mask"),
        ({"camera_control": {"type": "down_back"}}, "Unknown parameter(s): camera_control"),
        ({"image": "https://elsewhere.test/a.png"}, "uploaded via POST /assets"),
    ],
)
def test_the_emulator_refuses_what_useapi_refuses(change: dict[str, object], problem: str) -> None:
    assets = {"https://kling.test/a.png": "image"}
    body = {"model_name": "kling-v1-6", "image": "https://kling.test/a.png", "duration": "5", "mode": "std", **change}
    found = validate_image2video(body, assets)
    assert found is not None and problem in found
