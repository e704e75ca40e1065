"""`python -m bot animate …` as an operator runs it: exit codes 0 / 2 / 1, the preview, nothing spent on a refusal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import av
import pytest
from PIL import Image

from tests.animate_factory import make_picture, save_brush
from tests.test_cli import assert_decodable_mp4, clean_env, run_bot


def spent(tmp_path: Path) -> list[tuple[str, int]]:
    db = tmp_path / "data" / "bot.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT kind, amount FROM ledger").fetchall()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    return make_picture(tmp_path / "media" / "still.png", 640, 480, (90, 120, 160))


async def test_a_brushed_picture_becomes_a_video_and_a_preview(tmp_path: Path, picture: Path) -> None:
    brush = save_brush(tmp_path / "media" / "brush.png", (640, 480), {"black": [(0, 0, 100, 479)], "green": [(200, 200, 260, 260)]})
    out, preview = tmp_path / "out" / "anim.mp4", tmp_path / "out" / "preview.png"
    result = await run_bot(
        tmp_path, clean_env(tmp_path), "animate", "--image", str(picture), "--out", str(out),
        "--brush", str(brush), "--paths", "green: 230,230 400,230", "--preview", str(preview), "--duration", "5",
    )
    assert result.code == 0, result.out
    assert_decodable_mp4(out)
    with av.open(str(out)) as container:
        assert float(container.duration or 0) / av.time_base == pytest.approx(5.0, abs=0.5)
    with Image.open(preview) as shown:
        assert shown.format == "PNG" and shown.width >= 500
    assert "5 credits" in result.out  # kling-v1 std 5 s on the simulator
    kinds = [kind for kind, _ in spent(tmp_path)]
    assert kinds == ["reserve", "commit"]


async def test_exclusive_options_exit_2_with_nothing_spent(tmp_path: Path, picture: Path) -> None:
    end = make_picture(tmp_path / "media" / "end.png", 640, 480, (10, 10, 10))
    result = await run_bot(
        tmp_path, clean_env(tmp_path), "animate", "--image", str(picture), "--out", str(tmp_path / "o.mp4"),
        "--end-image", str(end), "--camera", "zoom in",
    )
    assert result.code == 2, result.out
    assert "refused:" in result.out and "only one of" in result.out
    assert spent(tmp_path) == []
    assert not (tmp_path / "o.mp4").exists()


async def test_a_path_without_its_area_exits_2(tmp_path: Path, picture: Path) -> None:
    brush = save_brush(tmp_path / "media" / "brush.png", (640, 480), {"green": [(200, 200, 260, 260)]})
    result = await run_bot(
        tmp_path, clean_env(tmp_path), "animate", "--image", str(picture), "--out", str(tmp_path / "o.mp4"),
        "--brush", str(brush), "--paths", "green: 230,230 400,230; purple: 10,10 20,20",
    )
    assert result.code == 2, result.out
    assert spent(tmp_path) == []
    jobs = tmp_path / "data" / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []  # the refused plan left no folder behind


async def test_a_provider_failure_exits_1_and_refunds(tmp_path: Path, picture: Path) -> None:
    result = await run_bot(
        tmp_path, clean_env(tmp_path), "animate", "--image", str(picture), "--out", str(tmp_path / "o.mp4"),
        "--prompt", "[simulate:outage]", "--camera", "zoom in",
    )
    assert result.code == 1, result.out
    assert sorted(kind for kind, _ in spent(tmp_path)) == ["refund", "reserve"]


async def test_kling_animates_local_files_without_public_url_and_goapi_is_refused(tmp_path: Path, picture: Path) -> None:
    """Kling takes the pictures as base64, so a terminal run needs no PUBLIC_URL; GoAPI fetches by URL only."""
    from tests.contract.case_kling import ACCESS_KEY, SECRET_KEY, make_emulator

    emulator = make_emulator(tmp_path / "emu")
    base = await emulator.start()
    try:
        env = clean_env(tmp_path, KLING_ACCESS_KEY=ACCESS_KEY, KLING_SECRET_KEY=SECRET_KEY, KLING_BASE_URL=base)
        result = await run_bot(
            tmp_path, env, "animate", "--provider", "kling", "--image", str(picture), "--out", str(tmp_path / "k.mp4"),
            "--camera", "zoom in", "--mode", "pro", "--model", "kling-v1-5",
        )
        assert result.code == 0, result.out
        [task] = emulator.tasks.values()
        assert task.endpoint == "image2video" and not task.body["image"].startswith("http")  # raw base64
        goapi = await run_bot(
            tmp_path, clean_env(tmp_path, GOAPI_API_KEY="k"), "animate", "--provider", "goapi", "--image", str(picture),
            "--out", str(tmp_path / "g.mp4"),
        )
        assert goapi.code == 2 and "fetches its inputs by URL" in goapi.out, goapi.out
    finally:
        await emulator.stop()
