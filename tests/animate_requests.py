"""Planned /animate requests for provider tests: made by the real `plan_animate` from generated files."""

from __future__ import annotations

from pathlib import Path

from bot.animate.models import AnimateOptions, AnimateRequest
from bot.animate.plan import AnimateInputs, plan_animate
from bot.models import MediaFile
from tests.animate_factory import make_picture, save_brush

SIZE = (640, 480)
PATHS = "green: 230,230 400,230; purple: 500,100 500,300 520,400"


def media(path: Path, base_url: str | None) -> MediaFile:
    return MediaFile(
        path=path, filename=path.name, content_type="image/png", size=path.stat().st_size,
        url=f"{base_url}/{path.name}" if base_url else None,
    )


def planned(
    root: Path, provider: str, *, base_url: str | None = None, brush: bool = False, end: bool = False,
    public_url: bool = False, **options: object,
) -> AnimateRequest:
    """A checked request for `provider`; files under `root` (served at `base_url` when given)."""
    root.mkdir(parents=True, exist_ok=True)
    picture = make_picture(root / "still.png", *SIZE, colour=(90, 120, 160))
    end_file = media(make_picture(root / "end.png", *SIZE, colour=(200, 80, 40)), base_url) if end else None
    brush_file = None
    if brush:
        path = save_brush(root / "brush.png", SIZE, {
            "black": [(0, 0, 100, 479)], "green": [(200, 200, 260, 260)], "purple": [(480, 80, 540, 140)],
        })
        brush_file = media(path, None)
        options.setdefault("paths", PATHS)
    inputs = AnimateInputs(
        image=media(picture, base_url), options=AnimateOptions(**options),  # type: ignore[arg-type]
        end_image=end_file, brush=brush_file,
    )
    request = plan_animate(inputs, provider, root / "job", public_url=public_url).request
    if base_url and request.mask is not None:
        # the engine gives every media file our signed URL; here the test server serves the job folder
        request.mask.url = f"{base_url}/job/{request.mask.path.name}"
    return request
