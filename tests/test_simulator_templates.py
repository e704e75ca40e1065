"""bot/providers/simulator_templates.py: the simulator's own named motion clips."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from bot.media_video import check_video
from bot.providers import simulator_templates
from bot.providers.base import MotionTemplate
from bot.providers.simulator_templates import (
    UnknownTemplate,
    list_templates,
    template_clip,
    template_name,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DATA_DIR for the module: each clip is rendered once and then reused, as in the bot."""
    return tmp_path_factory.mktemp("data")


def sampled_frames(path: Path, every: int = 6) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for i, f in enumerate(container.decode(video=0)) if i % every == 0]


def test_there_are_a_few_named_templates() -> None:
    templates = list_templates()
    assert [t.name for t in templates] == ["Wave", "Spin", "Jump"]
    assert all(isinstance(t, MotionTemplate) and 3 <= (t.seconds or 0) <= 5 for t in templates)
    assert len({t.id for t in templates}) == len(templates)
    assert template_name("sim-wave").render("zh-CN") == "挥手"


@pytest.mark.parametrize("template", list_templates(), ids=lambda t: t.id)
def test_each_clip_is_a_reference_video_for_both_orientations(data_dir: Path, template: MotionTemplate) -> None:
    clip = template_clip(data_dir, template.id)
    assert clip.is_file() and clip.parent == data_dir / "simulator" / "templates"
    for orientation in ("video", "image"):
        info = check_video(clip, clip.name, orientation)
        assert info.seconds == pytest.approx(template.seconds) and info.codec == "h264"
    frames = sampled_frames(clip)
    # It moves: the figure is somewhere else a moment later, and the clip is not one still picture.
    changes = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert max(changes) > 1.0
    # The figure stays inside the frame: the top rows are background only.
    assert all(frame[:20].max() < 100 for frame in frames)


def test_the_templates_are_different_motions(data_dir: Path) -> None:
    clips = [sampled_frames(template_clip(data_dir, t.id)) for t in list_templates()]
    for i in range(len(clips)):
        for j in range(i + 1, len(clips)):
            assert np.abs(clips[i][4].astype(int) - clips[j][4].astype(int)).mean() > 1.0


def test_a_clip_is_made_once_then_reused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = template_clip(data_dir, "sim-spin")
    before = clip.stat().st_mtime_ns

    def must_not_render(*_: object) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(simulator_templates, "_render", must_not_render)
    assert template_clip(data_dir, "sim-spin") == clip and clip.stat().st_mtime_ns == before


def test_concurrent_first_uses_make_one_whole_file(tmp_path: Path) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(template_clip(tmp_path, "sim-jump"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 3
    folder = tmp_path / "simulator" / "templates"
    assert [p.name for p in folder.iterdir()] == [results[0].name]  # no partial file left behind
    check_video(results[0], results[0].name, "image")


def test_a_failed_render_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_template: object, dest: Path) -> None:
        dest.write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(simulator_templates, "_render", broken)
    with pytest.raises(OSError):
        template_clip(tmp_path, "sim-wave")
    assert list((tmp_path / "simulator" / "templates").iterdir()) == []


def test_an_unknown_template_is_a_refusal(tmp_path: Path) -> None:
    with pytest.raises(UnknownTemplate) as caught:
        template_clip(tmp_path, "moonwalk")
    assert str(caught.value) == "simulator has no motion template called moonwalk; pick one from the list."
    assert "moonwalk" in caught.value.text.render("zh-CN")
    assert not (tmp_path / "simulator").exists()
