"""GoAPI's Kling image-to-video (`/animate`): the `video_generation` task input (providers.md §2.2).

Kept beside bot/providers/goapi.py, which routes to it: same envelope, auth, task object,
webhook and errors; only `task_type` and `input` differ. Field by field:

- `image_url`, `image_tail_url`: URLs only (GoAPI takes no uploads), so the bot's signed media
  links or Discord's CDN links; `Provider.input_url` refuses a file without one.
- `duration`: a JSON **integer** (Kling itself wants the string "5"); `version`: GoAPI's model
  name ("1.0" ... "3.0"), the capability data's `wire`; `mode`: "std" / "pro".
- `cfg_scale`: a JSON number (a quoted string is rejected); `enable_audio`: a bool, sent only
  when sound is asked for (2.6 pro, per the capability data).
- `camera_control`: Kling's own `{type, config}` shape (`CameraChoice.kling`).
- `motion_brush`: `mask_url` is the colour-indexed PNG (GoAPI's convention: black static,
  six colours moving), served from our signed media route; the plan refuses a brush for
  GoAPI when the bot has no PUBLIC_URL. `static_masks` is `[{"points": []}]` when the static
  area is painted; `dynamic_masks[i]` belongs to colour index i + 1 and carries its path as
  `points`, origin top-left like the member's own (no flip, floats allowed).

Because `dynamic_masks[i]` is tied to index i + 1, a brush using green and blue but not purple
would leave a gap; the plan then writes a compacted copy of the colour-indexed PNG (blue
repainted as purple, see `bot.animate.brush.compact_moving`) and that copy is `mask_url`.
The paths go in palette order, so the i-th path is the i-th colour present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.animate.brush import BY_NAME
from bot.animate.camera import choose_camera
from bot.animate.models import AnimateRequest
from bot.animate.paths import goapi_points
from bot.errors import InputRejected
from bot.models import MediaFile

TASK_TYPE = "video_generation"


def video_generation_input(request: AnimateRequest, url_of: Callable[[MediaFile], str]) -> dict[str, Any]:
    """The task's `input` object; `url_of` gives a file's fetchable URL (or raises InputRejected)."""
    options = request.options
    task_input: dict[str, Any] = {
        "image_url": url_of(request.image),
        "duration": int(request.seconds),
        "mode": request.mode,
        "version": request.model_wire,
    }
    if options.prompt:
        task_input["prompt"] = options.prompt
    if options.negative_prompt:
        task_input["negative_prompt"] = options.negative_prompt
    if options.creativity is not None:
        task_input["cfg_scale"] = float(options.creativity)
    if options.sound:
        task_input["enable_audio"] = True
    if request.end_image is not None:
        task_input["image_tail_url"] = url_of(request.end_image)
    if request.camera is not None:
        task_input["camera_control"] = choose_camera(request.camera.move, request.camera.strength).kling()
    if request.brush_files is not None:
        task_input["motion_brush"] = motion_brush(request, url_of)
    return task_input


def motion_brush(request: AnimateRequest, url_of: Callable[[MediaFile], str]) -> dict[str, Any]:
    files = request.brush_files
    if files is None or request.mask is None:
        raise InputRejected("goapi: the job has a brush but no colour-indexed mask file")
    ordered = sorted(request.paths.items(), key=lambda item: BY_NAME[item[0]].index)
    return {
        "mask_url": url_of(request.mask),
        "static_masks": [{"points": []}] if files.static else [],
        "dynamic_masks": [{"points": goapi_points(points)} for _, points in ordered],
    }
