"""useapi.net's `POST /videos/image2video-frames` for the useapi emulator, per providers.md §3.3.

As strict as motion-create's check: only the documented fields, their JSON types (`duration` a
string, `cfg_scale` a number), the enums, inputs that are images uploaded through `/assets`,
`cfg_scale` refused on 2.x models, and nothing of a motion brush or camera control (not
documented for this endpoint, so refused as unknown parameters, as the service would).
"""

from __future__ import annotations

from typing import Any

I2V_FIELDS = {
    "email", "image", "image_tail", "prompt", "negative_prompt", "cfg_scale", "duration", "model_name", "mode",
    "element_1", "element_2", "element_3", "maxJobs", "replyUrl", "replyRef",
}
I2V_MODELS = ("kling-v1-5", "kling-v1-6", "kling-v2-1", "kling-v2-5-turbo", "kling-v2-6", "kling-v3-0", "kling-v3-0-turbo")


def validate_image2video(body: dict[str, Any], assets: dict[str, str]) -> str | None:
    """What useapi would refuse (its 400 `error` text), or None; `assets` maps uploaded URLs to their kind."""
    if unknown := sorted(set(body) - I2V_FIELDS):
        return f"Unknown parameter(s): {', '.join(unknown)}"
    for name in I2V_FIELDS - {"cfg_scale", "maxJobs"}:
        if name in body and not isinstance(body[name], str):
            return f"{name} must be a string"
    if not body.get("image") and not body.get("image_tail"):
        return "image is required (or image_tail)"
    for name in ("image", "image_tail"):
        if body.get(name) and assets.get(body[name]) != "image":
            return f"{name} must be the url of an image uploaded via POST /assets"
    model = body.get("model_name", "kling-v2-6")
    if model not in I2V_MODELS:
        return "model_name must be one of " + ", ".join(I2V_MODELS)
    if body.get("mode", "std") not in ("std", "pro"):
        return "mode must be one of std, pro"
    durations = [str(s) for s in range(3, 16)] if model.startswith("kling-v3") else ["5", "10"]
    if body.get("duration", "5") not in durations:
        return "duration must be one of " + ", ".join(durations)
    if "cfg_scale" in body:
        cfg = body["cfg_scale"]
        if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not 0 <= cfg <= 1:
            return "cfg_scale must be a number from 0 to 1"
        if model.startswith("kling-v2"):
            return "cfg_scale is not supported by kling-v2.x models"
    for name in ("prompt", "negative_prompt"):
        if len(body.get(name, "")) > 2500:
            return f"{name} must be at most 2500 characters"
    if "maxJobs" in body and (not isinstance(body["maxJobs"], int) or isinstance(body["maxJobs"], bool) or not 1 <= body["maxJobs"] <= 50):
        return "maxJobs must be an integer from 1 to 50"
    return None
