"""The provider-neutral shape of an image-to-video job.

`AnimateOptions` is what the member chose (the cog or the CLI fills it in, unchecked).
`AnimateRequest` is what `plan.plan_animate` made of it after every check: the model
picked, paths resampled, brush masks written to disk. Adapters read only the request.

Coordinates in `paths` are the member's own: pixels from the picture's top-left corner.
Adapters convert with `bot.animate.paths.kling_trajectory` / `goapi_points`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from bot.models import MediaFile, Mode

ColourName = Literal["green", "purple", "blue", "pink", "yellow", "red"]


class AnimateOptions(BaseModel):
    """The member's choices for one /animate job, as given (checked by plan_animate)."""

    prompt: str = ""
    negative_prompt: str = ""
    duration: int = 5
    mode: Mode = "std"
    model: str | None = None  # a neutral model name (Kling's); None: the provider's first that fits
    creativity: float | None = None  # Kling's cfg_scale, 0-1
    camera: str | None = None  # a name from bot.animate.camera.MOVES
    camera_strength: int | None = None  # 1-10, simple moves only
    paths: str | None = None  # as typed: "green: 120,400 260,300; purple: ..."
    sound: bool = False


class CameraSpec(BaseModel, frozen=True):
    move: str  # bot.animate.camera.MOVES name
    strength: int | None = Field(default=None, ge=1, le=10)  # None for the presets


class BrushFiles(BaseModel):
    """The brush, written next to the job's other inputs.

    `colour_indexed`: GoAPI's `mask_url` image (RGBA, palette colours, the rest transparent), and
    the source of Kling's per-area masks (`bot.animate.brush.kling_masks`, made when sent).
    `static`, `moving`: which areas are painted (moving ones in palette order, green first).
    """

    form: Literal["transparent", "painted over"]
    colour_indexed: Path
    static: bool
    moving: list[ColourName]
    goapi: Path | None = None  # colour_indexed with moving areas renumbered 1..k, when colours were skipped

    @model_validator(mode="before")
    @classmethod
    def _from_mask_files(cls, data: Any) -> Any:
        """Requests stored before Kling's masks were cut at send time listed the mask files instead."""
        if isinstance(data, dict) and "moving" not in data and "moving_masks" in data:
            data = {**data, "static": data.get("static_mask") is not None, "moving": list(data["moving_masks"])}
        return data


class AnimateRequest(BaseModel):
    """A checked image-to-video request, ready to be priced and queued."""

    image: MediaFile
    end_image: MediaFile | None = None
    brush: MediaFile | None = None  # the member's upload, as given
    brush_files: BrushFiles | None = None
    mask: MediaFile | None = None  # brush_files.goapi or .colour_indexed, as a file a provider fetches (GoAPI's mask_url)
    options: AnimateOptions
    provider: str  # the provider the checks were made for (failover re-plans)
    model: str  # neutral name, resolved
    model_wire: str  # what the provider calls it
    mode: Mode
    seconds: int = Field(ge=1)
    camera: CameraSpec | None = None
    paths: dict[ColourName, list[tuple[float, float]]] = Field(default_factory=dict)
    image_width: int = Field(ge=1)
    image_height: int = Field(ge=1)
    notes: list[str] = Field(default_factory=list)  # said to the member with the preview

    def media_files(self) -> list[MediaFile]:
        """The inputs a provider may fetch by URL (the engine gives them our signed URLs)."""
        return [media for media in (self.image, self.end_image, self.mask) if media is not None]

    @model_validator(mode="after")
    def _one_of_end_brush_camera(self) -> AnimateRequest:
        chosen = [name for name, value in (("end frame", self.end_image), ("brush", self.brush), ("camera", self.camera)) if value]
        if len(chosen) > 1:
            raise ValueError(f"{' and '.join(chosen)} are mutually exclusive")
        if bool(self.paths) != bool(self.brush_files and self.brush_files.moving):
            raise ValueError("paths and moving brush areas go together")
        return self
