"""Member text shown back in Discord, made inert; the job marker that finds a result post again.

A prompt is quoted in the public result post. Typed as it was, a newline would end the quote,
markdown would format, `@everyone` and role mentions would be live (allowed mentions stop the
ping, not the look), and a right-to-left override would turn the rest of the line around.
`member_quote` keeps the words and drops the effects.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import discord

from bot.i18n import Text

# Kept although they are format characters: the zero-width joiner builds emoji sequences (👩‍💻).
_KEEP_FORMAT = {"\u200d"}
_SPACES = re.compile(r"\s+")


def _inert_char(char: str) -> str:
    if char.isspace():
        return " "  # a newline (or \u2028, \x85) would end the quote
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Co", "Cn"):
        return ""  # control, lone surrogate, private use, unassigned
    if category == "Cf" and char not in _KEEP_FORMAT:
        return ""  # bidi overrides and isolates, invisible marks, soft hyphen
    return char


def member_quote(text: str, limit: int = 300) -> str:
    """One line of inert text: no line breaks, controls or bidi overrides; markdown and mentions escaped."""
    plain = _SPACES.sub(" ", "".join(_inert_char(char) for char in text)).strip()
    if len(plain) > limit:
        plain = plain[: limit - 1].rstrip() + "…"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(plain))


def job_marker(job_id: str, locale: object | None = None) -> str:
    """The last line of a post about a job: tells members the job id, and a restart where the post is
    (the search looks for the id alone, so the language of the word around it does not matter)."""
    return "-# " + Text("job `{job_id}`", job_id=job_id).render(locale)


def mentions_only(user_id: int) -> discord.AllowedMentions:
    """A public post may ping its requester and no one else (no @everyone, roles or other users)."""
    return discord.AllowedMentions(users=[discord.Object(user_id)], roles=False, everyone=False, replied_user=False)


def carries_job(message: discord.Message, job_id: str) -> bool:
    """The post is about this job: its marker (`job_marker`) or a component's custom id names it."""
    if f"`{job_id}`" in message.content:
        return True
    for row in message.components:
        for component in getattr(row, "children", None) or [row]:
            if job_id in (getattr(component, "custom_id", None) or ""):
                return True
    return False


# How far back a re-post looks for its earlier self: the messages after the job was created
# (two pages of history; a result is posted minutes after its job was queued).
SEARCH_LIMIT = 200


async def find_earlier_post(
    channel: discord.abc.Messageable, job_id: str, author_id: int, since: float
) -> discord.Message | None:
    """The bot's earlier post about this job in the channel's recent history, if Discord has it.
    Discord's nonce only de-duplicates for a few minutes: after a longer outage this is what
    keeps a restarted bot from posting the same result twice."""
    after = discord.Object(discord.utils.time_snowflake(dt.datetime.fromtimestamp(since, dt.UTC)))
    async for message in channel.history(limit=SEARCH_LIMIT, after=after, oldest_first=True):
        if message.author.id == author_id and carries_job(message, job_id):
            return message
    return None
