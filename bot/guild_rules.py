"""A server's own rules on the generation gate: bans, channels, age-restricted only, a 0 role, the word list.

`install_guild_rules(core)` adds them to `core.gate` at start-up (CoreApp.open), in the order a
member is best told about them: a ban first (told in full once), then where (channel rules, the
age-restricted gate), then who (a role set to 0 credits), then what (the word list). Each says no
with `GateRefused` (a catalogue `Text` and a `reason`, counted on /metrics) before anything is
downloaded or spent.

Core: never imports discord.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.allowances import resolve_allowance
from bot.errors import Refusal
from bot.gate import Asker
from bot.i18n import Text

if TYPE_CHECKING:
    from bot.app import CoreApp


class GateRefused(Refusal):
    """A server rule says no; `text` renders in the member's language, `reason` labels /metrics."""

    def __init__(self, text: Text, reason: str) -> None:
        super().__init__(text)  # type: ignore[arg-type]  # Refusal.message: a Text renders per member
        self.text = text
        self.reason = reason


def install_guild_rules(core: CoreApp) -> None:
    store, quotas, admin = core.store, core.quotas, core.admin

    async def banned(asker: Asker) -> None:
        if asker.guild_id is None:
            return
        ban = await store.ban_of(asker.guild_id, asker.user_id)
        if ban is None or (ban.until is not None and ban.until <= time.time()):
            return
        if not await store.mark_ban_told(asker.guild_id, asker.user_id):
            raise GateRefused(Text("You may not make videos in this server."), "banned")
        why = Text("Reason: {reason}", reason=ban.reason) if ban.reason else ""
        if ban.until is None:
            text = Text("An admin has stopped you from making videos in this server. {why}", why=why)
        else:
            text = Text("An admin has stopped you from making videos in this server until <t:{until}:f>. {why}", until=int(ban.until), why=why)
        raise GateRefused(text, "banned")

    async def channel(asker: Asker) -> None:
        if asker.guild_id is None or asker.channel_id is None:
            return
        rules = await store.channel_rules(asker.guild_id)
        rule = rules.get(asker.channel_id)
        if rule == "deny" or (rule is None and "allow" in rules.values()):
            raise GateRefused(Text("Videos cannot be made in this channel. /admin channels list shows where they can."), "channel")

    async def nsfw_only(asker: Asker) -> None:
        if asker.guild_id is None or asker.channel_nsfw:
            return
        if (await store.guild_settings(asker.guild_id)).nsfw_only:
            raise GateRefused(Text("In this server videos can be made only in age-restricted channels."), "nsfw_only")

    async def role_blocked(asker: Asker) -> None:
        if asker.guild_id is None or not asker.role_ids:
            return
        allowance = resolve_allowance(
            asker.role_ids, await store.role_allowances(asker.guild_id), server_default=None, bot_default=quotas.user_daily
        )
        if allowance.blocked:
            raise GateRefused(Text("Your role {role} may not make videos in this server.", role=f"<@&{allowance.role_id}>"), "role_blocked")

    async def words(asker: Asker) -> None:
        if asker.guild_id is None or not asker.texts:
            return
        listed = await admin.word_list(asker.guild_id)
        for text in asker.texts:
            found = listed.find(text)
            if found is not None:
                raise GateRefused(
                    Text("Your prompt contains “{word}”, which this server does not allow. Change it and try again.", word=found),
                    "word",
                )

    for rule in (banned, channel, nsfw_only, role_blocked, words):
        core.gate.add(rule)
