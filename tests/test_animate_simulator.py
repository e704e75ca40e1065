"""The simulator's image-to-video render: a real MP4 whose motion is the one asked for."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from bot.animate.models import AnimateOptions
from bot.animate.plan import AnimateInputs, plan_animate
from bot.models import MediaFile
from bot.providers.simulator_animate import FPS, render_animate
from bot.providers.simulator_render import BANNER_FG
from tests.animate_factory import make_picture, save_brush

GREY = (110, 110, 110)
RED = (220, 30, 30)
MAX_SIDE = 480


def media(path: Path) -> MediaFile:
    return MediaFile(path=path, filename=path.name, content_type="image/png", size=path.stat().st_size)


def picture_with_square(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> Path:
    image = Image.new("RGB", size, GREY)
    image.paste(RED, box)
    image.save(path)
    return path


def render(tmp_path: Path, picture: Path, max_side: int = MAX_SIDE, **kwargs) -> tuple[list[np.ndarray], Path]:  # type: ignore[no-untyped-def]
    brush = kwargs.pop("brush", None)
    end = kwargs.pop("end_image", None)
    inputs = AnimateInputs(image=media(picture), options=AnimateOptions(**kwargs), brush=brush and media(brush), end_image=end and media(end))
    request = plan_animate(inputs, "simulator", tmp_path / "job", public_url=False).request
    out = tmp_path / "out.mp4"
    result = render_animate(request, out, max_side=max_side)
    with av.open(str(out)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert result.frames == len(frames)
    return frames, out


def red_pixels(frame: np.ndarray) -> np.ndarray:
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return (r > 170) & (g < 90) & (b < 90)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def width_on_middle_row(mask: np.ndarray) -> int:
    return int(mask[mask.shape[0] // 2].sum())


def test_a_camera_zoom_visibly_zooms(tmp_path: Path) -> None:
    picture = picture_with_square(tmp_path / "p.png", (640, 480), (280, 200, 360, 280))  # 80 px, centred
    frames, _ = render(tmp_path, picture, camera="zoom in", camera_strength=10)
    first, last = width_on_middle_row(red_pixels(frames[0])), width_on_middle_row(red_pixels(frames[-1]))
    assert abs(first - 80 * 480 / 640) <= 3  # the output is 480 wide: the square is 60 px
    assert last / first > 1.4  # strength 10 ends half as large again
    frames, _ = render(tmp_path, picture, camera="zoom out", camera_strength=10)
    assert width_on_middle_row(red_pixels(frames[-1])) / width_on_middle_row(red_pixels(frames[0])) < 0.72


def test_a_pan_left_slides_the_picture_right(tmp_path: Path) -> None:
    picture = picture_with_square(tmp_path / "p.png", (640, 480), (280, 200, 360, 280))
    frames, _ = render(tmp_path, picture, camera="pan left", camera_strength=10)
    (x0, y0), (x1, y1) = centroid(red_pixels(frames[0])), centroid(red_pixels(frames[-1]))
    assert x1 - x0 > 0.15 * 480 and abs(y1 - y0) < 2


def test_a_brushed_area_moves_the_way_its_path_goes(tmp_path: Path) -> None:
    picture = picture_with_square(tmp_path / "p.png", (640, 480), (100, 100, 160, 160))
    brush = save_brush(tmp_path / "b.png", (640, 480), {"green": [(100, 100, 159, 159)], "black": [(0, 400, 639, 479)]})
    frames, _ = render(tmp_path, picture, brush=brush, paths="green: 130,130 330,230 500,300")
    scale = 480 / 640
    x0, y0 = centroid(red_pixels(frames[0]))
    assert abs(x0 - 130 * scale) < 2 and abs(y0 - 130 * scale) < 2
    x1, y1 = centroid(red_pixels(frames[-1]))
    assert abs(x1 - 500 * scale) < 2 and abs(y1 - 300 * scale) < 2
    middle = centroid(red_pixels(frames[len(frames) // 2]))
    assert 130 * scale < middle[0] < 500 * scale and 130 * scale < middle[1] < 300 * scale
    assert red_pixels(frames[-1])[int(130 * scale), int(130 * scale)] == 0  # it left its place (blurred)


def test_an_end_frame_is_cross_faded_into(tmp_path: Path) -> None:
    picture = make_picture(tmp_path / "p.png", 640, 480, GREY)
    end = make_picture(tmp_path / "e.png", 640, 480, (30, 60, 200))
    frames, _ = render(tmp_path, picture, end_image=end, mode="pro")
    centre = (240, 240)
    assert np.abs(frames[0][centre].astype(int) - GREY).max() <= 4
    assert np.abs(frames[-1][centre].astype(int) - (30, 60, 200)).max() <= 6
    middle = frames[len(frames) // 2][centre].astype(int)
    assert 30 < middle[0] < 110 and 60 < middle[2] < 200  # on the way


@pytest.mark.parametrize("seconds", [5, 10])
def test_the_clip_has_the_requested_length_and_is_labelled(tmp_path: Path, seconds: int) -> None:
    picture = make_picture(tmp_path / "p.png", 640, 480, GREY)
    frames, out = render(tmp_path, picture, duration=seconds)
    assert len(frames) == seconds * FPS
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and not container.streams.audio
        assert abs(float(stream.duration * stream.time_base) - seconds) < 0.1
    banner = frames[0][: 480 * 3 // 4 // 16]
    yellow = (np.abs(banner.astype(int) - BANNER_FG).max(axis=2) < 40).sum()
    assert yellow > 50  # the SIMULATED label


def test_sound_adds_an_audio_track(tmp_path: Path) -> None:
    picture = make_picture(tmp_path / "p.png", 640, 480, GREY)
    _, out = render(tmp_path, picture, sound=True, mode="pro")
    with av.open(str(out)) as container:
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        assert abs(float(container.duration) / av.time_base - 5) < 0.2


def test_a_large_picture_is_reduced_first(tmp_path: Path) -> None:
    picture = picture_with_square(tmp_path / "p.png", (3000, 2000), (1400, 900, 1600, 1100))
    frames, _ = render(tmp_path, picture, max_side=720, duration=5)
    assert frames[0].shape == (480, 720, 3)
