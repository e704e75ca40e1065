"""The generation gate: rules run in order, the first refusal wins, no rule means open."""

from __future__ import annotations

import pytest

from bot.errors import Refusal
from bot.gate import Asker, Gate

ALICE = Asker(user_id=1, guild_id=10, channel_id=100, action="motion", texts=("a cat",))


async def test_an_empty_gate_lets_everyone_through() -> None:
    await Gate().check(ALICE)


async def test_the_first_refusal_wins_and_later_rules_do_not_run() -> None:
    seen: list[str] = []

    async def allow(asker: Asker) -> None:
        seen.append("allow")

    async def deny(asker: Asker) -> None:
        seen.append("deny")
        raise Refusal(f"no for {asker.user_id}")

    async def never(asker: Asker) -> None:
        seen.append("never")

    gate = Gate([allow, deny])
    gate.add(never)
    with pytest.raises(Refusal, match="no for 1"):
        await gate.check(ALICE)
    assert seen == ["allow", "deny"]
    assert len(gate.rules) == 3


async def test_the_standard_gate_refuses_where_the_bot_cannot_post_results() -> None:
    gate = Gate.standard()
    await gate.check(ALICE)  # the bot may post: through
    with pytest.raises(Refusal) as refused:
        await gate.check(Asker(user_id=1, guild_id=10, channel_id=100, action="motion", bot_can_post=False))
    assert "Attach Files" in str(refused.value.message)
