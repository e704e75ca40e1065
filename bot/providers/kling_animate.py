"""Kling's official image-to-video (`/animate`): the create body (docs/providers.md §1.4).

Kept beside bot/providers/kling.py, which routes to it: same JWT, envelope, error table and
task object. Only the body and the ids differ:

- `external_task_id` is "i2v-" + job id (motion control's is "job-" + job id), so a bare-task
  callback says which endpoint its task lives under;
- the task id the bot keeps is "i2v:" + Kling's task id, so polling reads the right endpoint
  while the engine stays unaware of kinds.

Brush masks are sent as raw base64 PNGs (the page allows "URL/base64"), so the brush works
without PUBLIC_URL; they are cut from the colour-indexed brush here, when the body is built
(in a worker thread), not while the member waits for the preview.
Trajectories: origin bottom-left, integers (`paths.kling_trajectory`).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

from pydantic import BaseModel

from bot.animate.brush import STATIC
from bot.animate.camera import choose_camera
from bot.animate.masks import kling_masks
from bot.animate.models import AnimateRequest
from bot.animate.paths import kling_trajectory

I2V_PATH = "/v1/videos/image2video"
I2V_EXTERNAL_PREFIX = "i2v-"
I2V_TASK_PREFIX = "i2v:"


class DynamicMask(BaseModel):
    mask: str  # raw base64 PNG, the picture's size
    trajectories: list[dict[str, int]]  # 2-77 points, origin bottom-left


class ImageToVideoBody(BaseModel):
    """POST /v1/videos/image2video."""

    model_name: str
    image: str  # URL, or raw base64 without a data: prefix
    image_tail: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    cfg_scale: float | None = None
    mode: Literal["std", "pro"]
    duration: str  # a string: "5", "10"
    sound: Literal["on", "off"] | None = None
    camera_control: dict[str, Any] | None = None
    static_mask: str | None = None
    dynamic_masks: list[DynamicMask] | None = None
    callback_url: str | None = None
    external_task_id: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _build(request: AnimateRequest, image: str, image_tail: str | None, callback_url: str | None, job_id: str) -> ImageToVideoBody:
    options = request.options
    camera = None
    if request.camera is not None:
        camera = choose_camera(request.camera.move, request.camera.strength).kling()
    static_mask = None
    dynamic = None
    files = request.brush_files
    if files is not None:
        masks = kling_masks(files.colour_indexed)
        static_mask = _b64(masks[STATIC.name]) if STATIC.name in masks else None
        dynamic = [
            DynamicMask(mask=_b64(masks[colour]), trajectories=kling_trajectory(points, request.image_height))
            for colour, points in request.paths.items()
        ] or None
    return ImageToVideoBody(
        model_name=request.model_wire,
        image=image,
        image_tail=image_tail,
        prompt=options.prompt or None,
        negative_prompt=options.negative_prompt or None,
        cfg_scale=options.creativity,
        mode=request.mode,
        duration=str(request.seconds),
        sound="on" if options.sound else None,  # left out otherwise: models before v2.6 do not know the field
        camera_control=camera,
        static_mask=static_mask,
        dynamic_masks=dynamic,
        callback_url=callback_url,
        external_task_id=I2V_EXTERNAL_PREFIX + job_id,
    )


async def image_to_video_body(
    request: AnimateRequest, image: str, image_tail: str | None, callback_url: str | None, job_id: str
) -> dict[str, Any]:
    """The JSON body (mask files are read in a worker thread)."""
    body = await asyncio.to_thread(_build, request, image, image_tail, callback_url, job_id)
    return body.model_dump(exclude_none=True)
