"""The generation gate on the Discord side: /motion, /animate and the Make it button pass
`core.gate` (bot/gate.py) through the command tree and the button mixin (bot/discord_tree.py).

A rule added to the running bot's gate refuses one member: the refusal is private, nothing is
downloaded, queued or reserved. Other members, and commands that generate nothing, pass.
"""

from __future__ import annotations

from pathlib import Path

from bot.errors import Refusal
from bot.gate import Asker
from bot.i18n import Text
from tests.discord_standin import StandIn, Upload
from tests.e2e_helpers import Media, bot_settings, jobs, ledger, make_media, running_bot
from tests.test_e2e_animate import files, preview_of
from tests.test_e2e_discord import Lab, lab

assert lab and files  # the fixtures, used by name


def refuse(user_id: int, seen: list[Asker]) -> object:
    async def rule(asker: Asker) -> None:
        seen.append(asker)
        if asker.user_id == user_id:
            raise Refusal(Text("You are not allowed to use this command."))

    return rule


async def test_a_gate_rule_refuses_motion_privately_before_anything_is_fetched(
    standin: StandIn, lab: Lab, tmp_path: Path
) -> None:
    media: Media = make_media(tmp_path / "media")
    bob = standin.create_user("bob")
    await standin.add_member(lab.guild, bob)
    seen: list[Asker] = []
    async with running_bot(standin, bot_settings(standin, lab.data_dir)) as bot:
        bot.core.gate.add(refuse(lab.alice.id, seen))  # type: ignore[arg-type]
        handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options(prompt="a dance"))
        answer = await handle.first_answer()
        # Deferred privately at once (the gate's rules may read the database), then the refusal.
        assert answer.accepted and answer.callback_type == 5, answer
        await standin.wait_until(
            lambda: handle.original is not None and (handle.original.content or "").startswith("❌"), 30, "the refusal"
        )
        original = handle.original
        assert original is not None and original.ephemeral
        assert original.content == "❌ You are not allowed to use this command.", original.content
        assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []

        # /quota generates nothing: the gate is not asked.
        asked = len(seen)
        quota = await standin.invoke("quota", user=lab.alice, channel=lab.general)
        await quota.first_answer()
        assert len(seen) == asked and "credits" in (quota.original.content if quota.original else "")

        # Bob passes; the gate saw who, where and the typed text.
        ok = await standin.invoke("motion", user=bob, channel=lab.general, options=media.options(prompt="a dance"))
        first = await ok.first_answer()
        assert first.callback_type == 5, first
        await standin.wait_until(lambda: len(jobs(lab.data_dir)) == 1, 30, "bob's job")
    refused, passed = seen[0], seen[-1]
    assert refused.user_id == lab.alice.id and refused.action == "motion" and refused.texts == ("a dance",)
    assert refused.guild_id == lab.guild.id and refused.channel_id == lab.general.id and not refused.channel_nsfw
    assert passed.user_id == bob.id
    [job] = jobs(lab.data_dir)
    assert job["user_id"] == bob.id
    assert all(row["job_id"] == job["id"] for row in ledger(lab.data_dir))


async def test_a_gate_rule_refuses_the_make_it_button_and_nothing_is_reserved(
    standin: StandIn, lab: Lab, files: dict[str, Upload]
) -> None:
    seen: list[Asker] = []
    async with running_bot(standin, bot_settings(standin, lab.data_dir)) as bot:
        message, make, _ = await preview_of(standin, lab, files)
        bot.core.gate.add(refuse(lab.alice.id, seen))  # type: ignore[arg-type]  # e.g. banned since the preview
        click = await standin.click(message, make, user=lab.alice)
        answer = await click.first_answer()
        assert answer.accepted and answer.callback_type == 4, answer
        assert answer.body is not None and answer.body["data"]["flags"] & (1 << 6)  # private
        assert "not allowed" in answer.body["data"]["content"]
        assert standin.message(message).components  # the preview keeps its buttons
    assert [(a.action, a.user_id) for a in seen] == [("animate", lab.alice.id)]
    assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []
