"""Member text shown back in Discord, made inert; the job marker that finds a result post again.

A prompt is quoted in the public result post. Typed as it was, a newline would end the quote,
markdown would format, `@everyone` and role mentions would be live (allowed mentions stop the
ping, not the look), and a right-to-left override would turn the rest of the line around.
`member_quote` keeps the words and drops the effects.
"""

from __future__ import annotations

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
