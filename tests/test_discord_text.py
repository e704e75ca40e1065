"""Member text echoed back is inert (bot/discord_text.py), in the function and in a real result post."""

from __future__ import annotations

from bot.discord_text import member_quote
from tests.discord_standin import StandIn
from tests.e2e_helpers import Media, bot_settings, results_for, running_bot
from tests.test_e2e_discord import Lab, lab, wait_delivered

assert lab  # the fixture, used by name

HOSTILE = "a dance\n# HEADING\n> fake quote **bold** ||spoiler|| `code` @everyone @here <@&123456789012345678> \u202eevil\u2066x\u2069 \x07"


def test_member_quote_keeps_the_words_and_drops_the_effects() -> None:
    quoted = member_quote(HOSTILE)
    assert "\n" not in quoted and "\x07" not in quoted
    assert not any(char in quoted for char in "\u202e\u2066\u2069")
    assert "@everyone" not in quoted and "@here" not in quoted and "<@&123" not in quoted
    assert "@\u200beveryone" in quoted  # still readable
    assert "\\*\\*bold\\*\\*" in quoted and "\\|\\|spoiler\\|\\|" in quoted and "\\`code\\`" in quoted
    assert quoted.startswith("a dance # HEADING > fake quote")  # mid-line, # and > format nothing
    assert member_quote("# big\n-# small").startswith("\\# big")  # at the start of the line they would
    assert "evil" in quoted and "HEADING" in quoted


def test_member_quote_cuts_long_text_and_keeps_emoji_sequences() -> None:
    assert member_quote("x" * 500, limit=300) == "x" * 299 + "…"
    assert member_quote("👩\u200d💻 ok") == "👩\u200d💻 ok"
    assert member_quote("  many   \t spaces\r\n") == "many spaces"


async def test_a_hostile_prompt_is_posted_inert(standin: StandIn, media: Media, lab: Lab) -> None:
    bob = standin.create_user("bob")
    await standin.add_member(lab.guild, bob)
    prompt = HOSTILE + f" <@{bob.id}>"
    async with running_bot(standin, bot_settings(standin, lab.data_dir)):
        await standin.invoke("motion", user=lab.alice, channel=lab.general, options=media.options(prompt=prompt))
        await wait_delivered(standin, lab.data_dir)
        [result] = results_for(standin, lab.general, lab.alice)
    lines = result.content.split("\n")
    quote = [line for line in lines if line.startswith(">")]
    assert len(quote) == 1, lines  # the newline did not end the quote: one quoted line, nothing after it escaped
    assert lines[0] == f"<@{lab.alice.id}> your video is ready!"
    assert lines[-1].startswith("-# job `")
    assert len(lines) == 3  # mention, quote, marker: the prompt made no line of its own
    assert "# HEADING" not in lines[0] and not any(line.startswith("# ") for line in lines)
    assert "\u202e" not in result.content and "@everyone" not in result.content
    assert "**bold**" not in result.content and "\\*\\*bold\\*\\*" in quote[0]
    # Only the requester is pinged: not everyone, no role, not bob named in the prompt.
    assert [u.id for u in result.mentions] == [lab.alice.id]
    assert result.mention_everyone is False and result.mention_roles == []
    assert result.allowed_mentions is not None and result.allowed_mentions["parse"] == []
    assert [int(u) for u in result.allowed_mentions["users"]] == [lab.alice.id]
