"""GoAPI's image-to-video (`video_generation`): the create body field by field against providers.md §2.2,
the emulator's strictness, and the brush mask served from the bot's own signed media route."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.animate.models import AnimateOptions
from bot.animate.plan import AnimateInputs, plan_animate
from bot.animate.refusals import BrushRefused
from bot.app import CoreApp
from bot.intake import IncomingFile
from bot.intake_animate import confirm_animate
from bot.providers.base import SubmitRequest
from bot.providers.goapi import GoApiProvider
from tests.animate_factory import make_picture, save_brush
from tests.animate_requests import SIZE, media, planned
from tests.contract.case_goapi import WEBHOOK_SECRET
from tests.core_harness import (
    FakeChannel,
    RecordingNotifier,
    core_settings,
    requester,
    wait_state,
)
from tests.emulators.goapi import API_KEY, GoApiEmulator, validate_create

BASE = "https://bot.test/media"


def provider() -> GoApiProvider:
    return GoApiProvider(None, api_key=API_KEY, base_url="https://api.goapi.test", webhook_secret=WEBHOOK_SECRET)  # type: ignore[arg-type]


def body_for(request: Any, callback: str | None = None) -> dict[str, Any]:
    return provider().build_create_body(SubmitRequest(job_id="j1", request=request, callback_url=callback))


def test_a_brush_body_field_by_field(tmp_path: Path) -> None:
    request = planned(tmp_path, "goapi", base_url=BASE, brush=True, public_url=True, prompt="sea", negative_prompt="blur", creativity=0.25)
    body = body_for(request, "https://bot.test/callbacks/goapi/j1")
    assert set(body) == {"model", "task_type", "input", "config"}
    assert body["model"] == "kling" and body["task_type"] == "video_generation"
    assert body["config"] == {
        "service_mode": "public", "webhook_config": {"endpoint": "https://bot.test/callbacks/goapi/j1", "secret": WEBHOOK_SECRET},
    }
    task_input = body["input"]
    assert set(task_input) == {"image_url", "duration", "mode", "version", "prompt", "negative_prompt", "cfg_scale", "motion_brush"}
    assert task_input["image_url"] == f"{BASE}/still.png"
    assert task_input["duration"] == 5 and type(task_input["duration"]) is int  # an integer here, a string at Kling
    assert task_input["version"] == "1.0" and task_input["mode"] == "std"  # the brush is documented on 1.0 only
    assert task_input["cfg_scale"] == 0.25 and type(task_input["cfg_scale"]) is float  # a JSON number, never "0.25"
    assert task_input["prompt"] == "sea" and task_input["negative_prompt"] == "blur"
    brush = task_input["motion_brush"]
    assert set(brush) == {"mask_url", "static_masks", "dynamic_masks"}
    assert brush["mask_url"] == f"{BASE}/job/brush-colour-indexed.png"
    assert brush["static_masks"] == [{"points": []}]
    green, purple = brush["dynamic_masks"]  # dynamic_masks[i] is colour index i + 1: green, then purple
    # origin top-left like the member's own: no flip (Kling's body flips these)
    assert green["points"] == [{"x": 230, "y": 230}, {"x": 400, "y": 230}]
    assert purple["points"][0] == {"x": 500, "y": 100} and purple["points"][-1] == {"x": 520, "y": 400}
    assert validate_create(body) is None


def test_a_camera_body_an_end_frame_body_and_sound(tmp_path: Path) -> None:
    camera = body_for(planned(tmp_path / "a", "goapi", base_url=BASE, camera="roll clockwise", camera_strength=3, mode="pro", model="kling-v1-5"))
    assert camera["input"]["camera_control"] == {
        "type": "simple", "config": {"horizontal": 0.0, "vertical": 0.0, "pan": 0.0, "tilt": 0.0, "roll": 3.0, "zoom": 0.0},
    }
    assert camera["input"]["version"] == "1.5" and "motion_brush" not in camera["input"] and "image_tail_url" not in camera["input"]
    assert "webhook_config" not in camera["config"]
    preset = body_for(planned(tmp_path / "b", "goapi", base_url=BASE, camera="forward and up"))
    assert preset["input"]["camera_control"] == {"type": "forward_up"}
    end = body_for(planned(tmp_path / "c", "goapi", base_url=BASE, end=True, model="kling-v1-6", mode="pro", duration=10))
    assert end["input"]["image_tail_url"] == f"{BASE}/end.png" and end["input"]["duration"] == 10
    assert end["input"]["version"] == "1.6" and "camera_control" not in end["input"]
    sound = body_for(planned(tmp_path / "d", "goapi", base_url=BASE, sound=True, mode="pro", model="kling-v2-6"))
    assert sound["input"]["enable_audio"] is True and sound["input"]["version"] == "2.6" and "cfg_scale" not in sound["input"]
    for body in (camera, preset, end, sound):
        assert validate_create(body) is None


def test_skipped_colours_reach_goapi_renumbered(tmp_path: Path) -> None:
    """Green and blue but no purple: dynamic_masks[1] must be index 2, so blue is repainted purple for GoAPI."""
    picture = make_picture(tmp_path / "still.png", *SIZE)
    brush = save_brush(tmp_path / "brush.png", SIZE, {"green": [(200, 200, 260, 260)], "blue": [(480, 80, 540, 140)]})
    options = AnimateOptions(paths="blue: 500,100 500,300; green: 230,230 400,230")
    request = plan_animate(
        AnimateInputs(image=media(picture, BASE), options=options, brush=media(brush, None)), "goapi", tmp_path / "job", public_url=True
    ).request
    assert request.mask is not None and request.mask.path.name == "brush-goapi.png"
    with Image.open(request.mask.path) as mask:
        rgba = mask.convert("RGBA")
    assert rgba.getpixel((510, 110)) == (171, 105, 255, 255)  # blue's area, now index 2 (purple)
    assert rgba.getpixel((230, 230)) == (114, 229, 40, 255)
    request.mask.url = f"{BASE}/brush-goapi.png"
    dynamic = body_for(request)["input"]["motion_brush"]["dynamic_masks"]
    assert [d["points"][0] for d in dynamic] == [{"x": 230, "y": 230}, {"x": 500, "y": 100}]  # green, then blue
    assert request.brush_files is not None and request.brush_files.colour_indexed.name == "brush-colour-indexed.png"  # the simulator's copy keeps blue


def test_without_a_public_url_the_brush_is_refused_for_goapi_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(BrushRefused, match="PUBLIC_URL"):
        planned(tmp_path, "goapi", base_url=BASE, brush=True, public_url=False)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"duration": "5"}, "duration must be an integer"),
        ({"cfg_scale": "0.5"}, "cfg_scale must be a number"),
        ({"version": "1.5"}, "motion_brush is supported on version 1.0 only"),
        ({"image_tail_url": "https://x.test/end.png"}, "cannot be used together"),
        ({"enable_audio": True}, "enable_audio needs version 2.6 in pro mode"),
        ({"colour": "x"}, "input.colour is not a valid field"),
        ({"mode": "pro", "version": "2.1-master", "motion_brush": None}, "input.motion_brush"),
    ],
)
def test_the_emulator_refuses_what_goapi_refuses(tmp_path: Path, change: dict[str, object], problem: str) -> None:
    body = body_for(planned(tmp_path, "goapi", base_url=BASE, brush=True, public_url=True))
    body["input"].update(change)
    if change.get("motion_brush", 0) is None:
        del body["input"]["motion_brush"]
        body["input"]["mode"] = "std"
        problem = "2.1-master supports pro mode only"
    found = validate_create(body)
    assert found is not None and problem in found


def test_the_emulator_counts_points(tmp_path: Path) -> None:
    body = body_for(planned(tmp_path, "goapi", base_url=BASE, brush=True, public_url=True))
    body["input"]["motion_brush"]["dynamic_masks"][0]["points"] = [{"x": 1, "y": 1}] * 78
    assert validate_create(body) == "dynamic_masks points takes 2 to 77 points"
    body["input"]["motion_brush"]["dynamic_masks"][0]["points"] = [{"x": 1, "y": 1}]
    assert validate_create(body) == "dynamic_masks points takes 2 to 77 points"


async def test_the_emulator_checks_the_mask_against_the_image(tmp_path: Path) -> None:
    """It fetches both: a mask of another size, or paths with a flipped y axis, are refused."""
    from tests.emulators.goapi_animate import check_brush_images

    request = planned(tmp_path / "in", "goapi", base_url=None, brush=True, public_url=True)
    app = aiohttp.web.Application()
    app.router.add_static("/", tmp_path / "in")
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    request.image.url, request.mask.url = f"{base}/still.png", f"{base}/job/brush-colour-indexed.png"  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            task_input = body_for(request)["input"]
            assert await check_brush_images(session, task_input) is None
            flipped = [{"x": p["x"], "y": SIZE[1] - 1 - p["y"]} for p in task_input["motion_brush"]["dynamic_masks"][1]["points"]]
            task_input["motion_brush"]["dynamic_masks"][1]["points"] = flipped  # purple starts at y 100: flipped, off its area
            assert "flipped" in (await check_brush_images(session, task_input) or "")
            Image.new("RGBA", (320, 240)).save(tmp_path / "in" / "small.png")
            task_input = body_for(request)["input"]
            task_input["motion_brush"]["mask_url"] = f"{base}/small.png"
            assert "must match" in (await check_brush_images(session, task_input) or "")
            task_input["motion_brush"]["mask_url"] = f"{base}/missing.png"
            assert "could not download" in (await check_brush_images(session, task_input) or "")
    finally:
        await runner.cleanup()


async def test_goapi_fetches_the_mask_from_the_bots_signed_media_route(tmp_path: Path) -> None:
    """The whole core: PUBLIC_URL set, GoAPI (its emulator) fetches image and mask from /media, the video arrives."""
    emulator = GoApiEmulator(tmp_path / "emu", polls_to_finish=1)
    base = await emulator.start()
    settings = core_settings(
        tmp_path / "data", callbacks=True, goapi_api_key=API_KEY, goapi_base_url=base, default_provider="goapi",
        callback_fallback_poll_seconds=0.05,  # the emulator moves its tasks on when they are read
    )
    picture = make_picture(tmp_path / "in" / "still.png", *SIZE)
    brush = save_brush(tmp_path / "in" / "brush.png", SIZE, {"black": [(0, 0, 100, 479)], "green": [(200, 200, 260, 260)]})

    def local(path: Path) -> IncomingFile:
        return IncomingFile(filename=path.name, size=path.stat().st_size, content_type="image/png", path=path)

    try:
        async with CoreApp.open(settings, RecordingNotifier(FakeChannel())) as app:
            prepared = await app.prepare_animate(
                requester(), local(picture), AnimateOptions(paths="green: 230,230 400,230"), "goapi", brush=local(brush)
            )
            job, _ = await confirm_animate(app.engine, prepared.pending.job_id, 42)
            done = await wait_state(app, job.id, "delivered", "failed", timeout=30)
            assert done.state.value == "delivered", done
        [task] = emulator.tasks.values()
        mask_url = task.input["motion_brush"]["mask_url"]
        assert mask_url.startswith(f"{settings.public_url}/media/{job.id}/brush-colour-indexed.png?token=")
        assert task.input["image_url"].startswith(f"{settings.public_url}/media/{job.id}/")
        fetched = [r for r in emulator.requests if r.method == "POST"]
        assert len(fetched) == 1
    finally:
        await emulator.stop()
        await asyncio.sleep(0)


def test_a_planned_mask_is_a_file_a_provider_can_be_given_a_url_for(tmp_path: Path) -> None:
    request = planned(tmp_path, "goapi", brush=True, public_url=True)
    assert request.mask is not None and request.mask in request.media_files()
    assert Image.open(io.BytesIO(request.mask.path.read_bytes())).size == SIZE
