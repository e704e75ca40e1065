"""/animate end to end through the Discord stand-in: preview privately, then Make it or Cancel.

Our bot (MotionBot with the real cogs and core, the simulator provider) against
tests/discord_standin, as tests/test_e2e_discord.py does for /motion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.animate_factory import make_picture, save_brush
from tests.discord_standin import StandIn
from tests.discord_standin.interactions import Upload
from tests.e2e_helpers import bot_settings, jobs, ledger, results_for, running_bot
from tests.test_e2e_discord import (
    RESULT_TIMEOUT,
    Lab,
    assert_video,
    lab,
    wait_delivered,
)

assert lab  # the fixture, used by name

SIZE = (640, 480)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Upload]:
    picture = make_picture(tmp_path / "media" / "still.png", *SIZE, colour=(90, 120, 160))
    brush = save_brush(tmp_path / "media" / "brush.png", SIZE, {"black": [(0, 0, 100, 479)], "green": [(200, 200, 260, 260)]})
    return {
        "image": Upload(picture.read_bytes(), "still.png", "image/png", *SIZE),
        "brush": Upload(brush.read_bytes(), "brush.png", "image/png", *SIZE),
    }


def custom_ids(components: list[dict[str, Any]]) -> list[str]:
    return [button["custom_id"] for row in components for button in row.get("components", [])]


async def preview_of(standin: StandIn, lab: Lab, files: dict[str, Upload]) -> tuple[Any, str, str]:
    """Run /animate with a brush; return the private preview message and its two buttons' ids."""
    handle = await standin.invoke(
        "animate", user=lab.alice, channel=lab.general, options={**files, "paths": "green: 230,230 400,230", "prompt": "waves"}
    )
    await handle.wait_for("edit_original", lambda s: s.accepted and "Make it" in str(s.body), timeout=RESULT_TIMEOUT)
    message = handle.original
    assert message is not None and message.ephemeral
    make, drop = custom_ids(message.components)
    assert make.startswith("anim:make:") and drop.startswith("anim:drop:")
    return message, make, drop


async def test_animate_with_a_brush_previews_privately_then_make_it_posts_one_video(
    standin: StandIn, lab: Lab, files: dict[str, Upload]
) -> None:
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        message, make, _ = await preview_of(standin, lab, files)
        [picture] = message.attachments
        assert picture.filename == "preview.png" and picture.data.startswith(b"\x89PNG")
        assert "5 credits" in message.content
        assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []  # nothing queued or reserved yet
        click = await standin.click(message, make, user=lab.alice)
        answer = await click.first_answer()
        assert answer.accepted and "Queued" in str(answer.body), answer
        await wait_delivered(standin, lab.data_dir)
        results = results_for(standin, lab.general, lab.alice)

    [job] = jobs(lab.data_dir)
    assert job["kind"] == "animate" and job["state"] == "delivered"
    [result] = results
    assert [u.id for u in result.mentions] == [lab.alice.id] and not result.ephemeral
    assert_video(result.attachments[0].data)
    assert [(r["kind"], r["amount"]) for r in ledger(lab.data_dir)] == [("reserve", 5), ("commit", 5)]
    assert standin.unhandled == []


async def test_cancel_on_the_preview_reserves_nothing(standin: StandIn, lab: Lab, files: dict[str, Upload]) -> None:
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        message, _, drop = await preview_of(standin, lab, files)
        answer = await (await standin.click(message, drop, user=lab.alice)).first_answer()
        assert answer.accepted and "nothing was spent" in str(answer.body)
        assert standin.message(message).components == []  # the buttons are gone with the plan
    assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []
    assert not any((lab.data_dir / "jobs").glob("*/pending.json"))


async def test_make_it_still_works_after_a_restart(standin: StandIn, lab: Lab, files: dict[str, Upload]) -> None:
    settings = bot_settings(standin, lab.data_dir)
    async with running_bot(standin, settings):
        message, make, _ = await preview_of(standin, lab, files)
    async with running_bot(standin, settings):  # a new process: the plan waits in the job folder
        answer = await (await standin.click(message, make, user=lab.alice)).first_answer()
        assert answer.accepted and "Queued" in str(answer.body), answer
        await wait_delivered(standin, lab.data_dir)
        assert len(results_for(standin, lab.general, lab.alice)) == 1
    [job] = jobs(lab.data_dir)
    assert job["kind"] == "animate" and job["state"] == "delivered"


async def test_an_unanswered_preview_is_edited_to_say_it_expired(
    standin: StandIn, lab: Lab, files: dict[str, Upload], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.intake_animate as intake

    # the plan's life shortened to a few seconds past the margin; everything else as in production
    monkeypatch.setattr(intake, "PENDING_TTL_SECONDS", intake.EXPIRY_MARGIN_SECONDS + 3)
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        message, _, _ = await preview_of(standin, lab, files)
        await standin.wait_until(lambda: "expired" in standin.message(message).content, timeout=RESULT_TIMEOUT, what="expiry edit")
        edited = standin.message(message)
        assert edited.components == [] and edited.attachments == []
        assert "nothing was spent" in edited.content
    assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []
    assert not any((lab.data_dir / "jobs").glob("*/pending.json"))
    assert standin.unhandled == []
