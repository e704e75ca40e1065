"""Kling's image-to-video endpoint for the Kling emulator, per docs/providers.md §1.4.

As strict as the motion-control stand-in: the JWT (checked by the emulator), allowed keys and
their types, the one-of rule (end frame, motion brush, camera move), masks that decode as PNGs
of one size (the image's, when the image came as base64), 2-77 integer points inside the
picture, at most one static and six dynamic masks, and the camera's documented shape.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image

I2V_PATH = "/v1/videos/image2video"
I2V_MODELS = (
    "kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1", "kling-v2-1-master",
    "kling-v2-5-turbo", "kling-v2-6", "kling-v3",
)
ALLOWED_KEYS = {
    "model_name", "image", "image_tail", "prompt", "negative_prompt", "cfg_scale", "mode", "duration", "sound",
    "camera_control", "static_mask", "dynamic_masks", "callback_url", "external_task_id",
}
STRING_KEYS = ("model_name", "image", "image_tail", "prompt", "negative_prompt", "mode", "duration", "sound", "callback_url", "external_task_id", "static_mask")
SIMPLE_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
PRESETS = ("down_back", "forward_up", "right_turn_forward", "left_turn_forward")


def _png_size(value: str, what: str) -> tuple[int, int] | str:
    if value.startswith(("http://", "https://")):
        return "url"
    try:
        data = base64.b64decode(value, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" and what != "image":
                return f"{what} must be a PNG"
            return img.size
    except (binascii.Error, ValueError, OSError):
        return f"{what} must be a URL or raw base64 of an image"


def validate_image2video(body: Any) -> str | None:
    """None when `body` is a create Kling would accept; else the message of its 400 (code 1201)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if unknown := sorted(set(body) - ALLOWED_KEYS):
        return f"unknown field {unknown[0]}"
    for key in STRING_KEYS:
        if key in body and not isinstance(body[key], str):
            return f"{key} must be a string"
    if not body.get("image") and not body.get("image_tail"):
        return "image or image_tail is required"
    if body.get("model_name", "kling-v1") not in I2V_MODELS:
        return f"model {body['model_name']} not found"
    if body.get("mode", "std") not in ("std", "pro"):
        return "mode must be std or pro"
    durations = [str(s) for s in range(3, 16)] if body.get("model_name") == "kling-v3" else ["5", "10"]
    if body.get("duration", "5") not in durations:
        return "duration must be one of " + ", ".join(durations)
    if body.get("sound", "off") not in ("on", "off"):
        return "sound must be on or off"
    if "cfg_scale" in body:
        cfg = body["cfg_scale"]
        if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not 0 <= cfg <= 1:
            return "cfg_scale must be a number in [0, 1]"
        if str(body.get("model_name", "kling-v1")).startswith("kling-v2"):
            return "cfg_scale is not supported by kling-v2.x"
    for key in ("prompt", "negative_prompt"):
        if len(body.get(key, "")) > 2500:
            return f"{key} must be at most 2500 characters"
    groups = [name for name, present in (
        ("image_tail", "image_tail" in body),
        ("motion brush", "static_mask" in body or "dynamic_masks" in body),
        ("camera_control", "camera_control" in body),
    ) if present]
    if len(groups) > 1:
        return f"{' and '.join(groups)} cannot be used together"
    if "camera_control" in body and (problem := _camera_problem(body["camera_control"])):
        return problem
    return _brush_problem(body)


def _camera_problem(camera: Any) -> str | None:
    if not isinstance(camera, dict) or set(camera) - {"type", "config"}:
        return "camera_control must be {type, config}"
    kind = camera.get("type")
    if kind in PRESETS:
        return "camera_control.config must be empty for a preset type" if camera.get("config") else None
    if kind != "simple":
        return "camera_control.type is not one of simple, " + ", ".join(PRESETS)
    config = camera.get("config")
    if not isinstance(config, dict) or set(config) != set(SIMPLE_AXES):
        return "camera_control.config must give all six axes"
    values = list(config.values())
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not -10 <= v <= 10 for v in values):
        return "camera_control.config values must be numbers in [-10, 10]"
    if sum(1 for v in values if v != 0) != 1:
        return "camera_control.config must have exactly one non-zero value"
    return None


def _brush_problem(body: dict[str, Any]) -> str | None:
    sizes: list[tuple[int, int]] = []
    image_size = _png_size(body["image"], "image") if body.get("image") else "url"
    if isinstance(image_size, str) and image_size != "url":
        return image_size
    if "static_mask" in body:
        size = _png_size(body["static_mask"], "static_mask")
        if isinstance(size, str):
            return size if size != "url" else None
        sizes.append(size)
    dynamic = body.get("dynamic_masks")
    if dynamic is not None:
        if not isinstance(dynamic, list) or not 1 <= len(dynamic) <= 6:
            return "dynamic_masks takes 1 to 6 items"
        for item in dynamic:
            if not isinstance(item, dict) or set(item) != {"mask", "trajectories"} or not isinstance(item["mask"], str):
                return "each dynamic_masks item is {mask, trajectories}"
            size = _png_size(item["mask"], "dynamic_masks.mask")
            if isinstance(size, str) and size != "url":
                return size
            if isinstance(size, tuple):
                sizes.append(size)
            points = item["trajectories"]
            if not isinstance(points, list) or not 2 <= len(points) <= 77:
                return "trajectories takes 2 to 77 points"
            for point in points:
                if not isinstance(point, dict) or set(point) != {"x", "y"}:
                    return "each trajectory point is {x, y}"
                if not all(isinstance(point[k], int) and not isinstance(point[k], bool) for k in ("x", "y")):
                    return "trajectory coordinates must be integers"
                if isinstance(size, tuple) and not (0 <= point["x"] < size[0] and 0 <= point["y"] < size[1]):
                    return "trajectory point outside the mask"
    if len(set(sizes)) > 1:
        return "masks must share one resolution"
    if sizes and isinstance(image_size, tuple) and sizes[0] != image_size:
        return "masks must be the image's size"
    return None
