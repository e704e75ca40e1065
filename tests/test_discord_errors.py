"""The one error handler (bot/discord_tree.py `report_error`), through the real tree and the stand-in.

Refusals and provider errors are answered privately in the member's language, by a new private
answer before the deferral and by editing the private "thinking…" answer after it. Anything
unexpected is logged with its traceback under a short error id that the member also sees; a
button's errors take the same road.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bot.errors import Outage
from bot.i18n import Text
from tests.discord_standin import StandIn
from tests.e2e_helpers import Media, bot_settings, jobs, ledger, running_bot
from tests.media_factory import make_video
from tests.test_e2e_discord import CHANNEL_MESSAGE, DEFERRED, EPHEMERAL, Lab, lab

assert lab  # the fixture, used by name
ERROR_ID = re.compile(r"\(error ([0-9a-f]{8})\)")


async def final_text(standin: StandIn, handle: Any) -> str:
    await standin.wait_until(lambda: handle.original and handle.original.content.startswith("❌"), 10, "the answer")
    assert handle.original.ephemeral
    return str(handle.original.content)


async def test_a_refusal_before_the_deferral_is_a_private_answer_in_the_members_language(
    standin: StandIn, media: Media, lab: Lab
) -> None:
    # /challenge start checks who may start one before it defers: a member without Manage Server
    # is refused at once (generation commands defer first, then ask the gate: see test_discord_gate).
    lab.alice.locale = "zh-CN"
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        options = {"video": media.options()["video"], "title": "Dance-off"}
        handle = await standin.invoke("challenge start", user=lab.alice, channel=lab.general, options=options)
        first = await handle.first_answer()
        assert first.callback_type == CHANNEL_MESSAGE and first.body["data"]["flags"] & EPHEMERAL
        text = await final_text(standin, handle)
    refusal = Text("Starting a challenge needs Manage Server or the role the admins chose (/challenge role).")
    assert text == "❌ " + refusal.render("zh-CN")
    assert re.search(r"[\u4e00-\u9fff]", text), text  # Chinese
    assert jobs(lab.data_dir) == []


async def test_a_refusal_after_the_deferral_edits_the_private_answer(
    standin: StandIn, media: Media, lab: Lab, tmp_path: Path
) -> None:
    options = media.options(video=make_video(tmp_path / "short.mp4", 360, 640, seconds=1.0, fps=10))
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=options)
        assert (await handle.first_answer()).callback_type == DEFERRED
        text = await final_text(standin, handle)
    assert "the minimum is 3 s" in text
    assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []


async def test_a_provider_error_is_answered_with_its_member_sentence(standin: StandIn, media: Media, lab: Lab) -> None:
    async def outage(*args: object, **kwargs: object) -> None:
        raise Outage("upstream 503 (request r-1)", request_id="r-1")

    async with running_bot(standin, bot_settings(standin, lab.data_dir)) as bot:
        bot.core.submit_motion = outage  # type: ignore[method-assign]
        handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options())
        text = await final_text(standin, handle)
    assert text == "❌ The video service is having an outage. Please try again later."
    assert "r-1" not in text and "503" not in text  # the provider's details are for admins


async def test_an_unexpected_error_shows_an_id_and_logs_the_traceback_under_it(
    standin: StandIn, media: Media, lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom in submit")

    caplog.set_level(logging.ERROR, logger="bot.discord_tree")
    async with running_bot(standin, bot_settings(standin, lab.data_dir)) as bot:
        bot.core.submit_motion = broken  # type: ignore[method-assign]
        handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options())
        text = await final_text(standin, handle)
    match = ERROR_ID.search(text)
    assert match is not None and "kaboom" not in text, text
    [record] = [r for r in caplog.records if match[1] in r.getMessage()]
    assert "/motion" in record.getMessage() and record.exc_info is not None
    assert "kaboom in submit" in caplog.text and "Traceback" in caplog.text


async def test_a_buttons_unexpected_error_takes_the_same_road(
    standin: StandIn, media: Media, lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.discord_tree")
    # A long job keeps its Cancel button for the whole test.
    settings = bot_settings(standin, lab.data_dir, simulator_delay_seconds=60)
    async with running_bot(standin, settings) as bot:
        handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options())
        await standin.wait_until(lambda: handle.original and handle.original.components, 30, "the Cancel button")

        async def broken(job_id: str, user_id: int) -> str:
            raise RuntimeError("kaboom in cancel")

        bot.core.engine.cancel = broken  # type: ignore[method-assign]
        [button] = [c["custom_id"] for row in handle.original.components for c in row["components"]]
        click = await standin.click(handle.original, button, user=lab.alice)
        answer = await click.first_answer()
    assert answer.callback_type == CHANNEL_MESSAGE and answer.body["data"]["flags"] & EPHEMERAL
    match = ERROR_ID.search(answer.body["data"]["content"])
    assert match is not None
    assert any(match[1] in r.getMessage() and r.exc_info for r in caplog.records)
    assert "kaboom in cancel" in caplog.text
