"""The one gate in front of every generation command and button.

The Discord side (the command tree's `interaction_check`) describes who is asking, where, and
with what text, as an `Asker`, and calls `Gate.check` before anything is downloaded or spent.
Rules are plain async functions added to the gate at start-up; each raises `Refusal` to say no
(the first refusal wins, in the order the rules were added). Today the gate has no rules of
its own: bans, channel rules, the age-restricted gate, role allowances and the word list plug
in here (the admin issue), so no command or button can forget them.

When rules run: for a slash command, right after its private "thinking..." (the tree defers
first, then asks the gate, so the first answer never waits on a rule's database reads under a
crowd; a refusal then replaces the "thinking...", still before anything is fetched or spent).
For a button, before its first answer (a button's first answer is its own: edit the message,
or a new private one), which is fine: buttons do not arrive in crowds of a thousand at once.
Rules may read the database (bans, channel rules, roles hold across processes that way).

This module is core: it never imports discord.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.errors import Refusal
from bot.i18n import Text
from bot.metrics import counted_refusals


@dataclass(frozen=True)
class Asker:
    """Who wants to generate something, where, and the text they typed (prompts), as the gate sees it."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    role_ids: tuple[int, ...] = ()
    channel_nsfw: bool = False
    # What the command or button is (e.g. "motion", "animate", "remix"): rules may treat them alike.
    action: str = ""
    # Member-typed text that will reach a provider or a channel (prompt, negative prompt, title).
    texts: tuple[str, ...] = ()
    # The member's Discord language (e.g. "zh-CN"), for rules that want to phrase things themselves.
    locale: str | None = None
    # Whether the bot may post the result where it will go (send messages and attach files there).
    bot_can_post: bool = True
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


Rule = Callable[[Asker], Awaitable[None]]


async def results_have_a_place(asker: Asker) -> None:
    """Results, remixes and entries are public: where the bot cannot post them, say so before
    anything is spent (a DM fallback exists for a channel that closes later, not for this)."""
    if not asker.bot_can_post:
        raise Refusal(
            Text(
                "I can't post videos in this channel: I need the Send Messages and Attach Files permissions "
                "here. Nothing was spent; ask a server admin, or try another channel."
            )
        )


class Gate:
    """An ordered list of rules; `check` runs them all and lets the first `Refusal` through.
    `Gate.standard()` starts with the rules every bot has (today: the bot can post the result)."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self._rules: list[Rule] = list(rules or [])

    @classmethod
    def standard(cls) -> Gate:
        return cls([results_have_a_place])

    def add(self, rule: Rule) -> None:
        self._rules.append(rule)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    async def check(self, asker: Asker) -> None:
        """Raise the first rule's `Refusal`; return when every rule lets the asker through."""
        # Owners see on /metrics why members are turned away (reason: a rule's label).
        with counted_refusals("gate"):
            for rule in self._rules:
                await rule(asker)


__all__ = ["Asker", "Gate", "Refusal", "Rule", "results_have_a_place"]
