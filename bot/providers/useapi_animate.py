"""useapi.net's Kling image-to-video (`/animate`): `POST /videos/image2video-frames` (providers.md §3.3).

Kept beside bot/providers/useapi.py, which routes to it: same token, uploads, task model,
callbacks and errors. The inputs are uploaded to `/assets` first (generation inputs must be
Kling-hosted URLs, §3.1), so no PUBLIC_URL is needed. Field by field:

- `image`, `image_tail`: the uploads' `url`s; `prompt`, `negative_prompt`: as given;
- `duration`: a **string**, "5" / "10" ("3"-"15" on v3), like Kling's own;
- `model_name`: the capability data's `wire` (useapi spells v3 `kling-v3-0`); `mode`: std / pro;
- `cfg_scale`: a JSON number, only for the models the capability data allows it on.

No motion brush or camera control is documented for this endpoint, so the capability data
offers neither and the plan refuses them; should such a request reach this module anyway,
it is refused here, before anything is uploaded or sent. Sound is not documented either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.animate.models import AnimateRequest
from bot.errors import InputRejected
from bot.i18n import Text
from bot.models import MediaFile

I2V_PATH = "/videos/image2video-frames"


def refuse_what_useapi_lacks(request: AnimateRequest) -> None:
    """Brush, camera and sound are not on useapi's page: never dropped silently."""
    lacking = [name for name, chosen in (
        ("a motion brush", request.brush is not None),
        ("a camera move", request.camera is not None),
        ("sound", request.options.sound),
    ) if chosen]
    if lacking:
        raise InputRejected(
            f"useapi: image2video-frames takes no {' or '.join(lacking)} (providers.md §3.3)",
            user_detail=Text("This video service cannot do that option; pick another provider."),
        )


async def image2video_body(request: AnimateRequest, upload_image: Callable[[MediaFile], Awaitable[str]]) -> dict[str, Any]:
    """The create body without the account fields (replyUrl, replyRef, email: the adapter adds them)."""
    refuse_what_useapi_lacks(request)
    options = request.options
    body: dict[str, Any] = {
        "model_name": request.model_wire,
        "image": await upload_image(request.image),
        "duration": str(request.seconds),
        "mode": request.mode,
    }
    if request.end_image is not None:
        body["image_tail"] = await upload_image(request.end_image)
    if options.prompt:
        body["prompt"] = options.prompt
    if options.negative_prompt:
        body["negative_prompt"] = options.negative_prompt
    if options.creativity is not None:
        body["cfg_scale"] = float(options.creativity)
    return body
