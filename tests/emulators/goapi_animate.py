"""GoAPI's Kling `video_generation` (image-to-video) input for the GoAPI emulator, per providers.md §2.2.

As strict as its motion_control check: allowed keys and their JSON types (`duration` an integer,
`cfg_scale` a number, `enable_audio` a bool), the enums (`version`, `mode`), the plan and version
limits (motion brush on version 1.0 only; 2.1-master pro only; audio on 2.6 pro), Kling's one-of
rule (end frame, motion brush, camera move), the camera's `{type, config}` shape, and the brush:
at most one static and six dynamic masks, at least one, every dynamic path 2-77 points.

`check_brush_images` then fetches `image_url` and `mask_url` (the emulator runs where the bot's
URLs are reachable) and checks the mask as GoAPI describes it: a PNG of the image's pixel size,
painted pixels fully opaque in exactly a palette colour, the rest fully transparent, and the
colours present matching the masks sent (`dynamic_masks[i]` is colour index i + 1). Points must
lie inside the picture with the origin top-left; the emulator also wants each path to start on
its own area, which GoAPI does not document but which a flipped y axis would break.
"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
from PIL import Image

from tests.emulators.kling_animate import _camera_problem

VERSIONS = ("1.0", "1.5", "1.6", "2.0", "2.1", "2.1-master", "2.5", "2.6", "3.0")
INPUT_KEYS = {
    "prompt", "negative_prompt", "image_url", "image_tail_url", "duration", "aspect_ratio", "mode", "version",
    "cfg_scale", "enable_audio", "camera_control", "elements", "motion_brush",
}
PALETTE = {(0, 0, 0): 0, (114, 229, 40): 1, (171, 105, 255): 2, (0, 170, 255): 3, (240, 38, 173): 4, (255, 225, 29): 5, (255, 34, 0): 6}
MAX_POINTS = 77  # Kling's limit; GoAPI runs Kling (its own page gives no upper bound)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_video_generation(task_input: dict[str, Any]) -> str | None:
    """What GoAPI would refuse in a video_generation `input`, or None."""
    if unknown := sorted(set(task_input) - INPUT_KEYS):
        return f"input.{unknown[0]} is not a valid field"
    for key in ("prompt", "negative_prompt", "image_url", "image_tail_url", "aspect_ratio", "mode", "version"):
        if key in task_input and not isinstance(task_input[key], str):
            return f"input.{key} must be a string"
    if not task_input.get("image_url"):
        return "input.image_url is required for image to video"
    version, mode = task_input.get("version", "1.6"), task_input.get("mode", "std")
    if version not in VERSIONS:
        return "input.version must be one of: " + ", ".join(VERSIONS)
    if mode not in ("std", "pro"):
        return "input.mode must be one of: std, pro"
    if version == "2.1-master" and mode != "pro":
        return "version 2.1-master supports pro mode only"
    duration = task_input.get("duration", 5)
    if not isinstance(duration, int) or isinstance(duration, bool):
        return "input.duration must be an integer"
    if duration not in (range(3, 16) if version == "3.0" else (5, 10)):
        return "input.duration must be 5 or 10"
    if "cfg_scale" in task_input and not (_number(task_input["cfg_scale"]) and 0 <= task_input["cfg_scale"] <= 1):
        return "input.cfg_scale must be a number between 0 and 1"
    if "enable_audio" in task_input:
        if not isinstance(task_input["enable_audio"], bool):
            return "input.enable_audio must be a boolean"
        if task_input["enable_audio"] and (version != "2.6" or mode != "pro"):
            return "enable_audio needs version 2.6 in pro mode"
    for key in ("prompt", "negative_prompt"):
        if len(task_input.get(key, "")) > 2500:
            return f"input.{key} must be at most 2500 characters"
    groups = [name for name, present in (
        ("image_tail_url", bool(task_input.get("image_tail_url"))),
        ("motion_brush", "motion_brush" in task_input),
        ("camera_control", "camera_control" in task_input),
    ) if present]
    if len(groups) > 1:
        return f"{' and '.join(groups)} cannot be used together"
    if "camera_control" in task_input and (problem := _camera_problem(task_input["camera_control"])):
        return problem
    if "motion_brush" in task_input:
        return _brush_shape_problem(task_input["motion_brush"], version)
    return None


def _brush_shape_problem(brush: Any, version: str) -> str | None:
    if version != "1.0":
        return "motion_brush is supported on version 1.0 only"
    if not isinstance(brush, dict) or set(brush) - {"mask_url", "static_masks", "dynamic_masks"}:
        return "motion_brush must be {mask_url, static_masks, dynamic_masks}"
    if not isinstance(brush.get("mask_url"), str) or not brush["mask_url"].startswith(("http://", "https://")):
        return "motion_brush.mask_url must be a URL"
    static, dynamic = brush.get("static_masks", []), brush.get("dynamic_masks", [])
    if not isinstance(static, list) or len(static) > 1:
        return "motion_brush.static_masks takes at most 1 item"
    if not isinstance(dynamic, list) or len(dynamic) > 6:
        return "motion_brush.dynamic_masks takes at most 6 items"
    if not static and not dynamic:
        return "motion_brush needs at least one static or dynamic mask"
    for item in static:
        if not isinstance(item, dict) or set(item) != {"points"} or not isinstance(item["points"], list):
            return "each static_masks item is {points: [...]}"
    for item in dynamic:
        if not isinstance(item, dict) or set(item) != {"points"} or not isinstance(item["points"], list):
            return "each dynamic_masks item is {points: [...]}"
        points = item["points"]
        if not 2 <= len(points) <= MAX_POINTS:
            return f"dynamic_masks points takes 2 to {MAX_POINTS} points"
        for point in points:
            if not isinstance(point, dict) or set(point) != {"x", "y"} or not all(_number(point[k]) for k in ("x", "y")):
                return "each point is {x: number, y: number}"
    return None


async def _fetch_image(session: aiohttp.ClientSession, url: str, what: str) -> Image.Image | str:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return f"could not download {what} (HTTP {response.status})"
            data = await response.read()
    except aiohttp.ClientError:
        return f"could not download {what}"
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except OSError:
        return f"{what} is not an image"
    return image


async def check_brush_images(session: aiohttp.ClientSession, task_input: dict[str, Any]) -> str | None:
    """With a motion brush: fetch the image and the mask and check them against each other."""
    brush = task_input.get("motion_brush")
    if brush is None:
        return None
    image = await _fetch_image(session, task_input["image_url"], "image_url")
    if isinstance(image, str):
        return image
    mask = await _fetch_image(session, brush["mask_url"], "motion_brush.mask_url")
    if isinstance(mask, str):
        return mask
    if mask.format != "PNG":
        return "motion_brush.mask_url must be a PNG"
    if mask.size != image.size:
        return f"the mask is {mask.size[0]}x{mask.size[1]}, the image {image.size[0]}x{image.size[1]}: they must match"
    present: set[int] = set()
    colours = mask.convert("RGBA").getcolors(1 << 16) or []
    for _, (r, g, b, a) in colours:
        if a == 0:
            continue
        if a != 255 or (r, g, b) not in PALETTE:
            return f"the mask has a pixel ({r},{g},{b},{a}) that is neither transparent nor a palette colour"
        present.add(PALETTE[(r, g, b)])
    moving = sorted(i for i in present if i)
    if moving != list(range(1, len(brush.get("dynamic_masks", [])) + 1)):
        return f"dynamic_masks has {len(brush.get('dynamic_masks', []))} items but the mask paints moving colours {moving}"
    if bool(brush.get("static_masks")) != (0 in present):
        return "static_masks must have one item exactly when the mask paints the static colour"
    index = mask.convert("RGBA")
    for i, item in enumerate(brush.get("dynamic_masks", []), start=1):
        for point in item["points"]:
            if not (0 <= point["x"] < image.width and 0 <= point["y"] < image.height):
                return "a dynamic_masks point is outside the image (origin top-left)"
        start = item["points"][0]
        r, g, b, a = index.getpixel((int(start["x"]), int(start["y"])))  # type: ignore[misc]
        if a != 255 or PALETTE.get((r, g, b)) != i:
            return f"dynamic_masks[{i - 1}] does not start on its area (colour index {i}); is the y axis flipped?"
    return None
