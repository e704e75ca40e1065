"""No double post after a long outage (bot/discord_text.py `find_earlier_post`).

The bot process posts a result and is killed (SIGKILL) before it learns the post went through,
so the job is made but not recorded as delivered. The next start comes after Discord's nonce
window (the stand-in's clock moved past it), where the nonce no longer de-duplicates: the bot
finds its earlier post in the channel's history by the job marker, records that message, and
does not post again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.discord_standin import StandIn
from tests.discord_standin.rest import NONCE_WINDOW
from tests.e2e_helpers import (
    BotProcess,
    bot_env,
    bot_processes,
    jobs,
    ledger,
    make_media,
    results_for,
    wait_for_new_session,
)
from tests.test_e2e_discord import MESSAGES_ROUTE, RESULT_TIMEOUT, HeldPosts, Lab, lab

assert lab  # the fixture, used by name


async def start(standin: StandIn, process: BotProcess) -> None:
    known = {s.id for s in standin.gateway.sessions.values()}
    await process.start()
    await wait_for_new_session(standin, known)


async def test_a_result_posted_before_a_crash_is_found_not_posted_again_after_the_nonce_window(
    standin: StandIn, lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = make_media(tmp_path / "media")
    env = bot_env(standin, lab.data_dir)
    first, second = BotProcess(env, tmp_path / "run", name="first"), BotProcess(env, tmp_path / "run", name="second")
    hold = HeldPosts(standin)
    monkeypatch.setattr(standin, "create_message", hold)
    async with bot_processes(first, second):
        try:
            await start(standin, first)
            await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options(prompt="a dance"))
            await standin.wait_until(lambda: hold.held, RESULT_TIMEOUT, "the result post")
            assert await first.kill() == -9
            hold.released.set()
            [job] = jobs(lab.data_dir)
            assert job["state"] == "succeeded" and job["message_id"] is None  # posted, not recorded
            [posted] = hold.held

            standin.advance_clock(NONCE_WINDOW + 60)  # a long outage: Discord has forgotten the nonce
            await start(standin, second)
            await standin.wait_until(lambda: jobs(lab.data_dir)[0]["state"] == "delivered", RESULT_TIMEOUT, "delivered")
            await second.stop()
        finally:
            hold.released.set()

    [result] = results_for(standin, lab.general, lab.alice)
    [job] = jobs(lab.data_dir)
    assert result.id == posted.id == job["message_id"]  # the earlier post, found and recorded
    assert len([r for r in standin.requests_to(MESSAGES_ROUTE) if r.method == "POST"]) == 1
    assert standin.requests_to("GET /channels/{channel_id}/messages")  # it looked
    assert [(r["kind"], r["amount"]) for r in ledger(lab.data_dir)] == [("reserve", 3), ("commit", 3)]
