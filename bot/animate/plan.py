"""Every /animate check before money is spent, in one blocking call (run it in a thread).

The image and end image must already have passed the ordinary image checks
(bot.media_image.check_image, as for /motion). This adds what is particular to image-to-video:
options against the provider's capability data, the camera move, the brush and its paths,
and writes the brush in each provider's form next to the job's inputs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bot.animate.brush import Brush, picture_header, read_brush
from bot.animate.camera import CameraChoice, choose_camera, find_move
from bot.animate.capabilities import BY_PROVIDER, ProviderAnimate, for_provider
from bot.animate.choose import choose_model, wanted_features
from bot.animate.masks import colour_indexed, compact_moving, png_bytes
from bot.animate.models import AnimateOptions, AnimateRequest, BrushFiles, CameraSpec
from bot.animate.paths import check_paths, parse_paths
from bot.animate.refusals import (
    AnimateRefused,
    BrushRefused,
    CameraRefused,
    OptionRefused,
    PathRefused,
)
from bot.i18n import Text
from bot.models import MediaFile

# Kling's image2video limits for prompt and negative_prompt (providers.md §1.4).
PROMPT_MAX_CHARS = 2500


@dataclass(frozen=True)
class AnimateInputs:
    image: MediaFile
    options: AnimateOptions
    end_image: MediaFile | None = None
    brush: MediaFile | None = None


@dataclass
class AnimatePlan:
    request: AnimateRequest
    brush: Brush | None = None  # kept for the preview (the full-size index image)
    camera: CameraChoice | None = None
    notes: list[Text] = field(default_factory=list)  # for the member; request.notes keeps them in English


def check_text_options(options: AnimateOptions) -> None:
    for name, text in (("prompt", options.prompt), ("negative_prompt", options.negative_prompt)):
        if len(text) > PROMPT_MAX_CHARS:
            raise OptionRefused(
                Text("{name} is {number} characters; the limit is {limit}.", name=name, number=f"{len(text):,}", limit=f"{PROMPT_MAX_CHARS:,}")
            )
    if options.creativity is not None and not 0.0 <= options.creativity <= 1.0:
        raise OptionRefused(Text("creativity is {value}; it must be between 0 and 1.", value=f"{options.creativity:g}"))
    if options.duration < 1:
        raise OptionRefused(
            Text("duration is {duration} s; it must be a whole number of seconds, at least 1.", duration=options.duration)
        )


def plan_animate(inputs: AnimateInputs, provider: str, work_dir: Path, *, public_url: bool) -> AnimatePlan:
    """Check everything for `provider` and write the brush files into `work_dir`."""
    caps = for_provider(provider)
    options = inputs.options
    check_text_options(options)
    camera = choose_camera(options.camera, options.camera_strength) if options.camera else None
    if camera is None and options.camera_strength is not None:
        raise CameraRefused(Text("camera_strength is set but no camera move is chosen; pick a camera move such as zoom in."))
    if inputs.brush is None and options.paths:
        raise PathRefused(Text("Paths move brushed areas, so they need a brush; add a brush PNG or drop the paths."))
    features = wanted_features(
        end_frame=inputs.end_image is not None,
        brush=inputs.brush is not None,
        camera_simple=None if camera is None else camera.move.simple,
        creativity=options.creativity is not None,
        sound=options.sound,
    )
    offer = choose_model(caps, options.model, options.mode, options.duration, features)
    (width, height), _ = picture_header(inputs.image.path)

    brush: Brush | None = None
    brush_files: BrushFiles | None = None
    paths: dict[str, list[tuple[float, float]]] = {}
    notes: list[Text] = []
    if inputs.brush is not None:
        _check_mask_transport(caps, public_url)
        brush = read_brush(inputs.brush.path, inputs.image.path)
        if len(brush.moving) > caps.max_moving_areas:
            raise BrushRefused(
                Text(
                    "The brush has {number} moving areas; {provider} takes at most {limit}.",
                    number=len(brush.moving), provider=caps.provider, limit=caps.max_moving_areas,
                )
            )
        notes.extend(brush.notes)
        typed = parse_paths(options.paths) if options.paths else {}
        if brush.moving or typed:
            paths, path_notes = check_paths(typed, (width, height), brush, caps.max_path_points)
            notes.extend(path_notes)
        brush_files = write_brush_files(brush, inputs.brush.path, work_dir)

    request = AnimateRequest(
        image=inputs.image,
        end_image=inputs.end_image,
        brush=inputs.brush,
        brush_files=brush_files,
        mask=None if brush_files is None else mask_file(brush_files.goapi or brush_files.colour_indexed),
        options=options,
        provider=provider,
        model=offer.name,
        model_wire=offer.wire,
        mode=options.mode,
        seconds=options.duration,
        camera=None if camera is None else CameraSpec(move=camera.move.name, strength=camera.strength),
        paths=paths,  # type: ignore[arg-type]  # keys are moving colour names, checked above
        image_width=width,
        image_height=height,
        notes=[str(note) for note in notes],
    )
    return AnimatePlan(request=request, brush=brush, camera=camera, notes=notes)


def mask_file(indexed: Path) -> MediaFile:
    return MediaFile(path=indexed, filename=indexed.name, content_type="image/png", size=indexed.stat().st_size)


def _check_mask_transport(caps: ProviderAnimate, public_url: bool) -> None:
    if "base64" in caps.mask_transport or public_url:
        return
    raise BrushRefused(
        Text(
            "{provider} fetches the brush from a web address, and this bot has no public address (PUBLIC_URL) "
            "to serve it from; pick another provider or ask an admin to set PUBLIC_URL.",
            provider=caps.provider,
        )
    )


def write_brush_files(brush: Brush, upload: Path, work_dir: Path) -> BrushFiles:
    """The colour-indexed PNG (GoAPI's form; a compacted copy when colours are skipped), written into
    `work_dir`. Kling's per-area masks are made from it when a job is sent to Kling
    (`brush.kling_masks`): seven full-size PNG encodes are not worth making the member wait for."""
    work_dir.mkdir(parents=True, exist_ok=True)
    indexed = work_dir / "brush-colour-indexed.png"
    if brush.forwardable:
        shutil.copyfile(upload, indexed)  # already exactly GoAPI's form: no decode-encode round
    else:
        indexed.write_bytes(png_bytes(colour_indexed(brush.index)))
    goapi: Path | None = None
    if (compacted := compact_moving(brush.index)) is not None:
        goapi = work_dir / "brush-goapi.png"
        goapi.write_bytes(png_bytes(colour_indexed(compacted)))
    return BrushFiles(
        form=brush.form.value, colour_indexed=indexed, goapi=goapi, static=brush.has_static,  # type: ignore[arg-type]
        moving=[colour.name for colour in brush.moving],  # type: ignore[misc]
    )


def replan_for(request: AnimateRequest, provider: str, *, public_url: bool) -> AnimateRequest | None:
    """The same request for another provider (failover), or None when that provider cannot take
    every option chosen: the model, mode, duration, each feature, how the files travel, the brush's size."""
    if provider == request.provider:
        return request
    caps = BY_PROVIDER.get(provider)
    if caps is None or not caps.offered:
        return None
    features = wanted_features(
        end_frame=request.end_image is not None,
        brush=request.brush is not None,
        camera_simple=None if request.camera is None else find_move(request.camera.move).simple,
        creativity=request.options.creativity is not None,
        sound=request.options.sound,
    )
    try:
        offer = choose_model(caps, request.model, request.mode, request.seconds, features)
        if request.brush is not None:
            _check_mask_transport(caps, public_url)
    except AnimateRefused:
        return None
    if caps.inputs_by_url and not public_url and any(m.url is None for m in (request.image, request.end_image) if m):
        return None  # nowhere to fetch the pictures from (the plan's own provider was checked at intake)
    if len(request.paths) > caps.max_moving_areas or any(len(p) > caps.max_path_points for p in request.paths.values()):
        return None
    return request.model_copy(update={"provider": provider, "model_wire": offer.wire})
